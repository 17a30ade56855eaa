// In-process cost of a whole verification, without HTTP: SHA-256 of the secret, the sharded
// cache lookup, the key's checks, the tier's quota, the rate-limit decision of the key's tier
// (in-memory counter store) and the quota accounting — exactly what keys.verifyKey runs. Keys
// live in services over an in-memory SQLite store, which the verify path never touches.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "events/inprocess/in_process_event_bus.h"
#include "keys/key_service.h"
#include "limiter/memory_counter_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"
#include "usage/usage_recorder.h"
#include "verify/quota_tracker.h"
#include "verify/verifier.h"

namespace tollgate {
namespace {

struct Fixture {
  std::unique_ptr<SqliteStore> store;
  SystemClock clock;
  InProcessEventBus events;
  std::unique_ptr<TierService> tiers;
  std::unique_ptr<KeyService> keys;
  MemoryCounterStore limiter;
  std::unique_ptr<QuotaTracker> quota;
  std::unique_ptr<Verifier> verifier;
  std::vector<std::string> secrets;

  explicit Fixture(int key_count) {
    store = std::move(*SqliteStore::Open(":memory:"));
    tiers = std::move(*TierService::Create(*store, events, clock));
    keys = std::move(*KeyService::Create(*store, events, clock, tiers.get()));
    quota = std::make_unique<QuotaTracker>(*store);
    verifier = std::make_unique<Verifier>(*keys, *tiers, limiter, *quota, clock);
    auto api = keys->CreateApi("bench-api");
    for (int i = 0; i < key_count; ++i) {
      CreateKeyParams params;
      params.api_id = api->id;
      params.prefix = "bench";
      // enterprise: 1,000 req/s and 50M per month, so the benchmark measures admitted verifies.
      params.tier = "enterprise";
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

// What recording adds to a verification: building the event from the verified key (copies of
// its ids, the code name, one tag moved in) and Record. The store discards: this measures the
// hot path, not SQLite (which cannot take 10M events/s; the recorder would spill), and the
// flusher still runs, swapping buffers and freeing events on its own thread as in production.
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

UsageEvent TypicalUsageEvent(UnixMillis now) {
  static const std::string api_id = "api_4f8QZk3rT9wJm2Xb";
  static const std::string key_id = "key_7Hq2LmN9pR4sTv6WxYz";
  static const std::string external_id = "customer_1234";
  UsageEvent event;
  event.at = now;
  event.api_id = api_id;  // copied: the verify route copies them out of the shared cached key
  event.key_id = key_id;
  event.external_id = external_id;
  event.code = "VALID";
  event.credits_spent = 1;
  event.tags.push_back("path=/v1/chat");
  event.source = "verify";
  return event;
}

// Record alone: events are built ahead, 4096 at a time, outside the timed region.
void BM_RecordUsage(benchmark::State& state) {
  UsageRecorder& recorder = SharedRecorder();
  SystemClock clock;
  std::vector<UsageEvent> ready;
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == ready.size()) {
      state.PauseTiming();
      ready.clear();
      for (int i = 0; i < 4096; ++i) ready.push_back(TypicalUsageEvent(clock.NowMillis()));
      next = 0;
      state.ResumeTiming();
    }
    recorder.Record(std::move(ready[next++]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordUsage)->Threads(1)->Threads(2)->UseRealTime();

// All that recording adds to a verification: building the event (3 string copies, a tag) + Record.
void BM_BuildAndRecordUsage(benchmark::State& state) {
  UsageRecorder& recorder = SharedRecorder();
  SystemClock clock;
  for (auto _ : state) recorder.Record(TypicalUsageEvent(clock.NowMillis()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildAndRecordUsage)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace tollgate

BENCHMARK_MAIN();
