// Verifier over real objects: SqliteStore(":memory:"), InProcessEventBus, TierService,
// KeyService, MemoryCounterStore and QuotaTracker, all on one ManualClock. What a verification
// decides when tiers, identities, key limits, credits and the monthly quota meet: tier rate
// limits and their reset, all-or-nothing multi-limit denials, credits versus rate limits, the
// three overage policies (and grace), the monthly rollover, limits shared by an identity's
// keys, and the ratelimits a request names.
#include "verify/verifier.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "common/calendar.h"
#include "events/inprocess/in_process_event_bus.h"
#include "limiter/memory_counter_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"
#include "verify/quota_tracker.h"

namespace tollgate {
namespace {

constexpr UnixMillis kSecond = 1000;
constexpr UnixMillis kMinute = 60 * kSecond;
constexpr UnixMillis kHour = 60 * kMinute;
// 2026-01-15 10:00:00.500 UTC: half-way through a second, so a 1 s window has room on both sides.
const UnixMillis kStart = FromCivil({2026, 1, 15}) + 10 * kHour + 500;

RateLimitConfig Limit(std::string name, std::int64_t limit, std::int64_t duration_ms, bool auto_apply = true) {
  return RateLimitConfig{.id = "", .name = std::move(name), .limit = limit, .duration_ms = duration_ms,
                         .auto_apply = auto_apply, .algorithm = RateLimitAlgorithm::kSlidingWindow};
}

std::string CodeOf(const VerifyResult& result) { return std::string(VerifyCodeName(result.outcome.code)); }

// The applied limit named `name` (the first one if several share it); nullptr if none.
const AppliedLimit* Named(const VerifyResult& result, const std::string& name) {
  for (const AppliedLimit& limit : result.limits) {
    if (limit.name == name) return &limit;
  }
  return nullptr;
}

std::string Describe(const VerifyResult& result) {
  std::string out = CodeOf(result) + " limits[";
  for (const AppliedLimit& l : result.limits) {
    out += " {" + l.name + " " + std::to_string(l.limit) + "/" + std::to_string(l.duration_ms) +
           "ms remaining=" + std::to_string(l.remaining) + (l.exceeded ? " EXCEEDED" : "") +
           " reset_at=" + std::to_string(l.reset_at) + "}";
  }
  out += " ]";
  if (result.quota) {
    out += " quota{used=" + std::to_string(result.quota->used) + " included=" + std::to_string(result.quota->included) +
           " remaining=" + std::to_string(result.quota->remaining) + " overage=" + std::to_string(result.quota->overage) + "}";
  }
  if (result.outcome.credits_remaining) out += " credits=" + std::to_string(*result.outcome.credits_remaining);
  return out;
}

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    auto tiers = TierService::Create(*store_, clock_);
    ASSERT_TRUE(tiers.has_value()) << tiers.error().detail;
    tiers_ = std::move(*tiers);
    auto keys = KeyService::Create(*store_, clock_, tiers_.get());
    ASSERT_TRUE(keys.has_value()) << keys.error().detail;
    keys_ = std::move(*keys);
    RestartQuota();
    auto api = keys_->CreateApi("verify");
    ASSERT_TRUE(api.has_value()) << api.error().detail;
    api_id_ = api->id;
  }

  // A new QuotaTracker (and Verifier) over the same store, loaded for the current month: what a
  // process restart does to the quota counters.
  void RestartQuota() {
    verifier_.reset();
    quota_ = std::make_unique<QuotaTracker>(*store_);
    ASSERT_OK(quota_->Load(QuotaPeriodOf(clock_.NowMillis())));
    verifier_ = std::make_unique<Verifier>(*keys_, *tiers_, limiter_, *quota_, clock_);
  }

  CreateKeyParams Params() const {
    CreateKeyParams params;
    params.api_id = api_id_;
    params.prefix = "vt";
    return params;
  }

  CreatedKey MustCreate(CreateKeyParams params) {
    auto created = keys_->CreateKey(std::move(params));
    EXPECT_TRUE(created.has_value()) << created.error().detail;
    return created.value_or(CreatedKey{});
  }

  CreatedKey KeyOnTier(const std::string& tier) {
    CreateKeyParams params = Params();
    params.tier = tier;
    return MustCreate(std::move(params));
  }

  void MustCreateTier(Tier tier) {
    auto created = tiers_->CreateTier(std::move(tier));
    ASSERT_TRUE(created.has_value()) << created.error().detail;
  }

  // A custom tier with a monthly quota and no rate limits of its own (unless given).
  void QuotaTier(const std::string& name, std::int64_t included, OveragePolicy policy, int grace_percent = 0,
                 std::string throttle_to = "", std::vector<RateLimitConfig> ratelimits = {}) {
    Tier tier;
    tier.name = name;
    tier.included_quota = included;
    tier.overage_policy = policy;
    tier.grace_percent = grace_percent;
    tier.throttle_to = std::move(throttle_to);
    tier.ratelimits = std::move(ratelimits);
    MustCreateTier(std::move(tier));
  }

  Result<VerifyResult> TryVerify(const std::string& secret, const std::vector<RequestedLimit>& requested = {},
                                 std::int64_t credit_cost = 1) {
    VerifyRequest request;
    request.credit_cost = credit_cost;
    request.ratelimits = requested;
    return verifier_->Verify(keys_->FindForVerify(secret), request);
  }

  VerifyResult Verify(const std::string& secret, const std::vector<RequestedLimit>& requested = {},
                      std::int64_t credit_cost = 1) {
    auto result = TryVerify(secret, requested, credit_cost);
    EXPECT_TRUE(result.has_value()) << result.error().detail;
    return result ? std::move(*result) : VerifyResult{};
  }

  std::optional<std::int64_t> LiveCredits(const std::string& key_id) {
    auto view = keys_->GetKey(key_id);
    EXPECT_TRUE(view.has_value());
    if (!view || !view->key.credits) return std::nullopt;
    return view->key.credits->remaining;
  }

  ManualClock clock_{kStart};
  InProcessEventBus events_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<TierService> tiers_;
  std::unique_ptr<KeyService> keys_;
  MemoryCounterStore limiter_;
  std::unique_ptr<QuotaTracker> quota_;
  std::unique_ptr<Verifier> verifier_;
  std::string api_id_;
};

// ---- the free tier's rate limit ----

TEST_F(VerifierTest, FreeTierAdmitsTenInOneSecondAndTheEleventhIsRateLimitedUntilItsReset) {
  const CreatedKey key = KeyOnTier("free");

  for (int i = 0; i < 10; ++i) {
    const VerifyResult r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "VALID") << "request " << i + 1 << ": " << Describe(r);
    ASSERT_NE(r.tier, nullptr);
    EXPECT_EQ(r.tier->name, "free");
    ASSERT_EQ(r.limits.size(), 1u) << Describe(r);
    EXPECT_EQ(r.limits[0].name, "requests");
    EXPECT_EQ(r.limits[0].limit, 10);
    EXPECT_EQ(r.limits[0].duration_ms, 1000);
    EXPECT_TRUE(r.limits[0].auto_apply);
    EXPECT_FALSE(r.limits[0].exceeded);
    EXPECT_EQ(r.limits[0].remaining, 9 - i) << Describe(r);
    clock_.Advance(10);  // ten requests spread over 100 ms of the same second
  }

  const UnixMillis now = clock_.NowMillis();
  const VerifyResult denied = Verify(key.secret);
  ASSERT_EQ(CodeOf(denied), "RATE_LIMITED") << Describe(denied);
  EXPECT_FALSE(denied.outcome.valid());
  ASSERT_EQ(denied.limits.size(), 1u);
  const AppliedLimit& limit = denied.limits[0];
  EXPECT_TRUE(limit.exceeded);
  EXPECT_EQ(limit.remaining, 0);
  EXPECT_GT(limit.reset_at, now) << "a denied request cannot be admitted right now";
  EXPECT_LE(limit.reset_at, now + limit.duration_ms) << "the next admission lies within one window";
  ASSERT_TRUE(denied.quota.has_value());
  EXPECT_EQ(denied.quota->used, 10) << "a RATE_LIMITED verification uses no quota";

  // The reset is exact: still denied one millisecond before it, admitted at it.
  const UnixMillis reset = limit.reset_at;
  clock_.Set(reset - 1);
  EXPECT_EQ(CodeOf(Verify(key.secret)), "RATE_LIMITED");
  clock_.Set(reset);
  const VerifyResult again = Verify(key.secret);
  EXPECT_EQ(CodeOf(again), "VALID") << Describe(again);
  ASSERT_TRUE(again.quota.has_value());
  EXPECT_EQ(again.quota->used, 11);
}

TEST_F(VerifierTest, AKeyWithoutATierHasNoTierLimitsAndNoQuota) {
  const CreatedKey key = MustCreate(Params());
  for (int i = 0; i < 50; ++i) ASSERT_EQ(CodeOf(Verify(key.secret)), "VALID") << i;
  const VerifyResult r = Verify(key.secret);
  EXPECT_EQ(r.tier, nullptr);
  EXPECT_TRUE(r.limits.empty()) << Describe(r);
  EXPECT_FALSE(r.quota.has_value());
}

// ---- all or nothing ----

TEST_F(VerifierTest, AKeyLimitDenialChargesNothingToTheTierLimit) {
  CreateKeyParams params = Params();
  params.tier = "free";
  params.ratelimits = {Limit("per-minute", 2, kMinute)};
  const CreatedKey key = MustCreate(std::move(params));

  VerifyResult r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  ASSERT_NE(Named(r, "requests"), nullptr) << Describe(r);
  EXPECT_EQ(Named(r, "requests")->remaining, 8);
  EXPECT_EQ(Named(r, "per-minute")->remaining, 0);

  // Five denials by the key limit; had they charged the tier limit, it would have 3 left.
  for (int i = 0; i < 5; ++i) {
    r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "RATE_LIMITED") << Describe(r);
    ASSERT_NE(Named(r, "per-minute"), nullptr);
    EXPECT_TRUE(Named(r, "per-minute")->exceeded);
    ASSERT_NE(Named(r, "requests"), nullptr);
    EXPECT_FALSE(Named(r, "requests")->exceeded) << Describe(r);
    EXPECT_EQ(Named(r, "requests")->remaining, 8) << "denial " << i + 1 << " charged the tier limit: " << Describe(r);
  }

  // Without the key limit, the next verify (same instant) sees the tier counter as two requests left it.
  UpdateKeyParams update;
  update.key_id = key.key_id;
  update.ratelimits = std::vector<RateLimitConfig>{};
  ASSERT_OK(keys_->UpdateKey(std::move(update)));
  r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  ASSERT_EQ(r.limits.size(), 1u) << Describe(r);
  EXPECT_EQ(r.limits[0].name, "requests");
  EXPECT_EQ(r.limits[0].remaining, 7) << Describe(r);
}

TEST_F(VerifierTest, ATierLimitDenialChargesNothingToTheKeyLimit) {
  Tier tiny;
  tiny.name = "tiny";
  tiny.ratelimits = {Limit("requests", 2, kSecond)};
  MustCreateTier(tiny);
  CreateKeyParams params = Params();
  params.tier = "tiny";
  params.ratelimits = {Limit("per-minute", 5, kMinute)};
  const CreatedKey key = MustCreate(std::move(params));

  ASSERT_EQ(CodeOf(Verify(key.secret)), "VALID");
  VerifyResult r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID");
  EXPECT_EQ(Named(r, "per-minute")->remaining, 3);
  for (int i = 0; i < 3; ++i) {
    r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "RATE_LIMITED") << Describe(r);
    EXPECT_TRUE(Named(r, "requests")->exceeded);
    EXPECT_FALSE(Named(r, "per-minute")->exceeded);
    EXPECT_EQ(Named(r, "per-minute")->remaining, 3) << Describe(r);
  }
  clock_.Advance(2 * kSecond);  // the tier's 1 s window is clear again; the key's minute is not
  r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_EQ(Named(r, "per-minute")->remaining, 2) << "the three denials must not have charged it: " << Describe(r);
}

// ---- credits and rate limits ----

TEST_F(VerifierTest, ARateLimitedVerificationSpendsNoCredits) {
  CreateKeyParams params = Params();
  params.credits = Credits{100, std::nullopt, 0};
  params.ratelimits = {Limit("per-minute", 2, kMinute)};
  const CreatedKey key = MustCreate(std::move(params));

  EXPECT_EQ(Verify(key.secret).outcome.credits_remaining, 99);
  EXPECT_EQ(Verify(key.secret).outcome.credits_remaining, 98);
  for (int i = 0; i < 3; ++i) {
    const VerifyResult r = Verify(key.secret, {}, 5);
    ASSERT_EQ(CodeOf(r), "RATE_LIMITED") << Describe(r);
    EXPECT_EQ(r.outcome.credits_remaining, 98) << Describe(r);
  }
  EXPECT_EQ(LiveCredits(key.key_id), 98);
}

TEST_F(VerifierTest, ACreditDenialChargesNoRateLimit) {
  CreateKeyParams params = Params();
  params.credits = Credits{1, std::nullopt, 0};
  params.ratelimits = {Limit("per-minute", 5, kMinute)};
  const CreatedKey key = MustCreate(std::move(params));

  VerifyResult r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_EQ(Named(r, "per-minute")->remaining, 4);
  for (int i = 0; i < 6; ++i) {  // more denials than the limit has room for
    r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "USAGE_EXCEEDED") << Describe(r);
    EXPECT_EQ(r.outcome.credits_remaining, 0);
  }
  ASSERT_OK(keys_->UpdateCredits(key.key_id, CreditOperation::kSet, 10));
  r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_EQ(Named(r, "per-minute")->remaining, 3) << "credit denials must not charge the limit: " << Describe(r);
}

// A denial decided before the limiter (credits, quota) still lists the key's limits; what it says
// of them must be true: not exceeded, and the room they really have.
TEST_F(VerifierTest, ADenialBeforeTheLimiterReportsTheLimitsAsTheyStand) {
  CreateKeyParams params = Params();
  params.credits = Credits{1, std::nullopt, 0};
  params.ratelimits = {Limit("per-minute", 5, kMinute)};
  const CreatedKey key = MustCreate(std::move(params));
  ASSERT_EQ(CodeOf(Verify(key.secret)), "VALID");

  const VerifyResult r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "USAGE_EXCEEDED") << Describe(r);
  for (const AppliedLimit& limit : r.limits) {
    EXPECT_FALSE(limit.exceeded) << Describe(r);
    EXPECT_EQ(limit.remaining, 4) << "remaining must describe the counter, which has room for 4: " << Describe(r);
  }
}

TEST_F(VerifierTest, CreditsRunOutAndADailyRefillAtUtcMidnightRestoresThem) {
  CreateKeyParams params = Params();
  params.tier = "free";
  params.credits = Credits{3, CreditRefill{RefillInterval::kDaily, 3, 1}, 0};
  const CreatedKey key = MustCreate(std::move(params));

  for (std::int64_t left = 2; left >= 0; --left) {
    const VerifyResult r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
    EXPECT_EQ(r.outcome.credits_remaining, left);
  }
  VerifyResult r = Verify(key.secret);
  EXPECT_EQ(CodeOf(r), "USAGE_EXCEEDED") << Describe(r);
  EXPECT_EQ(r.outcome.credits_remaining, 0);
  EXPECT_EQ(r.quota->used, 3) << "a credit denial uses no quota";

  const UnixMillis midnight = StartOfDay(kStart) + kMillisPerDay;
  clock_.Set(midnight - 1);
  EXPECT_EQ(CodeOf(Verify(key.secret)), "USAGE_EXCEEDED") << "no refill before midnight UTC";
  clock_.Set(midnight);
  r = Verify(key.secret);
  EXPECT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_EQ(r.outcome.credits_remaining, 2);
  EXPECT_EQ(LiveCredits(key.key_id), 2);
}

// ---- the monthly quota and the overage policies ----

TEST_F(VerifierTest, BlockPolicyDeniesPastTheQuotaWithUsageExceededAndSpendsNoCredits) {
  QuotaTier("q-block", 3, OveragePolicy::kBlock);
  CreateKeyParams params = Params();
  params.tier = "q-block";
  params.credits = Credits{10, std::nullopt, 0};
  const CreatedKey key = MustCreate(std::move(params));

  for (std::int64_t i = 1; i <= 3; ++i) {
    const VerifyResult r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
    ASSERT_TRUE(r.quota.has_value());
    EXPECT_EQ(r.quota->used, i);
    EXPECT_EQ(r.quota->included, 3);
    EXPECT_EQ(r.quota->remaining, 3 - i);
    EXPECT_EQ(r.quota->overage, 0);
    EXPECT_EQ(r.quota->period_end, FromCivil({2026, 2, 1}));
  }
  for (int i = 0; i < 2; ++i) {
    const VerifyResult r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "USAGE_EXCEEDED") << Describe(r);
    ASSERT_TRUE(r.quota.has_value());
    EXPECT_EQ(r.quota->used, 3);
    EXPECT_EQ(r.quota->remaining, 0);
    EXPECT_EQ(r.quota->overage, 0);
    EXPECT_EQ(r.outcome.credits_remaining, 7) << "a quota denial spends no credits";
  }
}

TEST_F(VerifierTest, AllowPolicyKeepsServingPastTheQuotaAndCountsTheOverage) {
  QuotaTier("q-allow", 3, OveragePolicy::kAllow);
  const CreatedKey key = KeyOnTier("q-allow");
  const std::int64_t expected_overage[] = {0, 0, 0, 1, 2, 3};
  for (std::int64_t i = 1; i <= 6; ++i) {
    const VerifyResult r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "VALID") << "request " << i << ": " << Describe(r);
    ASSERT_TRUE(r.quota.has_value());
    EXPECT_EQ(r.quota->used, i);
    EXPECT_EQ(r.quota->remaining, std::max<std::int64_t>(0, 3 - i));
    EXPECT_EQ(r.quota->overage, expected_overage[i - 1]);
    EXPECT_FALSE(r.throttled);
  }
}

TEST_F(VerifierTest, ThrottlePolicyServesPastTheQuotaAtTheLowerTiersRate) {
  Tier slow;
  slow.name = "slow";
  slow.ratelimits = {Limit("requests", 1, kSecond)};
  MustCreateTier(slow);
  QuotaTier("q-throttle", 3, OveragePolicy::kThrottle, 0, "slow", {Limit("requests", 100, kSecond)});
  const CreatedKey key = KeyOnTier("q-throttle");

  // Within the quota: three requests at one instant, at the tier's own 100/s.
  for (int i = 0; i < 3; ++i) {
    const VerifyResult r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "VALID") << "request " << i + 1 << " within the quota: " << Describe(r);
    EXPECT_FALSE(r.throttled);
    ASSERT_EQ(r.limits.size(), 1u);
    EXPECT_EQ(r.limits[0].limit, 100);
  }
  clock_.Advance(2 * kSecond);
  // Past it: one per second.
  VerifyResult r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_TRUE(r.throttled);
  ASSERT_NE(r.tier, nullptr);
  EXPECT_EQ(r.tier->name, "q-throttle") << "the key's tier is still reported";
  ASSERT_EQ(r.limits.size(), 1u) << Describe(r);
  EXPECT_EQ(r.limits[0].limit, 1);
  EXPECT_EQ(r.quota->used, 4);
  EXPECT_EQ(r.quota->overage, 1);
  r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "RATE_LIMITED") << "the 2nd request within a second past the quota: " << Describe(r);
  EXPECT_TRUE(r.limits[0].exceeded);
  EXPECT_EQ(r.quota->used, 4) << "a RATE_LIMITED verification uses no quota";
  clock_.Advance(2 * kSecond);
  EXPECT_EQ(CodeOf(Verify(key.secret)), "VALID") << "throttled, not blocked";
}

TEST_F(VerifierTest, GracePercentMovesTheBlockPointPastTheQuota) {
  QuotaTier("q-grace", 4, OveragePolicy::kBlock, 50);
  const CreatedKey key = KeyOnTier("q-grace");
  for (std::int64_t i = 1; i <= 6; ++i) {
    const VerifyResult r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "VALID") << "request " << i << " (quota 4 + 50% grace = 6): " << Describe(r);
    EXPECT_EQ(r.quota->used, i);
    EXPECT_EQ(r.quota->included, 4);
    EXPECT_EQ(r.quota->overage, std::max<std::int64_t>(0, i - 4));
  }
  const VerifyResult r = Verify(key.secret);
  EXPECT_EQ(CodeOf(r), "USAGE_EXCEEDED") << Describe(r);
  EXPECT_EQ(r.quota->used, 6);
  EXPECT_EQ(r.quota->remaining, 0);
}

TEST_F(VerifierTest, ANewMonthResetsTheQuota) {
  QuotaTier("q-block", 3, OveragePolicy::kBlock);
  const CreatedKey key = KeyOnTier("q-block");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(CodeOf(Verify(key.secret)), "VALID");
  clock_.Set(FromCivil({2026, 2, 1}) - 1);
  EXPECT_EQ(CodeOf(Verify(key.secret)), "USAGE_EXCEEDED") << "the last millisecond of January";

  clock_.Set(FromCivil({2026, 2, 1}));
  const VerifyResult r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_EQ(r.quota->used, 1);
  EXPECT_EQ(r.quota->remaining, 2);
  EXPECT_EQ(r.quota->period_end, FromCivil({2026, 3, 1}));
}

TEST_F(VerifierTest, QuotaCountsSurviveARestartOfTheTracker) {
  QuotaTier("q-block", 3, OveragePolicy::kBlock);
  const CreatedKey key = KeyOnTier("q-block");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(CodeOf(Verify(key.secret)), "VALID");
  ASSERT_OK(quota_->Flush());
  RestartQuota();
  const VerifyResult r = Verify(key.secret);
  EXPECT_EQ(CodeOf(r), "USAGE_EXCEEDED") << Describe(r);
  EXPECT_EQ(r.quota->used, 3);
}

// ---- identities ----

TEST_F(VerifierTest, IdentityLimitsAreSharedByAllItsKeys) {
  CreateIdentityParams identity;
  identity.external_id = "acme";
  identity.ratelimits = {Limit("requests", 3, kMinute)};
  auto created = keys_->CreateIdentity(identity);
  ASSERT_OK(created);
  const std::string limit_id = created->ratelimits.at(0).id;
  EXPECT_TRUE(limit_id.starts_with("rl_")) << limit_id;

  CreateKeyParams params = Params();
  params.external_id = "acme";
  const CreatedKey a = MustCreate(params);
  const CreatedKey b = MustCreate(params);

  VerifyResult r = Verify(a.secret);
  ASSERT_EQ(CodeOf(r), "VALID");
  ASSERT_EQ(r.limits.size(), 1u);
  EXPECT_EQ(r.limits[0].id, limit_id);
  EXPECT_EQ(r.limits[0].remaining, 2);
  ASSERT_EQ(CodeOf(Verify(a.secret)), "VALID");
  r = Verify(b.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_EQ(r.limits[0].remaining, 0) << "key B sees what key A used: " << Describe(r);
  EXPECT_EQ(CodeOf(Verify(a.secret)), "RATE_LIMITED");
  EXPECT_EQ(CodeOf(Verify(b.secret)), "RATE_LIMITED");

  // A key's own limit of the same name takes the identity limit's place for that key.
  params.ratelimits = {Limit("requests", 10, kMinute)};
  const CreatedKey c = MustCreate(params);
  r = Verify(c.secret);
  EXPECT_EQ(CodeOf(r), "VALID") << Describe(r);
  ASSERT_EQ(r.limits.size(), 1u);
  EXPECT_EQ(r.limits[0].limit, 10);
}

TEST_F(VerifierTest, AnIdentitysTierRateAndQuotaAreSharedByAllItsKeys) {
  QuotaTier("shared", 100, OveragePolicy::kBlock, 0, "", {Limit("requests", 10, kSecond)});
  CreateIdentityParams identity;
  identity.external_id = "globex";
  identity.tier = "shared";
  ASSERT_OK(keys_->CreateIdentity(identity));
  CreateKeyParams params = Params();
  params.external_id = "globex";
  const CreatedKey a = MustCreate(params);
  const CreatedKey b = MustCreate(params);

  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(CodeOf(Verify(a.secret)), "VALID") << i;
    ASSERT_EQ(CodeOf(Verify(b.secret)), "VALID") << i;
  }
  VerifyResult r = Verify(a.secret);
  EXPECT_EQ(CodeOf(r), "RATE_LIMITED") << "the 11th of the identity in one second: " << Describe(r);
  r = Verify(b.secret);
  EXPECT_EQ(CodeOf(r), "RATE_LIMITED") << Describe(r);
  ASSERT_TRUE(r.quota.has_value());
  EXPECT_EQ(r.quota->used, 10) << "one quota for both keys";
}

// ---- ratelimits named in the request ----

TEST_F(VerifierTest, AKeyLimitWithoutAutoApplyAppliesOnlyWhenNamed) {
  CreateKeyParams params = Params();
  params.ratelimits = {Limit("expensive", 2, kMinute, /*auto_apply=*/false)};
  const CreatedKey key = MustCreate(std::move(params));

  for (int i = 0; i < 5; ++i) {
    const VerifyResult r = Verify(key.secret);
    ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
    EXPECT_EQ(Named(r, "expensive"), nullptr) << "not named, not applied: " << Describe(r);
  }
  const std::vector<RequestedLimit> named = {{.name = "expensive"}};
  VerifyResult r = Verify(key.secret, named);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  ASSERT_NE(Named(r, "expensive"), nullptr);
  EXPECT_FALSE(Named(r, "expensive")->auto_apply);
  EXPECT_EQ(Named(r, "expensive")->remaining, 1) << "unnamed verifies must not have charged it";
  ASSERT_EQ(CodeOf(Verify(key.secret, named)), "VALID");
  r = Verify(key.secret, named);
  EXPECT_EQ(CodeOf(r), "RATE_LIMITED") << Describe(r);
  EXPECT_EQ(CodeOf(Verify(key.secret)), "VALID") << "unnamed, the exhausted limit still does not apply";
}

TEST_F(VerifierTest, ARequestedCostReplacesTheCostOfOne) {
  CreateKeyParams params = Params();
  params.ratelimits = {Limit("tokens", 10, kMinute)};
  const CreatedKey key = MustCreate(std::move(params));
  const std::vector<RequestedLimit> four = {{.name = "tokens", .cost = 4}};

  VerifyResult r = Verify(key.secret, four);
  ASSERT_EQ(CodeOf(r), "VALID");
  EXPECT_EQ(Named(r, "tokens")->remaining, 6);
  r = Verify(key.secret, four);
  ASSERT_EQ(CodeOf(r), "VALID");
  EXPECT_EQ(Named(r, "tokens")->remaining, 2);
  r = Verify(key.secret, four);
  ASSERT_EQ(CodeOf(r), "RATE_LIMITED") << Describe(r);
  EXPECT_EQ(Named(r, "tokens")->remaining, 2) << "a denied cost is not charged";
  r = Verify(key.secret, {{.name = "tokens", .cost = 2}});
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_EQ(Named(r, "tokens")->remaining, 0);
  r = Verify(key.secret, {{.name = "tokens", .cost = 0}});
  EXPECT_EQ(CodeOf(r), "VALID") << "cost 0 checks without charging: " << Describe(r);
  EXPECT_EQ(CodeOf(Verify(key.secret)), "RATE_LIMITED");
}

TEST_F(VerifierTest, ALimitAndDurationInTheRequestApplyAnAdHocLimit) {
  const CreatedKey key = MustCreate(Params());
  const std::vector<RequestedLimit> burst = {{.name = "burst", .limit = 3, .duration_ms = kMinute}};

  VerifyResult r = Verify(key.secret, burst);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  ASSERT_EQ(r.limits.size(), 1u);
  EXPECT_EQ(r.limits[0].name, "burst");
  EXPECT_EQ(r.limits[0].limit, 3);
  EXPECT_EQ(r.limits[0].duration_ms, kMinute);
  EXPECT_EQ(r.limits[0].remaining, 2);
  ASSERT_EQ(CodeOf(Verify(key.secret, burst)), "VALID");
  ASSERT_EQ(CodeOf(Verify(key.secret, burst)), "VALID");
  r = Verify(key.secret, burst);
  EXPECT_EQ(CodeOf(r), "RATE_LIMITED") << "the ad-hoc counter persists between requests: " << Describe(r);
  EXPECT_TRUE(r.limits[0].exceeded);
  r = Verify(key.secret);
  EXPECT_EQ(CodeOf(r), "VALID") << "not requested, not applied";
  EXPECT_TRUE(r.limits.empty());
  clock_.Advance(2 * kMinute);
  EXPECT_EQ(CodeOf(Verify(key.secret, burst)), "VALID") << "the ad-hoc window passes";
}

TEST_F(VerifierTest, NamingAnUnknownLimitWithoutLimitAndDurationIsAnErrorThatChargesNothing) {
  CreateKeyParams params = Params();
  params.ratelimits = {Limit("per-minute", 1, kMinute)};
  params.credits = Credits{5, std::nullopt, 0};
  const CreatedKey key = MustCreate(std::move(params));

  for (const std::vector<RequestedLimit>& requested :
       {std::vector<RequestedLimit>{{.name = "nope"}}, std::vector<RequestedLimit>{{.name = "nope", .limit = 5}},
        std::vector<RequestedLimit>{{.name = "nope", .duration_ms = kMinute}},
        std::vector<RequestedLimit>{{.name = "per-minute"}, {.name = "nope", .cost = 2}}}) {
    auto result = TryVerify(key.secret, requested);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidInput);
    ASSERT_FALSE(result.error().fields.empty());
    EXPECT_EQ(result.error().fields[0].location, "body.ratelimits");
    EXPECT_NE(result.error().detail.find("nope"), std::string::npos) << result.error().detail;
  }
  const VerifyResult r = Verify(key.secret);
  EXPECT_EQ(CodeOf(r), "VALID") << "the failed requests charged neither the limit nor credits: " << Describe(r);
  EXPECT_EQ(r.outcome.credits_remaining, 4);
}

// ---- keys that are not found or not admitted ----

TEST_F(VerifierTest, AnUnknownOrDisabledKeyChargesNothing) {
  QuotaTier("q-block", 3, OveragePolicy::kBlock, 0, "", {Limit("requests", 2, kMinute)});
  const CreatedKey key = KeyOnTier("q-block");

  auto unknown = verifier_->Verify(nullptr, VerifyRequest{});
  ASSERT_OK(unknown);
  EXPECT_EQ(CodeOf(*unknown), "NOT_FOUND");

  UpdateKeyParams disable;
  disable.key_id = key.key_id;
  disable.enabled = false;
  ASSERT_OK(keys_->UpdateKey(disable));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(CodeOf(Verify(key.secret)), "DISABLED");
  UpdateKeyParams enable;
  enable.key_id = key.key_id;
  enable.enabled = true;
  ASSERT_OK(keys_->UpdateKey(enable));
  const VerifyResult r = Verify(key.secret);
  ASSERT_EQ(CodeOf(r), "VALID") << Describe(r);
  EXPECT_EQ(r.limits.at(0).remaining, 1);
  EXPECT_EQ(r.quota->used, 1);
}

}  // namespace
}  // namespace tollgate
