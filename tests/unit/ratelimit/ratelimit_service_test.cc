// RatelimitService over a real MemoryCounterStore and SQLite store, driven by a ManualClock: how
// many requests a window admits and when `reset` says the next one will be, costs, overrides and
// their precedence, all-or-nothing multi-limits, authorisation, and persistence across a restart.
#include "ratelimit/ratelimit_service.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "limiter/memory_counter_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "../storage/temp_dir.h"

namespace tollgate {
namespace {

// A multiple of every window below, so that windows start at kStart.
constexpr UnixMillis kStart = 1'700'000'000'000;

NamespaceAuthorizer AllowAll() {
  return [](const RatelimitNamespace&) -> Status { return {}; };
}

LimitRequest Request(std::string ns, std::string identifier, std::int64_t limit, std::int64_t duration_ms,
                     std::int64_t cost = 1, LimitAlgorithm algorithm = LimitAlgorithm::kSlidingWindow) {
  return LimitRequest{.ns = std::move(ns),
                      .identifier = std::move(identifier),
                      .limit = limit,
                      .duration_ms = duration_ms,
                      .cost = cost,
                      .algorithm = algorithm};
}

class RatelimitServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    auto service = RatelimitService::Create(*store_, counters_, clock_);
    ASSERT_TRUE(service.has_value()) << service.error().detail;
    service_ = std::move(*service);
  }

  // One request through Limit; fails the test (and returns a denial) if the call fails.
  LimitResult Limit(const LimitRequest& request) {
    auto results = service_->Limit(std::span(&request, 1), AllowAll());
    EXPECT_TRUE(results.has_value()) << results.error().detail;
    if (!results || results->size() != 1) return {};
    return results->front();
  }
  LimitResult Limit(std::string identifier, std::int64_t limit = 10, std::int64_t duration_ms = 1000,
                    std::int64_t cost = 1, LimitAlgorithm algorithm = LimitAlgorithm::kSlidingWindow) {
    return Limit(Request("api", std::move(identifier), limit, duration_ms, cost, algorithm));
  }

  RatelimitOverride SetOverride(std::string ns, std::string identifier, std::int64_t limit,
                                std::int64_t duration_ms) {
    auto stored = service_->SetOverride(
        SetOverrideParams{.ns = std::move(ns), .identifier = std::move(identifier), .limit = limit, .duration_ms = duration_ms},
        AllowAll());
    EXPECT_TRUE(stored.has_value()) << stored.error().detail;
    return stored.value_or(RatelimitOverride{});
  }

  ManualClock clock_{kStart};
  MemoryCounterStore counters_;
  std::unique_ptr<SqliteStore> store_;
  RatelimitServicePtr service_;
};

// ---- Windows, reset and cost ----

TEST_F(RatelimitServiceTest, AdmitsExactlyTheLimitThenDeniesUntilReset) {
  for (int i = 1; i <= 10; ++i) {
    const LimitResult result = Limit("user_1");
    ASSERT_TRUE(result.passed) << "request " << i;
    EXPECT_EQ(result.limit, 10);
    EXPECT_EQ(result.remaining, 10 - i);
    EXPECT_EQ(result.reset, kStart + 1000) << "an admitted request reports the end of its window";
    EXPECT_EQ(result.override_id, "");
  }
  const LimitResult denied = Limit("user_1");
  EXPECT_FALSE(denied.passed);
  EXPECT_EQ(denied.remaining, 0);
  // The sliding window still weighs the previous window's 10 at the start of the next one: the
  // 11th fits once 10·(1000 − e)/1000 + 1 <= 10, i.e. 100 ms into it.
  EXPECT_EQ(denied.reset, kStart + 1100);

  clock_.Set(denied.reset - 1);
  EXPECT_FALSE(Limit("user_1").passed) << "reset is never later than needed, nor earlier";
  clock_.Set(denied.reset);
  EXPECT_TRUE(Limit("user_1").passed);
  // Another identifier, and another namespace, have counters of their own.
  EXPECT_EQ(Limit("user_2").remaining, 9);
  EXPECT_EQ(Limit(Request("other", "user_1", 10, 1000)).remaining, 9);
}

TEST_F(RatelimitServiceTest, FixedWindowResetsAtTheWindowsEnd) {
  clock_.Set(kStart + 250);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Limit("u", 3, 1000, 1, LimitAlgorithm::kFixedWindow).passed);
  const LimitResult denied = Limit("u", 3, 1000, 1, LimitAlgorithm::kFixedWindow);
  EXPECT_FALSE(denied.passed);
  EXPECT_EQ(denied.reset, kStart + 1000);
  clock_.Set(kStart + 1000);
  const LimitResult next = Limit("u", 3, 1000, 1, LimitAlgorithm::kFixedWindow);
  EXPECT_TRUE(next.passed);
  EXPECT_EQ(next.remaining, 2);
}

TEST_F(RatelimitServiceTest, TokenBucketReportsWhenTheWholeLimitHasRefilled) {
  clock_.Set(kStart + 123);
  const LimitResult result = Limit("u", 5, 10'000, 1, LimitAlgorithm::kTokenBucket);
  EXPECT_TRUE(result.passed);
  EXPECT_EQ(result.remaining, 4);
  EXPECT_EQ(result.reset, kStart + 123 + 10'000);
}

TEST_F(RatelimitServiceTest, CostIsChargedAllOrNothingAndZeroOnlyAsks) {
  LimitResult result = Limit("u", 10, 1000, 3);
  EXPECT_TRUE(result.passed);
  EXPECT_EQ(result.remaining, 7);

  result = Limit("u", 10, 1000, 8);
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.remaining, 7) << "a denied request charges nothing";
  EXPECT_GT(result.reset, kStart);

  result = Limit("u", 10, 1000, 0);
  EXPECT_TRUE(result.passed);
  EXPECT_EQ(result.remaining, 7);

  // More than the limit can ever admit: denied, and reset is a real instant, not "never".
  result = Limit("u", 10, 1000, 11);
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.reset, kStart + 1000);

  result = Limit("u", 10, 1000, 7);
  EXPECT_TRUE(result.passed);
  EXPECT_EQ(result.remaining, 0);
}

TEST_F(RatelimitServiceTest, OneIdentifierCanBeLimitedOverSeveralWindowsInOneCall) {
  const std::vector<LimitRequest> requests = {Request("api", "u", 2, 1000), Request("api", "u", 3, 60'000)};
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(service_->Limit(requests, AllowAll()).value().at(0).passed);
  clock_.Set(kStart + 5000);  // the per-second window is fresh again; the per-minute one has 1 left
  auto results = service_->Limit(requests, AllowAll());
  ASSERT_OK(results);
  EXPECT_TRUE((*results)[0].passed);
  EXPECT_TRUE((*results)[1].passed);
  EXPECT_EQ((*results)[1].remaining, 0);
  clock_.Set(kStart + 10'000);
  results = service_->Limit(requests, AllowAll());
  ASSERT_OK(results);
  EXPECT_TRUE((*results)[0].passed);
  EXPECT_FALSE((*results)[1].passed);
}

// ---- Multi-limit ----

TEST_F(RatelimitServiceTest, MultiLimitWithOneDenialChargesNoneOfTheOthers) {
  ASSERT_TRUE(Limit(Request("login", "ip_1", 1, 60'000)).passed);  // ip_1 is now exhausted

  const std::vector<LimitRequest> requests = {Request("api", "user_1", 5, 1000), Request("login", "ip_1", 1, 60'000),
                                              Request("api", "team_1", 5, 1000)};
  auto results = service_->Limit(requests, AllowAll());
  ASSERT_OK(results);
  ASSERT_EQ(results->size(), 3u);
  EXPECT_TRUE((*results)[0].passed) << "each limit still says whether it alone would admit";
  EXPECT_FALSE((*results)[1].passed);
  EXPECT_TRUE((*results)[2].passed);
  EXPECT_EQ((*results)[0].remaining, 5) << "nothing was charged";
  EXPECT_EQ((*results)[2].remaining, 5);

  EXPECT_EQ(Limit("user_1", 5).remaining, 4);
  EXPECT_EQ(Limit("team_1", 5).remaining, 4);
}

TEST_F(RatelimitServiceTest, MultiLimitThatPassesChargesEveryLimit) {
  const std::vector<LimitRequest> requests = {Request("api", "a", 5, 1000, 2), Request("api", "b", 5, 1000, 3)};
  auto results = service_->Limit(requests, AllowAll());
  ASSERT_OK(results);
  EXPECT_TRUE((*results)[0].passed && (*results)[1].passed);
  EXPECT_EQ((*results)[0].remaining, 3);
  EXPECT_EQ((*results)[1].remaining, 2);
}

TEST_F(RatelimitServiceTest, TwoLimitsOnOneCounterInOneCallAreRefused) {
  const std::vector<LimitRequest> requests = {Request("api", "a", 5, 1000), Request("api", "b", 5, 1000),
                                              Request("api", "a", 9, 1000)};
  auto results = service_->Limit(requests, AllowAll());
  ASSERT_FALSE(results.has_value());
  EXPECT_EQ(results.error().code, ErrorCode::kInvalidInput);
  ASSERT_EQ(results.error().fields.size(), 1u);
  EXPECT_EQ(results.error().fields[0].location, "[2]");
  EXPECT_EQ(Limit("a", 5).remaining, 4) << "nothing was charged";
}

TEST_F(RatelimitServiceTest, OutOfBoundsRequestsAreRefusedWithTheirFields) {
  const std::vector<LimitRequest> requests = {Request("api", "", 0, 999, -1)};
  auto results = service_->Limit(requests, AllowAll());
  ASSERT_FALSE(results.has_value());
  EXPECT_EQ(results.error().code, ErrorCode::kInvalidInput);
  std::vector<std::string> locations;
  for (const FieldError& field : results.error().fields) locations.push_back(field.location);
  EXPECT_EQ(locations, (std::vector<std::string>{"[0].identifier", "[0].duration", "[0].cost"}));
  EXPECT_FALSE(service_->Limit(std::vector{Request("api", "u", std::int64_t{1} << 62, 2000)}, AllowAll()).has_value())
      << "limit × duration beyond the limiter's exact range";
  EXPECT_FALSE(service_->Limit(std::vector<LimitRequest>{}, AllowAll()).has_value());
}

// ---- Overrides ----

TEST_F(RatelimitServiceTest, ExactOverrideBeatsPatternsAndTheLongestPatternWins) {
  const RatelimitOverride any = SetOverride("api", "*", 2, 1000);
  const RatelimitOverride premium = SetOverride("api", "premium_*", 50, 1000);
  const RatelimitOverride premium_eu = SetOverride("api", "premium_eu_*", 70, 1000);
  const RatelimitOverride exact = SetOverride("api", "premium_eu_42", 90, 1000);

  EXPECT_EQ(Limit("premium_eu_42").override_id, exact.id);
  EXPECT_EQ(Limit("premium_eu_42").limit, 90);
  EXPECT_EQ(Limit("premium_eu_7").override_id, premium_eu.id);
  EXPECT_EQ(Limit("premium_eu_7").limit, 70);
  EXPECT_EQ(Limit("premium_us_7").override_id, premium.id);
  EXPECT_EQ(Limit("premium_us_7").limit, 50);
  EXPECT_EQ(Limit("free_1").override_id, any.id);
  EXPECT_EQ(Limit("free_1").limit, 2);
  // Another namespace is untouched by these.
  const LimitResult elsewhere = Limit(Request("other", "premium_eu_42", 10, 1000));
  EXPECT_EQ(elsewhere.override_id, "");
  EXPECT_EQ(elsewhere.limit, 10);
}

TEST_F(RatelimitServiceTest, OverrideReplacesLimitAndDurationAndItsDeletionRevertsAtOnce) {
  const RatelimitOverride row = SetOverride("api", "vip", 3, 60'000);
  EXPECT_TRUE(row.id.starts_with("rlor_")) << row.id;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Limit("vip", 1).passed);
  const LimitResult denied = Limit("vip", 1);
  EXPECT_FALSE(denied.passed);
  EXPECT_EQ(denied.limit, 3);
  EXPECT_EQ(denied.override_id, row.id);
  EXPECT_GT(denied.reset, kStart + 1000) << "the override's one-minute window applies";

  ASSERT_OK(service_->DeleteOverride("api", "vip", AllowAll()));
  const LimitResult reverted = Limit("vip", 1);
  EXPECT_TRUE(reverted.passed);
  EXPECT_EQ(reverted.limit, 1);
  EXPECT_EQ(reverted.override_id, "");
}

TEST_F(RatelimitServiceTest, OverrideOfLimitZeroBlocksWithoutChargingOthers) {
  const RatelimitOverride ban = SetOverride("api", "abuser_*", 0, 60'000);
  const LimitResult blocked = Limit("abuser_1");
  EXPECT_FALSE(blocked.passed);
  EXPECT_EQ(blocked.limit, 0);
  EXPECT_EQ(blocked.remaining, 0);
  EXPECT_EQ(blocked.reset, kStart + 60'000);
  EXPECT_EQ(blocked.override_id, ban.id);
  EXPECT_FALSE(Limit("abuser_1", 10, 1000, 0).passed) << "a ban denies even a request that only asks";

  auto results = service_->Limit(std::vector{Request("api", "user_1", 5, 1000), Request("api", "abuser_2", 5, 1000)},
                                 AllowAll());
  ASSERT_OK(results);
  EXPECT_TRUE((*results)[0].passed);
  EXPECT_FALSE((*results)[1].passed);
  EXPECT_EQ(Limit("user_1", 5).remaining, 4) << "the banned limit spared the other";
}

TEST_F(RatelimitServiceTest, SetOverrideUpsertsKeepingTheIdAndGetMatchesTheTextExactly) {
  const RatelimitOverride first = SetOverride("api", "team_*", 5, 1000);
  clock_.Advance(10);
  const RatelimitOverride second = SetOverride("api", "team_*", 7, 2000);
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(second.limit, 7);
  EXPECT_EQ(second.duration_ms, 2000);
  EXPECT_EQ(second.created_at, kStart);
  EXPECT_EQ(second.updated_at, kStart + 10);

  auto got = service_->GetOverride("api", "team_*", AllowAll());
  ASSERT_OK(got);
  EXPECT_EQ(got->id, first.id);
  EXPECT_EQ(got->limit, 7);
  auto by_match = service_->GetOverride("api", "team_1", AllowAll());
  ASSERT_FALSE(by_match.has_value()) << "getOverride takes the pattern, not an identifier it matches";
  EXPECT_EQ(by_match.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(service_->GetOverride("nowhere", "team_*", AllowAll()).error().code, ErrorCode::kNotFound);
}

TEST_F(RatelimitServiceTest, ListDeleteAndRecreateOverrides) {
  for (int i = 0; i < 5; ++i) SetOverride("api", "user_" + std::to_string(i), i, 1000);
  SetOverride("other", "user_0", 1, 1000);

  std::vector<std::string> seen;
  std::optional<std::string> cursor;
  int pages = 0;
  do {
    auto page = service_->ListOverrides("api", cursor, 2, AllowAll());
    ASSERT_OK(page);
    for (const RatelimitOverride& row : page->overrides) seen.push_back(row.identifier);
    cursor = page->next_cursor;
    ++pages;
  } while (cursor && pages < 10);
  EXPECT_EQ(pages, 3);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"user_0", "user_1", "user_2", "user_3", "user_4"}));

  const std::string old_id = service_->GetOverride("api", "user_3", AllowAll()).value().id;
  ASSERT_OK(service_->DeleteOverride("api", "user_3", AllowAll()));
  EXPECT_EQ(service_->GetOverride("api", "user_3", AllowAll()).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(service_->DeleteOverride("api", "user_3", AllowAll()).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(service_->ListOverrides("api", std::nullopt, 10, AllowAll()).value().overrides.size(), 4u);
  EXPECT_NE(SetOverride("api", "user_3", 9, 1000).id, old_id) << "a deleted override is not revived";
}

TEST_F(RatelimitServiceTest, OverrideBoundsAreChecked) {
  auto bad = service_->SetOverride(SetOverrideParams{.ns = "api", .identifier = "", .limit = -1, .duration_ms = 500},
                                   AllowAll());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(bad.error().fields.size(), 2u);  // identifier and duration (limit is judged against a valid duration)
  auto unnamed = service_->SetOverride(SetOverrideParams{.ns = "bad name", .identifier = "x", .limit = 1, .duration_ms = 1000},
                                       AllowAll());
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_EQ(unnamed.error().code, ErrorCode::kInvalidInput);
}

// ---- Namespaces and authorisation ----

TEST_F(RatelimitServiceTest, NamespacesAreCreatedOnFirstUseAndReachableByIdToo) {
  ASSERT_TRUE(Limit(Request("checkout", "u", 2, 1000)).passed);
  auto stored = store_->LoadAllRatelimitNamespaces();
  ASSERT_OK(stored);
  ASSERT_EQ(stored->size(), 1u);
  const RatelimitNamespace ns = stored->front();
  EXPECT_EQ(ns.name, "checkout");
  EXPECT_TRUE(ns.id.starts_with("rlns_")) << ns.id;
  EXPECT_EQ(ns.created_at, kStart);

  // By id: the same counter as by name.
  const LimitResult by_id = Limit(Request(ns.id, "u", 2, 1000));
  EXPECT_TRUE(by_id.passed);
  EXPECT_EQ(by_id.remaining, 0);
  const RatelimitOverride row = SetOverride(ns.id, "u", 100, 1000);
  EXPECT_EQ(Limit(Request("checkout", "u", 2, 1000)).override_id, row.id);

  // An id that names nothing is not taken for a new namespace's name.
  auto unknown = service_->Limit(std::vector{Request("rlns_doesNotExist", "u", 2, 1000)}, AllowAll());
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->LoadAllRatelimitNamespaces().value().size(), 1u);
}

TEST_F(RatelimitServiceTest, TheAuthorizerIsAskedBeforeAnythingIsCreatedOrCharged) {
  std::vector<RatelimitNamespace> asked;
  const NamespaceAuthorizer deny = [&asked](const RatelimitNamespace& ns) -> Status {
    asked.push_back(ns);
    return Fail(Error{ErrorCode::kForbidden, "no", {}});
  };
  const LimitRequest request = Request("secret", "u", 1, 1000);
  auto refused = service_->Limit(std::span(&request, 1), deny);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kForbidden);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].id, "") << "a namespace that does not exist yet is asked about by name";
  EXPECT_EQ(asked[0].name, "secret");
  EXPECT_TRUE(store_->LoadAllRatelimitNamespaces().value().empty()) << "nothing was created";
  EXPECT_EQ(service_->GetOverride("secret", "u", deny).error().code, ErrorCode::kForbidden)
      << "refused before saying whether the namespace exists";

  ASSERT_TRUE(Limit(request).passed);  // creates it and spends the only request
  asked.clear();
  EXPECT_EQ(service_->Limit(std::span(&request, 1), deny).error().code, ErrorCode::kForbidden);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_TRUE(asked[0].id.starts_with("rlns_")) << "an existing namespace is asked about with its id";
  EXPECT_EQ(service_->SetOverride(SetOverrideParams{.ns = "secret", .identifier = "u", .limit = 5, .duration_ms = 1000}, deny)
                .error()
                .code,
            ErrorCode::kForbidden);
  EXPECT_TRUE(store_->LoadAllRatelimitOverrides().value().empty());
  EXPECT_EQ(service_->DeleteOverride("secret", "u", deny).error().code, ErrorCode::kForbidden);
  EXPECT_EQ(service_->ListOverrides("secret", std::nullopt, 10, deny).error().code, ErrorCode::kForbidden);
}

TEST_F(RatelimitServiceTest, ACallRefusedForOneNamespaceCreatesNoneOfTheOthers) {
  const NamespaceAuthorizer only_public = [](const RatelimitNamespace& ns) -> Status {
    if (ns.name == "public") return {};
    return Fail(Error{ErrorCode::kForbidden, "not " + ns.name, {}});
  };
  const std::vector<LimitRequest> requests = {Request("public", "u", 5, 1000), Request("private", "u", 5, 1000)};
  auto refused = service_->Limit(requests, only_public);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kForbidden);
  EXPECT_TRUE(store_->LoadAllRatelimitNamespaces().value().empty());
  EXPECT_EQ(Limit(Request("public", "u", 5, 1000)).remaining, 4) << "nothing was charged either";
}

// ---- Persistence and concurrency ----

TEST(RatelimitServiceRestartTest, NamespacesAndOverridesSurviveARestart) {
  TempDir dir;
  const std::string path = (dir.Path() / "tollgate.db").string();
  ManualClock clock(kStart);
  std::string namespace_id;
  std::string override_id;
  {
    MemoryCounterStore counters;
    auto store = SqliteStore::Open(path);
    ASSERT_OK(store);
    auto service = RatelimitService::Create(**store, counters, clock);
    ASSERT_OK(service);
    auto stored = (*service)->SetOverride(
        SetOverrideParams{.ns = "api", .identifier = "gold_*", .limit = 1, .duration_ms = 60'000}, AllowAll());
    ASSERT_OK(stored);
    override_id = stored->id;
    ASSERT_OK((*service)->SetOverride(SetOverrideParams{.ns = "api", .identifier = "gone", .limit = 1, .duration_ms = 1000},
                                      AllowAll()));
    ASSERT_OK((*service)->DeleteOverride("api", "gone", AllowAll()));
    namespace_id = (*store)->LoadAllRatelimitNamespaces().value().at(0).id;
  }
  MemoryCounterStore counters;
  auto store = SqliteStore::Open(path);
  ASSERT_OK(store);
  auto service = RatelimitService::Create(**store, counters, clock);
  ASSERT_OK(service);
  const LimitRequest request = Request(namespace_id, "gold_1", 100, 1000);
  auto result = (*service)->Limit(std::span(&request, 1), AllowAll());
  ASSERT_OK(result);
  EXPECT_EQ(result->front().override_id, override_id);
  EXPECT_EQ(result->front().limit, 1);
  EXPECT_EQ((*service)->GetOverride("api", "gone", AllowAll()).error().code, ErrorCode::kNotFound);
}

// Another node over the same store (one that never used the namespace) applies
// ratelimit.override_* events by reloading the namespace's overrides.
TEST_F(RatelimitServiceTest, AnotherNodeAppliesOverrideChangesFromTheStore) {
  MemoryCounterStore other_counters;
  auto other = RatelimitService::Create(*store_, other_counters, clock_);
  ASSERT_OK(other);
  auto apply_events_after = [&](std::int64_t after) {
    auto events = store_->OutboxEventsAfter(after, 100);
    ASSERT_OK(events);
    for (const auto& entry : *events) {
      if (entry.event.type.starts_with("ratelimit.")) ASSERT_OK((*other)->ApplyOverrideEvent(entry.event));
    }
  };
  SetOverride("api", "vip", 100, 1000);
  apply_events_after(0);
  auto seen = (*other)->GetOverride("api", "vip", AllowAll());
  ASSERT_OK(seen);
  EXPECT_EQ(seen->limit, 100);

  auto before = store_->LatestOutboxSeq();
  ASSERT_OK(before);
  ASSERT_OK(service_->DeleteOverride("api", "vip", AllowAll()));
  apply_events_after(*before);
  auto gone = (*other)->GetOverride("api", "vip", AllowAll());
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST_F(RatelimitServiceTest, DecisionsRunWhileOverridesChange) {
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      int n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const LimitRequest request = Request("api", "user_" + std::to_string(t) + "_" + std::to_string(n++ % 50),
                                             1'000'000, 1000);
        auto result = service_->Limit(std::span(&request, 1), AllowAll());
        if (!result || (result->front().limit != 1'000'000 && result->front().limit != 5)) failures.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    SetOverride("api", "user_" + std::to_string(i % 2) + "_*", 5, 1000);
    ASSERT_OK(service_->DeleteOverride("api", "user_" + std::to_string(i % 2) + "_*", AllowAll()));
  }
  stop = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace tollgate
