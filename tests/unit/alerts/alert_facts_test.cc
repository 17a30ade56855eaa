// ServiceAlertFacts over real services (SqliteStore in memory, TierService, KeyService,
// QuotaTracker): subjects with the tier the verifier applies to them (the key's, the identity's,
// the default; for an identity, the tier of its keys whose quota runs out first), the included
// quota, live credit balances, and whom RATE_LIMITED answers count toward.
#include "alerts/alert_facts.h"

#include <memory>

#include <gtest/gtest.h>

#include "result_assertions.h"
#include "services_fixture.h"

namespace tollgate {
namespace {

class AlertFactsTest : public AlertServicesTest {
 protected:
  void SetUp() override {
    AlertServicesTest::SetUp();
    UpdateTierParams pro;
    pro.name = "pro";
    pro.included_quota = std::optional<std::int64_t>(10);
    ASSERT_OK(tiers_->UpdateTier(std::move(pro)));
    quota_ = std::make_unique<QuotaTracker>(*store_);
    facts_ = std::make_unique<ServiceAlertFacts>(*keys_, *tiers_, *quota_, *store_);
    auto api = keys_->CreateApi("facts");
    ASSERT_TRUE(api.has_value());
    api_id_ = api->id;
  }

  std::string Key(std::string external_id, std::string tier = "", std::optional<std::int64_t> credits = std::nullopt) {
    CreateKeyParams params;
    params.api_id = api_id_;
    params.external_id = std::move(external_id);
    params.tier = std::move(tier);
    if (credits) params.credits = Credits{.remaining = *credits};
    auto created = keys_->CreateKey(std::move(params));
    EXPECT_TRUE(created.has_value()) << created.error().detail;
    return created ? created->key_id : "";
  }

  std::unique_ptr<QuotaTracker> quota_;
  std::unique_ptr<ServiceAlertFacts> facts_;
  std::string api_id_;
};

TEST_F(AlertFactsTest, AnIdentitysQuotaSubjectCarriesItsTierAndIncludedQuota) {
  auto identity = keys_->CreateIdentity({.external_id = "acme", .meta_json = "", .ratelimits = {}, .tier = "pro"});
  ASSERT_TRUE(identity.has_value()) << identity.error().detail;
  const auto facts = facts_->QuotaSubject("i:" + identity->id);
  ASSERT_TRUE(facts.has_value());
  EXPECT_EQ(facts->subject.key, "i:" + identity->id);
  EXPECT_EQ(facts->subject.identity_id, identity->id);
  EXPECT_EQ(facts->subject.external_id, "acme");
  EXPECT_EQ(facts->subject.tier, "pro");
  EXPECT_EQ(facts->included, 10);
  EXPECT_FALSE(facts_->QuotaSubject("i:id_gone").has_value());
  EXPECT_FALSE(facts_->QuotaSubject("x:what").has_value());
}

TEST_F(AlertFactsTest, AnIdentitysQuotaIsMeasuredAgainstTheTierItsKeysAreVerifiedWith) {
  // free: 10,000 a month (built in); pro: 10 (SetUp); enterprise: 50,000,000.
  auto acme = keys_->CreateIdentity({.external_id = "acme", .meta_json = "", .ratelimits = {}, .tier = "free"});
  ASSERT_TRUE(acme.has_value()) << acme.error().detail;
  const std::string subject = "i:" + acme->id;
  EXPECT_EQ(facts_->QuotaSubject(subject)->subject.tier, "free") << "no keys yet: the identity's own tier";
  Key("acme", "enterprise");
  EXPECT_EQ(facts_->QuotaSubject(subject)->subject.tier, "enterprise") << "its one key is verified as enterprise";
  EXPECT_EQ(facts_->QuotaSubject(subject)->included, 50'000'000);
  Key("acme", "pro");
  Key("acme");  // the identity's tier: free
  const auto mixed = facts_->QuotaSubject(subject);
  ASSERT_TRUE(mixed.has_value());
  EXPECT_EQ(mixed->subject.tier, "pro") << "keys on three tiers: the quota that runs out first";
  EXPECT_EQ(mixed->included, 10);
  EXPECT_EQ(facts_->BreachSubject("acme", "").tier, "pro") << "the same tier for every kind of rule";
}

TEST_F(AlertFactsTest, TheDefaultTierAppliesToIdentitiesAndKeysWithoutOne) {
  ASSERT_OK(tiers_->SetDefaultTier("pro"));
  auto globex = keys_->CreateIdentity({.external_id = "globex", .meta_json = "", .ratelimits = {}, .tier = ""});
  ASSERT_TRUE(globex.has_value()) << globex.error().detail;
  Key("globex");
  const auto identity = facts_->QuotaSubject("i:" + globex->id);
  ASSERT_TRUE(identity.has_value()) << "verified under the default tier, so measured against its quota";
  EXPECT_EQ(identity->subject.tier, "pro");
  EXPECT_EQ(identity->included, 10);
  const std::string lone = Key("");
  const auto key = facts_->QuotaSubject("k:" + lone);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->subject.tier, "pro");
}

TEST_F(AlertFactsTest, AKeyWithoutIdentityIsItsOwnSubjectAndATierWithoutQuotaHasNone) {
  const std::string pro_key = Key("", "pro");
  const auto facts = facts_->QuotaSubject("k:" + pro_key);
  ASSERT_TRUE(facts.has_value());
  EXPECT_EQ(facts->subject.key_id, pro_key);
  EXPECT_EQ(facts->subject.tier, "pro");
  const std::string untiered = Key("");
  EXPECT_FALSE(facts_->QuotaSubject("k:" + untiered).has_value()) << "no tier, no included quota";
}

TEST_F(AlertFactsTest, CountsComeFromThisNodesTrackerAndTheStore) {
  const int period = QuotaPeriodOf(clock_.NowMillis());
  quota_->Add("i:id_a", period, 7);
  EXPECT_EQ(facts_->QuotaUsed("i:id_a", period), 7);
  ASSERT_OK(quota_->Flush());
  auto stored = facts_->StoredQuotaUsage(period);
  ASSERT_TRUE(stored.has_value());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].used, 7);
}

TEST_F(AlertFactsTest, CreditsAreTheLiveBalanceOfKeysThatHaveThem) {
  const std::string limited = Key("acme", "", 42);
  const std::string unlimited = Key("acme");
  const auto credits = facts_->Credits(limited);
  ASSERT_TRUE(credits.has_value());
  EXPECT_EQ(credits->remaining, 42);
  EXPECT_EQ(credits->subject.key, "k:" + limited);
  EXPECT_EQ(credits->subject.external_id, "acme");
  EXPECT_FALSE(credits->subject.identity_id.empty()) << "createKey with an externalId made the identity";
  ASSERT_TRUE(keys_->UpdateCredits(limited, CreditOperation::kDecrement, 40).has_value());
  EXPECT_EQ(facts_->Credits(limited)->remaining, 2);
  EXPECT_FALSE(facts_->Credits(unlimited).has_value());
  EXPECT_FALSE(facts_->Credits("key_gone").has_value());
  const auto ids = facts_->KeyIds();
  EXPECT_EQ(ids.size(), 2u);
}

TEST_F(AlertFactsTest, BreachesCountTowardTheLiveIdentityElseTheKey) {
  const std::string key = Key("acme", "pro");
  const AlertSubject identity = facts_->BreachSubject("acme", key);
  EXPECT_TRUE(identity.key.starts_with("i:")) << identity.key;
  EXPECT_EQ(identity.external_id, "acme");
  const std::string lone = Key("", "pro");
  const AlertSubject own = facts_->BreachSubject("", lone);
  EXPECT_EQ(own.key, "k:" + lone);
  EXPECT_EQ(own.tier, "pro");
  const AlertSubject gone = facts_->BreachSubject("", "key_gone");
  EXPECT_EQ(gone.key, "k:key_gone");
}

}  // namespace
}  // namespace tollgate
