// TierService over a real (in-memory or file) SQLite store and a ManualClock: seeding of the
// built-in tiers, validation, the config overlay, deletion rules, and the snapshots verifies read.
#include "tiers/tier_service.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "events/inprocess/in_process_event_bus.h"
#include "events/outbox_relay.h"
#include "storage/sqlite/sqlite_store.h"
#include "../storage/temp_dir.h"

namespace tollgate {
namespace {

constexpr UnixMillis kStart = 1'700'000'000'000;

RateLimitConfig Limit(std::string name, std::int64_t limit, std::int64_t duration_ms) {
  return RateLimitConfig{.id = "", .name = std::move(name), .limit = limit, .duration_ms = duration_ms,
                         .auto_apply = false, .algorithm = RateLimitAlgorithm::kSlidingWindow};
}

Tier Custom(std::string name) {
  Tier tier;
  tier.name = std::move(name);
  tier.ratelimits = {Limit("requests", 5, 1'000)};
  tier.included_quota = 1'000;
  return tier;
}

std::vector<std::string> Locations(const Error& error) {
  std::vector<std::string> locations;
  for (const FieldError& field : error.fields) locations.push_back(field.location);
  return locations;
}

bool Names(const Error& error, const std::string& location) {
  const auto locations = Locations(error);
  return std::find(locations.begin(), locations.end(), location) != locations.end();
}

class TierServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    auto tiers = TierService::Create(*store_, clock_);
    ASSERT_TRUE(tiers.has_value()) << tiers.error().detail;
    tiers_ = std::move(*tiers);
    RelayEvents();  // the built-in tiers' tier.created, before anyone listens
    events_.Subscribe("tier.*", [this](const Event& event) { published_.push_back(event.type); });
  }

  // Expects `result` to fail with InvalidInput naming `location`.
  template <typename T>
  void ExpectInvalid(const Result<T>& result, const std::string& location) {
    ASSERT_FALSE(result.has_value()) << "expected a problem at " << location;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidInput) << result.error().detail;
    EXPECT_TRUE(Names(result.error(), location))
        << "locations: " << ::testing::PrintToString(Locations(result.error()));
  }

  ManualClock clock_{kStart};
  // Publishes what the store wrote into the outbox to events_, as the server's relay does.
  void RelayEvents() {
    OutboxRelay relay(*store_, events_, clock_, {});
    for (;;) {
      auto relayed = relay.RunOnce();
      ASSERT_OK(relayed);
      if (*relayed == 0) return;
    }
  }

  InProcessEventBus events_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<TierService> tiers_;
  std::vector<std::string> published_;
};

// ---- Built-in tiers ----

TEST_F(TierServiceTest, BuiltinTiersHaveTheDocumentedDefaults) {
  const auto free = tiers_->GetTier("free");
  ASSERT_OK(free);
  ASSERT_EQ(free->ratelimits.size(), 1u);
  EXPECT_EQ(free->ratelimits[0].limit, 10);
  EXPECT_EQ(free->ratelimits[0].duration_ms, 1'000);
  EXPECT_EQ(free->included_quota, 10'000);
  EXPECT_EQ(free->overage_policy, OveragePolicy::kBlock);
  EXPECT_TRUE(free->builtin);

  const auto pro = tiers_->GetTier("pro");
  ASSERT_OK(pro);
  EXPECT_EQ(pro->ratelimits.at(0).limit, 100);
  EXPECT_EQ(pro->included_quota, 1'000'000);
  EXPECT_EQ(pro->overage_policy, OveragePolicy::kAllow);

  const auto enterprise = tiers_->GetTier("enterprise");
  ASSERT_OK(enterprise);
  EXPECT_EQ(enterprise->ratelimits.at(0).limit, 1'000);
  EXPECT_EQ(enterprise->included_quota, 50'000'000);
  EXPECT_EQ(enterprise->overage_policy, OveragePolicy::kAllow);

  for (const Tier& tier : tiers_->ListTiers()) {
    EXPECT_EQ(tier.pricing.currency, "USD") << tier.name;
    EXPECT_EQ(tier.created_at, kStart) << tier.name;
    for (const auto& limit : tier.ratelimits) EXPECT_TRUE(limit.auto_apply) << tier.name;
  }
}

TEST_F(TierServiceTest, BuiltinsAreSeededIntoTheStoreOnceAndChangesSurviveARestart) {
  auto stored = store_->ListTiers();
  ASSERT_OK(stored);
  ASSERT_EQ(stored->size(), 3u);
  EXPECT_EQ((*stored)[0].name, "enterprise");
  EXPECT_EQ((*stored)[1].name, "free");
  EXPECT_EQ((*stored)[2].name, "pro");

  clock_.Advance(1'000);
  UpdateTierParams update;
  update.name = "pro";
  update.ratelimits = std::vector{Limit("requests", 250, 1'000)};
  ASSERT_OK(tiers_->UpdateTier(update));

  auto restarted = TierService::Create(*store_, clock_);
  ASSERT_OK(restarted);
  const auto pro = (*restarted)->GetTier("pro");
  ASSERT_OK(pro);
  EXPECT_EQ(pro->ratelimits.at(0).limit, 250);  // not reset to the default
  EXPECT_EQ(pro->updated_at, kStart + 1'000);
  EXPECT_EQ((*restarted)->ListTiers().size(), 3u);
}

TEST_F(TierServiceTest, BuiltinTiersCanBeChangedButNotDeleted) {
  auto deleted = tiers_->DeleteTier("free");
  ASSERT_FALSE(deleted.has_value());
  EXPECT_EQ(deleted.error().code, ErrorCode::kConflict);
  EXPECT_NE(deleted.error().detail.find("built-in"), std::string::npos) << deleted.error().detail;
  EXPECT_TRUE(tiers_->Contains("free"));
}

// ---- Custom tiers: create, read, update ----

TEST_F(TierServiceTest, CreatedTierIsStoredServedAndNeverBuiltin) {
  Tier tier = Custom("gold");
  tier.builtin = true;  // not the caller's to decide
  tier.ratelimits[0].id = "rl_ignored";
  tier.ratelimits[0].algorithm = RateLimitAlgorithm::kGcra;
  auto created = tiers_->CreateTier(tier);
  ASSERT_OK(created);
  EXPECT_FALSE(created->builtin);
  EXPECT_EQ(created->created_at, kStart);
  EXPECT_EQ(created->ratelimits.at(0).id, "");
  EXPECT_TRUE(created->ratelimits.at(0).auto_apply);

  auto stored = store_->GetTier("gold");
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  EXPECT_FALSE((*stored)->builtin);
  EXPECT_EQ((*stored)->ratelimits.at(0).algorithm, RateLimitAlgorithm::kGcra);

  EXPECT_TRUE(tiers_->Contains("gold"));
  auto found = tiers_->Find("gold");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->included_quota, 1'000);
  EXPECT_EQ(tiers_->ListTiers().size(), 4u);
  RelayEvents();
  EXPECT_EQ(published_, std::vector<std::string>{"tier.created"});

  auto again = tiers_->CreateTier(Custom("gold"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

TEST_F(TierServiceTest, UnknownTierIsNotFound) {
  EXPECT_EQ(tiers_->GetTier("nope").error().code, ErrorCode::kNotFound);
  UpdateTierParams update;
  update.name = "nope";
  EXPECT_EQ(tiers_->UpdateTier(update).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(tiers_->DeleteTier("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(tiers_->Find("nope"), nullptr);
  EXPECT_FALSE(tiers_->Contains("nope"));
}

TEST_F(TierServiceTest, UpdateChangesOnlyTheGivenFields) {
  ASSERT_OK(tiers_->CreateTier(Custom("gold")));
  clock_.Advance(5'000);
  UpdateTierParams update;
  update.name = "gold";
  update.description = "the gold plan";
  update.included_quota = std::optional<std::int64_t>();  // unlimited
  update.base_fee_minor = 1'999;
  auto updated = tiers_->UpdateTier(update);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->description, "the gold plan");
  EXPECT_FALSE(updated->included_quota.has_value());
  EXPECT_EQ(updated->pricing.base_fee_minor, 1'999);
  EXPECT_EQ(updated->pricing.currency, "USD");
  EXPECT_EQ(updated->ratelimits.at(0).limit, 5);
  EXPECT_EQ(updated->created_at, kStart);
  EXPECT_EQ(updated->updated_at, kStart + 5'000);

  auto stored = store_->GetTier("gold");
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->description, "the gold plan");
  EXPECT_FALSE((*stored)->included_quota.has_value());
}

TEST_F(TierServiceTest, LeavingTheThrottlePolicyDropsTheThrottleTarget) {
  Tier tier = Custom("gold");
  tier.overage_policy = OveragePolicy::kThrottle;
  tier.throttle_to = "free";
  ASSERT_OK(tiers_->CreateTier(tier));
  UpdateTierParams update;
  update.name = "gold";
  update.overage_policy = OveragePolicy::kAllow;
  auto updated = tiers_->UpdateTier(update);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->throttle_to, "");
}

// ---- Validation ----

TEST_F(TierServiceTest, InvalidTiersAreRefusedWithTheirLocations) {
  Tier bad = Custom("Gold Plan!");
  bad.ratelimits = {Limit("", 0, 999), Limit("x", 1, 1'000), Limit("x", 1, 1'000)};
  bad.included_quota = -1;
  bad.grace_percent = 101;
  bad.pricing.currency = "usd";
  bad.pricing.base_fee_minor = -1;
  bad.pricing.overage_unit_price_micros = -1;
  auto created = tiers_->CreateTier(bad);
  for (const char* location :
       {"body.name", "body.ratelimits[0].name", "body.ratelimits[0].limit", "body.ratelimits[0].duration",
        "body.ratelimits[2].name", "body.includedQuota", "body.gracePercent", "body.pricing.currency",
        "body.pricing.baseFee", "body.pricing.overageUnitPriceMicros"}) {
    ExpectInvalid(created, location);
  }
  EXPECT_FALSE(tiers_->Contains("Gold Plan!"));
  auto stored = store_->ListTiers();
  ASSERT_OK(stored);
  EXPECT_EQ(stored->size(), 3u);
}

TEST_F(TierServiceTest, MeterPricesAreValidatedStoredAndUpdatedWhole) {
  Tier tier = Custom("metered");
  tier.pricing.meters = {
      MeterPricing{.meter = "tokens", .included = 1'000'000, .model = OverageModel::kGraduated, .package_size = 1'000,
                   .slices = {{1'000'000, 50'000'000}, {std::nullopt, 30'000'000}}},
      MeterPricing{.meter = "requests", .slices = {{std::nullopt, 400}}},
  };
  ASSERT_OK(tiers_->CreateTier(tier));
  auto stored = store_->GetTier("metered");
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->pricing.meters, tier.pricing.meters);

  UpdateTierParams update;
  update.name = "metered";
  update.meters = std::vector<MeterPricing>{MeterPricing{.meter = "images", .slices = {{std::nullopt, 4}}}};
  auto updated = tiers_->UpdateTier(update);
  ASSERT_OK(updated);
  ASSERT_EQ(updated->pricing.meters.size(), 1u);
  EXPECT_EQ(updated->pricing.meters[0].meter, "images");

  Tier bad = Custom("bad-meters");
  bad.pricing.meters = {
      MeterPricing{.meter = "tokens", .slices = {{std::nullopt, 1}}},
      MeterPricing{.meter = "tokens", .slices = {{std::nullopt, 1}}},
      MeterPricing{.meter = "requests", .included = 5},
      MeterPricing{.meter = "bad name", .package_size = 0, .slices = {{10, 1}}},
  };
  auto refused = tiers_->CreateTier(bad);
  for (const char* location : {"body.pricing.meters[1].meter", "body.pricing.meters[2].included",
                               "body.pricing.meters[3].meter", "body.pricing.meters[3].packageSize",
                               "body.pricing.meters[3].slices[0].upTo"}) {
    ExpectInvalid(refused, location);
  }
}

TEST_F(TierServiceTest, TierNamesAreLowerCaseDigitsDashAndUnderscoreUpTo64) {
  ASSERT_OK(tiers_->CreateTier(Custom("pro-annual_2")));
  ASSERT_OK(tiers_->CreateTier(Custom(std::string(64, 'a'))));
  ExpectInvalid(tiers_->CreateTier(Custom(std::string(65, 'a'))), "body.name");
  ExpectInvalid(tiers_->CreateTier(Custom("")), "body.name");
  ExpectInvalid(tiers_->CreateTier(Custom("Pro")), "body.name");
}

TEST_F(TierServiceTest, ThrottleNeedsAnExistingOtherTierAndNoCycle) {
  Tier tier = Custom("gold");
  tier.overage_policy = OveragePolicy::kThrottle;
  ExpectInvalid(tiers_->CreateTier(tier), "body.throttleTo");  // missing
  tier.throttle_to = "gold";
  ExpectInvalid(tiers_->CreateTier(tier), "body.throttleTo");  // itself
  tier.throttle_to = "platinum";
  ExpectInvalid(tiers_->CreateTier(tier), "body.throttleTo");  // no such tier
  Tier stray = Custom("silver");
  stray.throttle_to = "free";  // but the policy is block
  ExpectInvalid(tiers_->CreateTier(stray), "body.throttleTo");

  tier.throttle_to = "free";
  ASSERT_OK(tiers_->CreateTier(tier));
  Tier silver = Custom("silver");
  silver.overage_policy = OveragePolicy::kThrottle;
  silver.throttle_to = "gold";
  ASSERT_OK(tiers_->CreateTier(silver));  // silver -> gold -> free: a chain, not a cycle

  UpdateTierParams cycle;
  cycle.name = "free";
  cycle.overage_policy = OveragePolicy::kThrottle;
  cycle.throttle_to = "silver";  // free -> silver -> gold -> free
  auto refused = tiers_->UpdateTier(cycle);
  ExpectInvalid(refused, "body.throttleTo");
  EXPECT_NE(refused.error().detail.find("free -> silver -> gold -> free"), std::string::npos)
      << refused.error().detail;
  EXPECT_EQ(tiers_->GetTier("free")->overage_policy, OveragePolicy::kBlock);
}

// ---- Deletion ----

TEST_F(TierServiceTest, UnusedCustomTierIsDeletedEverywhere) {
  ASSERT_OK(tiers_->CreateTier(Custom("gold")));
  ASSERT_OK(tiers_->DeleteTier("gold"));
  EXPECT_FALSE(tiers_->Contains("gold"));
  auto stored = store_->GetTier("gold");
  ASSERT_OK(stored);
  EXPECT_FALSE(stored->has_value());
  RelayEvents();
  EXPECT_EQ(published_, (std::vector<std::string>{"tier.created", "tier.deleted"}));
  ASSERT_OK(tiers_->CreateTier(Custom("gold")));  // the name is free again
}

TEST_F(TierServiceTest, TierInUseIsNotDeletedAndTheConflictSaysByWhom) {
  ASSERT_OK(tiers_->CreateTier(Custom("gold")));
  Identity identity;
  identity.id = "id_1";
  identity.external_id = "cust_1";
  identity.tier = "gold";
  ASSERT_OK(store_->InsertIdentity(identity));
  ASSERT_OK(store_->InsertApi(Api{.id = "api_1", .name = "api", .created_at = 1}));
  for (const char* id : {"key_1", "key_2"}) {
    Key key;
    key.id = id;
    key.api_id = "api_1";
    key.hash = std::string("hash-") + id;
    key.start = "tg_x";
    key.tier = "gold";
    ASSERT_OK(store_->InsertKey(key));
  }
  Tier throttler = Custom("bronze");
  throttler.overage_policy = OveragePolicy::kThrottle;
  throttler.throttle_to = "gold";
  ASSERT_OK(tiers_->CreateTier(throttler));

  auto refused = tiers_->DeleteTier("gold");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_EQ(refused.error().detail,
            "tier 'gold' is still used by 1 identity, 2 keys and 1 tier throttling to it; move them first");
  EXPECT_TRUE(tiers_->Contains("gold"));
}

TEST_F(TierServiceTest, DefaultTierIsNotDeleted) {
  ASSERT_OK(tiers_->CreateTier(Custom("gold")));
  ASSERT_OK(tiers_->SetDefaultTier("gold"));
  auto refused = tiers_->DeleteTier("gold");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  ASSERT_OK(tiers_->SetDefaultTier(""));
  ASSERT_OK(tiers_->DeleteTier("gold"));
}

// ---- Which tier applies ----

TEST_F(TierServiceTest, ResolvePrefersTheKeyThenTheIdentityThenTheDefault) {
  const TierSet& tiers = tiers_->Current();
  EXPECT_EQ(tiers.Resolve("pro", "enterprise")->name, "pro");
  EXPECT_EQ(tiers.Resolve("", "enterprise")->name, "enterprise");
  EXPECT_EQ(tiers.Resolve("", ""), nullptr);  // no default configured: no tier limits at all
  EXPECT_EQ(tiers.Resolve("gone", "pro")->name, "pro");  // a name without a tier is skipped
  EXPECT_EQ(tiers.Resolve("gone", ""), nullptr);

  ASSERT_OK(tiers_->SetDefaultTier("free"));
  EXPECT_EQ(tiers_->Current().default_tier(), "free");
  EXPECT_EQ(tiers_->Current().Resolve("", "")->name, "free");
  EXPECT_EQ(tiers_->Current().Resolve("gone", "gone too")->name, "free");
  EXPECT_EQ(tiers.Resolve("", ""), nullptr);  // the set read before is unchanged

  auto unknown = tiers_->SetDefaultTier("platinum");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(tiers_->Current().default_tier(), "free");
}

TEST_F(TierServiceTest, WhatAReaderGotStaysValidAndUnchangedWhileTiersChange) {
  ASSERT_OK(tiers_->CreateTier(Custom("gold")));
  const TierSet& before = tiers_->Current();
  const Tier* gold = tiers_->Find("gold");
  ASSERT_NE(gold, nullptr);

  UpdateTierParams update;
  update.name = "gold";
  update.ratelimits = std::vector{Limit("requests", 99, 1'000)};
  ASSERT_OK(tiers_->UpdateTier(update));
  EXPECT_EQ(before.Find("gold")->ratelimits.at(0).limit, 5);
  EXPECT_EQ(tiers_->Current().Find("gold")->ratelimits.at(0).limit, 99);

  UpdateTierParams quota;
  quota.name = "gold";
  quota.included_quota = std::optional<std::int64_t>(7);
  ASSERT_OK(tiers_->UpdateTier(quota));
  ASSERT_OK(tiers_->DeleteTier("gold"));
  EXPECT_EQ(gold->included_quota, 1'000);  // what a reader got stays valid and unchanged
  EXPECT_EQ(before.Find("gold")->name, "gold");
  EXPECT_EQ(tiers_->Current().Find("gold"), nullptr);
}

// ---- Configured tiers ----

TEST_F(TierServiceTest, ConfiguredTiersOverlayAndCreateAndArePersisted) {
  Tier pro = *tiers_->GetTier("pro");
  pro.ratelimits = {Limit("requests", 200, 1'000)};
  pro.builtin = false;  // ignored: pro stays built-in
  // "basic" throttles to "starter", which comes later in the list.
  Tier basic = Custom("basic");
  basic.overage_policy = OveragePolicy::kThrottle;
  basic.throttle_to = "starter";
  Tier starter = Custom("starter");
  clock_.Advance(10);
  ASSERT_OK(tiers_->ApplyConfiguredTiers({pro, basic, starter}));

  const auto now_pro = tiers_->GetTier("pro");
  ASSERT_OK(now_pro);
  EXPECT_EQ(now_pro->ratelimits.at(0).limit, 200);
  EXPECT_TRUE(now_pro->builtin);
  EXPECT_EQ(now_pro->created_at, kStart);
  EXPECT_EQ(now_pro->updated_at, kStart + 10);
  EXPECT_TRUE(tiers_->Contains("basic"));
  EXPECT_TRUE(tiers_->Contains("starter"));

  auto restarted = TierService::Create(*store_, clock_);
  ASSERT_OK(restarted);
  EXPECT_EQ((*restarted)->GetTier("pro")->ratelimits.at(0).limit, 200);
  EXPECT_EQ((*restarted)->GetTier("basic")->throttle_to, "starter");

  // Applying the same file again changes nothing, not even updated_at.
  clock_.Advance(10);
  ASSERT_OK((*restarted)->ApplyConfiguredTiers({pro, basic, starter}));
  EXPECT_EQ((*restarted)->GetTier("pro")->updated_at, kStart + 10);
}

TEST_F(TierServiceTest, AnInvalidConfiguredTierAppliesNone) {
  Tier pro = *tiers_->GetTier("pro");
  pro.ratelimits = {Limit("requests", 200, 1'000)};
  Tier broken = Custom("broken");
  broken.grace_percent = 300;
  auto applied = tiers_->ApplyConfiguredTiers({pro, broken});
  ExpectInvalid(applied, "tiers.broken.gracePercent");
  EXPECT_NE(applied.error().detail.find("configured tiers"), std::string::npos) << applied.error().detail;
  EXPECT_EQ(tiers_->GetTier("pro")->ratelimits.at(0).limit, 100);
  EXPECT_FALSE(tiers_->Contains("broken"));
  EXPECT_EQ(store_->GetTier("pro").value()->ratelimits.at(0).limit, 100);

  ExpectInvalid(tiers_->ApplyConfiguredTiers({Custom("twice"), Custom("twice")}), "tiers.twice");
  EXPECT_FALSE(tiers_->Contains("twice"));
}

// Another node over the same store applies tier.* events by reloading the tier.
TEST_F(TierServiceTest, AnotherNodeAppliesTierChangesFromTheStore) {
  auto other = TierService::Create(*store_, clock_);
  ASSERT_OK(other);
  auto apply_events_after = [&](std::int64_t after) {
    auto events = store_->OutboxEventsAfter(after, 100);
    ASSERT_OK(events);
    for (const auto& entry : *events) {
      if (entry.event.type.starts_with("tier.")) ASSERT_OK((*other)->ApplyTierEvent(entry.event));
    }
  };
  auto before = store_->LatestOutboxSeq();
  ASSERT_OK(before);
  ASSERT_OK(tiers_->CreateTier(Custom("gold")));
  EXPECT_FALSE((*other)->Contains("gold"));
  apply_events_after(*before);
  ASSERT_TRUE((*other)->Contains("gold"));
  EXPECT_EQ((*other)->GetTier("gold")->description, tiers_->GetTier("gold")->description);

  before = store_->LatestOutboxSeq();
  ASSERT_OK(before);
  ASSERT_OK(tiers_->DeleteTier("gold"));
  apply_events_after(*before);
  EXPECT_FALSE((*other)->Contains("gold"));
  EXPECT_TRUE((*other)->Contains("pro"));
}

TEST(TierServiceFileTest, TiersSurviveReopeningTheDatabaseFile) {
  TempDir dir;
  const std::string path = (dir.Path() / "tollgate.db").string();
  ManualClock clock(kStart);
  {
    auto store = SqliteStore::Open(path);
    ASSERT_OK(store);
    auto tiers = TierService::Create(**store, clock);
    ASSERT_OK(tiers);
    ASSERT_OK((*tiers)->CreateTier(Custom("gold")));
  }
  auto store = SqliteStore::Open(path);
  ASSERT_OK(store);
  auto tiers = TierService::Create(**store, clock);
  ASSERT_OK(tiers);
  EXPECT_EQ((*tiers)->ListTiers().size(), 4u);
  EXPECT_EQ((*tiers)->GetTier("gold")->included_quota, 1'000);
}

}  // namespace
}  // namespace tollgate
