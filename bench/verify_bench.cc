// In-process cost of the verification path, without HTTP: SHA-256 of the secret, the sharded
// cache lookup, and the checks of KeyService::Verify. Keys live in a KeyService over an
// in-memory SQLite store (which the verify path never touches).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "common/crypto.h"
#include "events/inprocess/in_process_event_bus.h"
#include "keys/key_service.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

struct Fixture {
  std::unique_ptr<SqliteStore> store;
  SystemClock clock;
  InProcessEventBus events;
  std::unique_ptr<KeyService> keys;
  std::vector<std::string> secrets;

  explicit Fixture(int key_count) {
    store = std::move(*SqliteStore::Open(":memory:"));
    keys = std::move(*KeyService::Create(*store, events, clock));
    auto api = keys->CreateApi("bench-api");
    for (int i = 0; i < key_count; ++i) {
      CreateKeyParams params;
      params.api_id = api->id;
      params.prefix = "bench";
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

void BM_VerifyInProcess(benchmark::State& state) {
  Fixture& f = Shared();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  VerifyParams params;
  for (auto _ : state) {
    const std::string& secret = f.secrets[i++ % f.secrets.size()];
    VerifyOutcome outcome = f.keys->Verify(f.keys->FindForVerify(secret), params);
    if (!outcome.valid()) state.SkipWithError("a bench key did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyInProcess)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace tollgate

BENCHMARK_MAIN();
