// Cost of a limiter decision in the in-process store: one CheckAndCharge with one check over
// 1k, 100k and 1M live counters (random access, so the large tables miss the caches), on one
// and two threads; a three-limit call; and the parts (fingerprint, bare state machine). Each
// store fixture also reports its memory per counter twice: as the store computes it and as
// malloc saw it (mallinfo2 before and after filling the store).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "limiter/memory_counter_store.h"

namespace tollgate {
namespace {

constexpr UnixMillis kNow = 1'700'000'040'000;  // frozen: nothing expires during a run
constexpr std::int64_t kLimit = 1'000'000'000;  // per minute: every decision admits and writes
constexpr std::int64_t kWindowMs = 60'000;

// "k:key_<16 hex digits>:rps": 26-byte keys shaped like a key id plus a limit name,
// written in place so the loop allocates nothing.
class KeyWriter {
 public:
  KeyWriter(const std::string& prefix, const std::string& suffix)
      : key_(prefix + std::string(16, '0') + suffix), digits_at_(prefix.size()) {}
  const std::string& For(std::uint64_t i) {
    static constexpr char kHex[] = "0123456789abcdef";
    i *= 0x9e3779b97f4a7c15ULL;  // spread, so neighbouring ids do not share prefixes
    for (std::size_t d = 0; d < 16; ++d) key_[digits_at_ + d] = kHex[(i >> (4 * d)) & 0xf];
    return key_;
  }

 private:
  std::string key_;
  std::size_t digits_at_;
};

std::size_t HeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;  // in use in arenas + mmapped chunks
}

struct StoreFixture {
  std::unique_ptr<MemoryCounterStore> store;
  std::size_t keys = 0;
  double malloc_bytes_per_entry = 0;

  // `limits_per_key` counters per key: suffixes :rps, :rpm, :rpd.
  StoreFixture(std::size_t key_count, int limits_per_key) : keys(key_count) {
    // OpenSSL sets up its random generator on first use; keep that out of the measurement.
    MemoryCounterStore warm_up;
    const std::size_t before = HeapBytes();
    store = std::make_unique<MemoryCounterStore>(MemoryCounterStoreOptions{.max_entries = 1 << 23});
    const char* suffixes[] = {":rps", ":rpm", ":rpd"};
    for (int l = 0; l < limits_per_key; ++l) {
      KeyWriter writer("k:key_", suffixes[l]);
      LimitCheck check{"", LimitAlgorithm::kSlidingWindow, kLimit, kWindowMs, 1};
      for (std::size_t i = 0; i < key_count; ++i) {
        check.counter_key = writer.For(i);
        store->CheckAndCharge(std::span(&check, 1), kNow, [](Result<std::vector<LimitDecision>>) {});
      }
    }
    const std::size_t grown = HeapBytes() - before;
    malloc_bytes_per_entry = static_cast<double>(grown) / static_cast<double>(store->entry_count());
  }
};

StoreFixture& SingleLimitStore(std::size_t keys) {
  // One store per size, built on first use (thread-safe static initialisation).
  static StoreFixture k1(1'000, 1);
  if (keys == 1'000) return k1;
  static StoreFixture k100(100'000, 1);
  if (keys == 100'000) return k100;
  static StoreFixture m1(1'000'000, 1);
  return m1;
}

StoreFixture& ThreeLimitStore() {
  static StoreFixture fixture(1'000'000, 3);
  return fixture;
}

void ReportMemory(benchmark::State& state, const StoreFixture& fixture) {
  // Averaged, not summed, over threads: every thread reports the same store.
  const auto average = [](double value) { return benchmark::Counter(value, benchmark::Counter::kAvgThreads); };
  state.counters["entries"] = average(static_cast<double>(fixture.store->entry_count()));
  state.counters["bytes_per_entry"] = average(fixture.malloc_bytes_per_entry);
  state.counters["bytes_per_entry_computed"] = average(fixture.store->bytes_per_entry());
}

std::uint64_t NextRandom(std::uint64_t& x) {  // xorshift64
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

void BM_Decision(benchmark::State& state) {
  StoreFixture& fixture = SingleLimitStore(static_cast<std::size_t>(state.range(0)));
  KeyWriter writer("k:key_", ":rps");
  LimitCheck check{"", LimitAlgorithm::kSlidingWindow, kLimit, kWindowMs, 1};
  std::uint64_t rng = 0x1234567 + static_cast<std::uint64_t>(state.thread_index()) * 7919;
  std::int64_t admitted = 0;
  for (auto _ : state) {
    check.counter_key = writer.For(NextRandom(rng) % fixture.keys);
    fixture.store->CheckAndCharge(std::span(&check, 1), kNow,
                                  [&admitted](Result<std::vector<LimitDecision>> r) {
                                    admitted += r.has_value() && (*r)[0].allowed ? 1 : 0;
                                  });
  }
  if (admitted != static_cast<std::int64_t>(state.iterations())) state.SkipWithError("a decision denied");
  state.SetItemsProcessed(state.iterations());
  ReportMemory(state, fixture);
}
BENCHMARK(BM_Decision)
    ->ArgName("keys")
    ->Arg(1'000)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

void BM_ThreeLimitDecision(benchmark::State& state) {
  StoreFixture& fixture = ThreeLimitStore();
  KeyWriter rps("k:key_", ":rps"), rpm("k:key_", ":rpm"), rpd("k:key_", ":rpd");
  std::vector<LimitCheck> checks = {{"", LimitAlgorithm::kSlidingWindow, kLimit, kWindowMs, 1},
                                    {"", LimitAlgorithm::kSlidingWindow, kLimit, kWindowMs, 1},
                                    {"", LimitAlgorithm::kSlidingWindow, kLimit, kWindowMs, 1}};
  std::uint64_t rng = 0x7654321 + static_cast<std::uint64_t>(state.thread_index()) * 7919;
  std::int64_t admitted = 0;
  for (auto _ : state) {
    const std::uint64_t i = NextRandom(rng) % fixture.keys;
    checks[0].counter_key = rps.For(i);
    checks[1].counter_key = rpm.For(i);
    checks[2].counter_key = rpd.For(i);
    fixture.store->CheckAndCharge(checks, kNow, [&admitted](Result<std::vector<LimitDecision>> r) {
      admitted += r.has_value() && (*r)[0].allowed ? 1 : 0;
    });
  }
  if (admitted != static_cast<std::int64_t>(state.iterations())) state.SkipWithError("a decision denied");
  state.SetItemsProcessed(state.iterations());
  ReportMemory(state, fixture);
}
BENCHMARK(BM_ThreeLimitDecision)->Threads(1)->Threads(2)->UseRealTime();

// The parts of one decision.
void BM_Fingerprint(benchmark::State& state) {
  const CounterFingerprinter fingerprinter = CounterFingerprinter::WithRandomKey();
  KeyWriter writer("k:key_", ":rps");
  std::uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(fingerprinter.Of(writer.For(i++)));
}
BENCHMARK(BM_Fingerprint);

void BM_SlidingWindowStateMachine(benchmark::State& state) {
  SlidingWindow::State counter;
  UnixMillis now = kNow;
  for (auto _ : state) {
    benchmark::DoNotOptimize(SlidingWindow::Decide(counter, {kLimit, kWindowMs, 1}, now++));
  }
}
BENCHMARK(BM_SlidingWindowStateMachine);

void BM_GcraStateMachine(benchmark::State& state) {
  Gcra::State counter;
  UnixMillis now = kNow;
  for (auto _ : state) benchmark::DoNotOptimize(Gcra::Decide(counter, {1000, 1000, 1}, now++));
}
BENCHMARK(BM_GcraStateMachine);

}  // namespace
}  // namespace tollgate

BENCHMARK_MAIN();
