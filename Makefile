# The two commands: `make run` and `make test`. Everything else is a step of those.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2

.PHONY: deps configure build run test unit integration bench clean fuzz fuzz-build fuzz-test \
  test-asan test-tsan asan-build tsan-build

deps:
	@scripts/deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Serves on 127.0.0.1:8080 with the embedded store under ./data.
run: build
	@mkdir -p data
	$(BUILD_DIR)/src/app/tollgate serve $(ARGS)

# `make test` runs every test under the sanitizers (tests/sanitizers/): the unit tests, the fuzz
# targets' seed corpora and the integration tests against an AddressSanitizer +
# UndefinedBehaviorSanitizer build, then the unit tests of the concurrent parts against a
# ThreadSanitizer build. Any report fails the run. The sanitizer builds are unity builds at -O0
# (line tables in the ThreadSanitizer one only: UBSan's reports carry their file and line anyway),
# which is what keeps `make test` within its time on two cores; `make run` and `make bench` use the optimised build in $(BUILD_DIR), and
# `make unit` / `make integration` run the tests against it.
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
SANITIZER_CONFIG = -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON -DTOLLGATE_BUILD_BENCH=OFF

test: test-asan test-tsan

asan-build: deps
	@cmake -S . -B $(ASAN_DIR) $(SANITIZER_CONFIG) -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0" \
	  -DTOLLGATE_SANITIZE=address,undefined -DTOLLGATE_FUZZ_REPLAY=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)

test-asan: asan-build
	@cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS)

tsan-build: deps
	@cmake -S . -B $(TSAN_DIR) $(SANITIZER_CONFIG) -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1" \
	  -DTOLLGATE_SANITIZE=thread -DTOLLGATE_BUILD_DASHBOARD=OFF >/dev/null
	@cmake --build $(TSAN_DIR) -j $(JOBS) --target concurrent_unit_tests

# The limiter's algorithms are single-threaded state machines: their property tests run under
# ASan+UBSan, not again here, where they would take minutes and find no race.
TSAN_SKIP = ^(SlidingWindow|TokenBucket|FixedWindow|Gcra|CounterFingerprint|LimitParams|ShardRing)Test\.

test-tsan: tsan-build
	@cd $(TSAN_DIR) && ctest --output-on-failure -j $(JOBS) -L unit -E '$(TSAN_SKIP)'

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L integration

bench: build
	@bench/run.sh $(BUILD_DIR)

# libFuzzer targets (fuzz/): a clang build of their own in $(FUZZ_DIR), only the libraries they
# need. `make fuzz` replays each seed corpus and fuzzes each target for FUZZ_SECONDS; new inputs
# and crash files stay under $(FUZZ_DIR)/fuzz/work/. `make fuzz-test` is the short run (CTest label
# fuzz: every seed, then 10 s per target).
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = fuzz_http_request fuzz_http_wire fuzz_permission_query fuzz_key_parsing fuzz_config

fuzz-build:
	@scripts/deps.sh fuzz
	@cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DTOLLGATE_FUZZ=ON \
	  -DTOLLGATE_BUILD_TESTS=OFF -DTOLLGATE_BUILD_BENCH=OFF -DTOLLGATE_BUILD_DASHBOARD=OFF >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz

fuzz: fuzz-build
	@for target in $(FUZZ_TARGETS); do \
	  fuzz/run_fuzzer.sh $(FUZZ_DIR)/fuzz/$$target fuzz/corpus/$$target $(FUZZ_DIR)/fuzz/work/$$target $(FUZZ_SECONDS) \
	    || exit 1; \
	done

fuzz-test: fuzz-build
	@cd $(FUZZ_DIR) && ctest --output-on-failure -j $(JOBS) -L fuzz

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
