// In-process cost of a whole verification, without HTTP: SHA-256 of the secret, the sharded
// cache lookup, the key's checks, the tier's quota, the rate-limit decision of the key's tier
// (in-memory counter store) and the quota accounting — exactly what keys.verifyKey runs — and what
// recording its usage event adds. Keys live in services over an in-memory SQLite store, which the
// verify path never touches.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <ostream>
#include <map>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "http/http_metrics.h"
#include "limiter/limiter_metrics.h"
#include "keys/key_service.h"
#include "limiter/memory_counter_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"
#include "usage/usage_recorder.h"
#include "verify/quota_tracker.h"
#include "verify/verification_metrics.h"
#include "verify/verifier.h"
#include "verify/verify_usage.h"

namespace tollgate {
namespace {

struct Fixture {
  std::unique_ptr<SqliteStore> store;
  SystemClock clock;
  std::unique_ptr<TierService> tiers;
  std::unique_ptr<KeyService> keys;
  MemoryCounterStore limiter;
  std::unique_ptr<QuotaTracker> quota;
  std::unique_ptr<Verifier> verifier;
  std::vector<std::string> secrets;

  explicit Fixture(int key_count) {
    store = std::move(*SqliteStore::Open(":memory:"));
    tiers = std::move(*TierService::Create(*store, clock));
    keys = std::move(*KeyService::Create(*store, clock, tiers.get()));
    quota = std::make_unique<QuotaTracker>(*store);
    verifier = std::make_unique<Verifier>(*keys, *tiers, limiter, *quota, clock);
    auto api = keys->CreateApi("bench-api");
    for (int i = 0; i < key_count; ++i) {
      CreateKeyParams params;
      params.api_id = api->id;
      params.prefix = "bench";
      // enterprise: 1,000 req/s and 50M per month, so the benchmark measures admitted verifies.
      params.tier = "enterprise";
      // Each key its own identity (the tier's rate is per identity), named by a UUID as many
      // identity providers name users: 36 bytes, longer than std::string's inline 15.
      char external_id[40];
      std::snprintf(external_id, sizeof external_id, "6f1c2a7e-9b3d-4c8a-a1f0-%012d", i);
      params.external_id = external_id;
      secrets.push_back(keys->CreateKey(params)->secret);
    }
  }
};

Fixture& Shared() {
  static Fixture fixture(10'000);
  return fixture;
}

void BM_Sha256OfKey(benchmark::State& state) {
  const std::string& secret = Shared().secrets[0];
  for (auto _ : state) benchmark::DoNotOptimize(Sha256Hex(secret));
}
BENCHMARK(BM_Sha256OfKey);

// Hash + lookup + the key's checks, no tier (the Unkey-style minimum).
void BM_KeyChecksOnly(benchmark::State& state) {
  Fixture& f = Shared();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    const std::string& secret = f.secrets[i++ % f.secrets.size()];
    benchmark::DoNotOptimize(f.keys->Verify(f.keys->FindForVerify(secret), {}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyChecksOnly)->Threads(1)->Threads(2)->UseRealTime();

// The whole verification: hash + lookup + checks + tier quota + rate-limit decision + accounting.
void BM_VerifyInProcess(benchmark::State& state) {
  Fixture& f = Shared();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  VerifyRequest request;
  for (auto _ : state) {
    const std::string& secret = f.secrets[i++ % f.secrets.size()];
    auto result = f.verifier->Verify(f.keys->FindForVerify(secret), request);
    if (!result || !result->outcome.valid()) state.SkipWithError("a bench key did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyInProcess)->Threads(1)->Threads(2)->UseRealTime();

// What Prometheus metrics add to one keys.verifyKey answer: the request's duration in its
// (route, status) histogram, the verification in its (code, tier) counter, and the limiter's
// decision, as the server, the verify route and the counter store record them.
void BM_MetricsPerVerification(benchmark::State& state) {
  static MetricsRegistry registry;
  static HttpMetrics http(registry);
  static VerificationMetrics verifications(registry);
  static LimiterMetrics limiter(registry);
  static LimiterDecisions decisions = limiter.ForBackend("memory");
  static const std::string route = "/v2/keys.verifyKey";
  static const Tier tier{.name = "enterprise"};
  VerifyResult result;
  result.outcome.code = VerifyCode::kValid;
  result.tier = &tier;
  const std::vector<LimitDecision> decided(1, LimitDecision{true, 10, 0});
  std::int64_t elapsed = 20'000;
  for (auto _ : state) {
    http.Observe(route, 200, std::chrono::nanoseconds(elapsed));
    verifications.Count(result);
    decisions.Decided(decided);
    elapsed = elapsed * 7 % 3'000'000 + 1'000;  // durations across the buckets
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsPerVerification)->Threads(1)->Threads(2)->UseRealTime();

// The recorder of the usage benches. Its store discards: these benches measure the hot path, not
// SQLite (which cannot take millions of events a second; the recorder would spill). The flusher
// still runs every 100 ms or 10k events per thread, decoding the threads' logs into UsageEvents
// and freeing them on its own thread as in production; on this 2-core machine it competes with
// the 2-thread runs for a core.
class DiscardingUsageStore final : public UsageStore {
 public:
  Status WriteUsage(std::span<const UsageEvent>) override { return {}; }
  Status PruneRawUsage(UnixMillis) override { return {}; }
};

UsageRecorder& SharedRecorder() {
  static DiscardingUsageStore store;
  static UsageRecorderPtr recorder = [] {
    UsageRecorderOptions options;
    options.spill_path = (std::filesystem::temp_directory_path() / "tollgate-bench-usage-spill.ndjson").string();
    return std::move(*UsageRecorder::Start(store, options));
  }();
  return *recorder;
}

// The tags a request names, as keys.verifyKey's body parser hands them over.
std::vector<std::string> RequestTags() { return {"path=/v1/chat/completions", "region=eu-west-1"}; }

// One verification as keys.verifyKey runs it after parsing the body (which made `tags`): the
// lookup, the prefetch of the key's ids, the verification, the clock read for the answer and,
// with `record`, its usage event built by the route's own VerifyUsage and recorded. False when the
// key did not verify.
bool VerifyAsTheRouteDoes(Fixture& f, UsageRecorder& recorder, const Clock& clock, const std::string& secret,
                          bool record) {
  const std::vector<std::string> tags = RequestTags();
  VerifyRequest request;
  CachedKeyPtr entry = f.keys->FindForVerify(secret);
  if (entry) PrefetchUsageIds(*entry);
  auto result = f.verifier->Verify(std::move(entry), request);
  const UnixMillis now = clock.NowMillis();
  if (!result || !result->outcome.valid()) return false;
  if (record) recorder.Record(VerifyUsage(*result, request.credit_cost, now, "verify", tags));
  benchmark::DoNotOptimize(now);
  return true;
}

template <bool record>
void VerifyLoop(benchmark::State& state) {
  Fixture& f = Shared();
  UsageRecorder& recorder = SharedRecorder();
  SystemClock clock;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    if (!VerifyAsTheRouteDoes(f, recorder, clock, f.secrets[i++ % f.secrets.size()], record)) {
      state.SkipWithError("a bench key did not verify");
    }
  }
  state.SetItemsProcessed(state.iterations());
}
// Throughput without and with recording (on 2 threads, the flusher's work shows here).
void BM_VerifyWithoutUsage(benchmark::State& state) { VerifyLoop<false>(state); }
void BM_VerifyWithUsage(benchmark::State& state) { VerifyLoop<true>(state); }
BENCHMARK(BM_VerifyWithoutUsage)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_VerifyWithUsage)->Threads(1)->Threads(2)->UseRealTime();

// What recording adds to a verification, robust to the noise of a shared machine: each iteration
// times a block of 64 verifications without recording and a block of 64 with it, in alternating
// order, so both see the same neighbours. Counters (per verification, averaged over threads):
// without_ns and with_ns, the mean block times; adds_ns, the median over iterations of the
// difference. A block takes ~100 µs, shorter than a scheduler slice, so a preemption spoils one
// difference rather than shifting the median.
void BM_RecordingCost(benchmark::State& state) {
  constexpr int kBlock = 64;
  Fixture& f = Shared();
  UsageRecorder& recorder = SharedRecorder();
  SystemClock clock;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  auto block_ns = [&](bool record) {
    const auto start = std::chrono::steady_clock::now();
    for (int n = 0; n < kBlock; ++n) {
      if (!VerifyAsTheRouteDoes(f, recorder, clock, f.secrets[i++ % f.secrets.size()], record)) {
        state.SkipWithError("a bench key did not verify");
      }
    }
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / kBlock;
  };
  std::vector<double> differences;
  double without_total = 0;
  double with_total = 0;
  bool record_first = false;
  for (auto _ : state) {
    record_first = !record_first;
    const double first = block_ns(record_first);
    const double second = block_ns(!record_first);
    const double with = record_first ? first : second;
    const double without = record_first ? second : first;
    differences.push_back(with - without);
    with_total += with;
    without_total += without;
  }
  if (differences.empty()) return;
  std::nth_element(differences.begin(), differences.begin() + differences.size() / 2, differences.end());
  const auto n = static_cast<double>(state.iterations());
  state.counters["without_ns"] = benchmark::Counter(without_total / n, benchmark::Counter::kAvgThreads);
  state.counters["with_ns"] = benchmark::Counter(with_total / n, benchmark::Counter::kAvgThreads);
  state.counters["adds_ns"] = benchmark::Counter(differences[differences.size() / 2], benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_RecordingCost)->Threads(1)->Threads(2)->UseRealTime();

// Record alone: the same verification's event, recorded again and again. Every 4096 events the
// timer pauses while this thread runs a flush cycle: unpaced, Record outruns the flusher's
// decoding several times over (no server verifies that fast) and the logs would grow unbounded.
void BM_RecordUsage(benchmark::State& state) {
  Fixture& f = Shared();
  UsageRecorder& recorder = SharedRecorder();
  VerifyRequest request;
  auto result = f.verifier->Verify(f.keys->FindForVerify(f.secrets[0]), request);
  if (!result) state.SkipWithError("the bench key did not verify");
  const std::vector<std::string> tags = RequestTags();
  const UsageEventView event = VerifyUsage(*result, request.credit_cost, SystemClock().NowMillis(), "verify", tags);
  std::size_t recorded = 0;
  for (auto _ : state) {
    recorder.Record(event);
    if (++recorded % 4096 == 0) {
      state.PauseTiming();
      (void)recorder.Flush();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordUsage)->Threads(1)->Threads(2)->UseRealTime();

// The console output, then what recording adds per thread count: the median over
// --benchmark_repetitions of BM_RecordingCost's counters, and of the real times of
// BM_VerifyWithoutUsage and BM_VerifyWithUsage (run them with --benchmark_enable_random_interleaving
// so that a noisy neighbour spreads over both).
class RecordingCostReporter final : public benchmark::ConsoleReporter {
 public:
  // Colours on a terminal only; counters inline (a table would repeat its header at every change
  // of benchmark, which random interleaving makes frequent).
  RecordingCostReporter() : ConsoleReporter(::isatty(STDOUT_FILENO) != 0 ? OO_Color : OO_None) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      // Each run, or with --benchmark_report_aggregates_only only the median of the runs.
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if ((run.run_type != Run::RT_Iteration && !median) || run.error_occurred) continue;
      Samples& samples = samples_[{run.run_name.function_name, run.threads}];
      samples.real_ns.push_back(run.GetAdjustedRealTime());
      for (const auto& [name, counter] : run.counters) samples.counters[name].push_back(counter.value);
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    for (const std::int64_t threads : {1, 2}) {
      const Samples* paired = Find("BM_RecordingCost", threads);
      if (paired == nullptr || !paired->counters.contains("adds_ns")) continue;
      std::ostream& out = GetOutputStream();
      out << std::fixed << std::setprecision(0) << "recording usage adds " << Median(paired->counters.at("adds_ns"))
          << " ns per verification on " << threads << (threads == 1 ? " thread (" : " threads (")
          << Median(paired->counters.at("without_ns")) << " -> " << Median(paired->counters.at("with_ns")) << " ns)";
      const Samples* without = Find("BM_VerifyWithoutUsage", threads);
      const Samples* with = Find("BM_VerifyWithUsage", threads);
      if (without != nullptr && with != nullptr) {
        out << "; throughput " << Median(without->real_ns) << " -> " << Median(with->real_ns) << " ns per verification";
      }
      out << "\n";
    }
  }

 private:
  struct Samples {
    std::vector<double> real_ns;
    std::map<std::string, std::vector<double>> counters;
  };

  const Samples* Find(const std::string& function, std::int64_t threads) const {
    const auto it = samples_.find({function, threads});
    return it == samples_.end() ? nullptr : &it->second;
  }
  static double Median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t mid = values.size() / 2;
    return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  }

  std::map<std::pair<std::string, std::int64_t>, Samples> samples_;
};

}  // namespace
}  // namespace tollgate

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tollgate::RecordingCostReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
