// KeyService's identities and tier names, with a real TierService behind TierNames: identity
// CRUD with Unkey v2 semantics, identity changes reaching the cached keys (what the next verify
// sees) without a restart, and tier names checked on keys and identities.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "events/inprocess/in_process_event_bus.h"
#include "events/outbox_relay.h"
#include "keys/key_service.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"

namespace tollgate {
namespace {

constexpr UnixMillis kStart = 1'700'000'000'000;

class IdentitiesWithTiersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    auto tiers = TierService::Create(*store_, clock_);
    ASSERT_TRUE(tiers.has_value()) << tiers.error().detail;
    tiers_ = std::move(*tiers);
    Restart();
    auto api = keys_->CreateApi("test-api");
    ASSERT_TRUE(api.has_value()) << api.error().detail;
    api_id_ = api->id;
    RelayEvents();  // the built-in tiers' tier.created, before anyone listens
    events_.Subscribe("identity.*", [this](const Event& event) { published_.push_back(event.type); });
  }

  // A new KeyService over the same store, as after a process restart.
  void Restart() {
    auto keys = KeyService::Create(*store_, clock_, tiers_.get());
    ASSERT_TRUE(keys.has_value()) << keys.error().detail;
    keys_ = std::move(*keys);
  }

  std::string NewKey(const std::string& external_id, const std::string& tier = "") {
    CreateKeyParams params;
    params.api_id = api_id_;
    params.prefix = "t";
    params.external_id = external_id;
    params.tier = tier;
    auto created = keys_->CreateKey(params);
    EXPECT_TRUE(created.has_value()) << created.error().detail;
    return created ? created->secret : std::string();
  }

  IdentityPtr IdentitySeenByVerify(const std::string& secret) {
    CachedKeyPtr entry = keys_->FindForVerify(secret);
    EXPECT_NE(entry, nullptr);
    return entry ? entry->identity : nullptr;
  }

  static CreateIdentityParams Acme() {
    CreateIdentityParams params;
    params.external_id = "acme";
    params.meta_json = R"({"plan":"gold"})";
    params.ratelimits = {RateLimitConfig{.id = "", .name = "requests", .limit = 10, .duration_ms = 60'000,
                                         .auto_apply = true, .algorithm = RateLimitAlgorithm::kTokenBucket}};
    params.tier = "pro";
    return params;
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
  std::unique_ptr<KeyService> keys_;
  std::string api_id_;
  std::vector<std::string> published_;
};

// ---- Identity CRUD ----

TEST_F(IdentitiesWithTiersTest, CreatedIdentityIsFoundByIdAndByExternalId) {
  auto created = keys_->CreateIdentity(Acme());
  ASSERT_OK(created);
  EXPECT_EQ(created->id.rfind("id_", 0), 0u) << created->id;
  EXPECT_EQ(created->created_at, kStart);
  ASSERT_EQ(created->ratelimits.size(), 1u);
  EXPECT_EQ(created->ratelimits[0].id.rfind("rl_", 0), 0u);  // ids are assigned

  for (const std::string& ref : {created->id, std::string("acme")}) {
    auto got = keys_->GetIdentity(ref);
    ASSERT_OK(got);
    EXPECT_EQ(got->id, created->id);
    EXPECT_EQ(got->meta_json, R"({"plan":"gold"})");
    EXPECT_EQ(got->tier, "pro");
    EXPECT_EQ(got->ratelimits.at(0).algorithm, RateLimitAlgorithm::kTokenBucket);
  }
  EXPECT_EQ(keys_->GetIdentity("nobody").error().code, ErrorCode::kNotFound);
  RelayEvents();
  EXPECT_EQ(published_, std::vector<std::string>{"identity.created"});

  auto stored = store_->GetIdentityById(created->id);
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->tier, "pro");
}

TEST_F(IdentitiesWithTiersTest, DuplicateExternalIdIsConflictEvenWhenAKeyCreatedIt) {
  NewKey("acme");  // brings "acme" into being, as Unkey does
  auto created = keys_->CreateIdentity(Acme());
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::kConflict);
  auto implicit = keys_->GetIdentity("acme");
  ASSERT_OK(implicit);
  EXPECT_TRUE(implicit->ratelimits.empty());
}

TEST_F(IdentitiesWithTiersTest, InvalidIdentityFieldsAreRefusedWithLocations) {
  CreateIdentityParams params = Acme();
  params.external_id = "";
  params.tier = "platinum";
  params.ratelimits[0].limit = 0;
  auto created = keys_->CreateIdentity(params);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidInput);
  std::vector<std::string> locations;
  for (const auto& field : created.error().fields) locations.push_back(field.location);
  EXPECT_EQ(locations, (std::vector<std::string>{"body.externalId", "body.ratelimits[0].limit", "body.tier"}));

  ASSERT_OK(keys_->CreateIdentity(Acme()));
  UpdateIdentityParams update;
  update.identity = "acme";
  update.tier = "platinum";
  auto updated = keys_->UpdateIdentity(update);
  ASSERT_FALSE(updated.has_value());
  EXPECT_EQ(updated.error().fields.at(0).location, "body.tier");
  EXPECT_EQ(keys_->GetIdentity("acme")->tier, "pro");
}

TEST_F(IdentitiesWithTiersTest, UpdateChangesOnlyTheGivenFields) {
  ASSERT_OK(keys_->CreateIdentity(Acme()));
  UpdateIdentityParams update;
  update.identity = "acme";
  update.meta_json = R"({"plan":"platinum"})";
  auto updated = keys_->UpdateIdentity(update);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->meta_json, R"({"plan":"platinum"})");
  EXPECT_EQ(updated->tier, "pro");
  EXPECT_EQ(updated->ratelimits.size(), 1u);

  update.meta_json.reset();
  update.ratelimits = std::vector<RateLimitConfig>{};
  update.tier = "";
  updated = keys_->UpdateIdentity(update);
  ASSERT_OK(updated);
  EXPECT_TRUE(updated->ratelimits.empty());
  EXPECT_EQ(updated->tier, "");
  EXPECT_EQ(updated->meta_json, R"({"plan":"platinum"})");

  update.identity = "nobody";
  EXPECT_EQ(keys_->UpdateIdentity(update).error().code, ErrorCode::kNotFound);
}

TEST_F(IdentitiesWithTiersTest, ListPagesThroughTheStore) {
  for (const char* external_id : {"acme", "globex", "initech"}) {
    CreateIdentityParams params;
    params.external_id = external_id;
    ASSERT_OK(keys_->CreateIdentity(params));
  }
  auto first = keys_->ListIdentities(std::nullopt, 2, std::nullopt);
  ASSERT_OK(first);
  EXPECT_EQ(first->identities.size(), 2u);
  ASSERT_TRUE(first->next_cursor.has_value());
  auto rest = keys_->ListIdentities(first->next_cursor, 2, std::nullopt);
  ASSERT_OK(rest);
  EXPECT_EQ(rest->identities.size(), 1u);
  EXPECT_FALSE(rest->next_cursor.has_value());
  auto search = keys_->ListIdentities(std::nullopt, 10, std::string("GLOB"));
  ASSERT_OK(search);
  ASSERT_EQ(search->identities.size(), 1u);
  EXPECT_EQ(search->identities[0].external_id, "globex");
}

// ---- Identity changes reach the cached keys ----

TEST_F(IdentitiesWithTiersTest, IdentityUpdateIsSeenByTheNextVerifyOfEveryKey) {
  ASSERT_OK(keys_->CreateIdentity(Acme()));
  const std::string first = NewKey("acme");
  const std::string second = NewKey("acme");
  const std::string other = NewKey("globex");
  IdentityPtr before = IdentitySeenByVerify(first);
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->meta_json, R"({"plan":"gold"})");
  EXPECT_EQ(before, IdentitySeenByVerify(second));  // one shared identity, not a copy per key

  UpdateIdentityParams update;
  update.identity = "acme";
  update.meta_json = R"({"plan":"platinum"})";
  update.tier = "enterprise";
  ASSERT_OK(keys_->UpdateIdentity(update));

  for (const std::string& secret : {first, second}) {
    IdentityPtr now = IdentitySeenByVerify(secret);
    ASSERT_NE(now, nullptr);
    EXPECT_EQ(now->meta_json, R"({"plan":"platinum"})");
    EXPECT_EQ(now->tier, "enterprise");
    EXPECT_EQ(now->ratelimits.size(), 1u);
    EXPECT_EQ(keys_->Verify(keys_->FindForVerify(secret), VerifyParams{}).code, VerifyCode::kValid);
  }
  EXPECT_EQ(before->meta_json, R"({"plan":"gold"})");  // a verify in flight keeps its snapshot
  EXPECT_EQ(IdentitySeenByVerify(other)->external_id, "globex");
  EXPECT_EQ(IdentitySeenByVerify(other)->meta_json, "");

  // getKey shows it too, and so does a restart (the store has it).
  auto view = keys_->Whoami(first);
  ASSERT_OK(view);
  ASSERT_TRUE(view->identity.has_value());
  EXPECT_EQ(view->identity->tier, "enterprise");
  Restart();
  EXPECT_EQ(IdentitySeenByVerify(second)->meta_json, R"({"plan":"platinum"})");
  EXPECT_EQ(IdentitySeenByVerify(second)->tier, "enterprise");
}

TEST_F(IdentitiesWithTiersTest, KeysCreatedBeforeTheExplicitIdentityShareIt) {
  const std::string secret = NewKey("acme");
  IdentityPtr implicit = IdentitySeenByVerify(secret);
  ASSERT_NE(implicit, nullptr);
  UpdateIdentityParams update;
  update.identity = implicit->id;
  update.ratelimits = std::vector{RateLimitConfig{.id = "", .name = "shared", .limit = 3, .duration_ms = 1'000,
                                                  .auto_apply = false, .algorithm = RateLimitAlgorithm::kFixedWindow}};
  ASSERT_OK(keys_->UpdateIdentity(update));
  IdentityPtr now = IdentitySeenByVerify(secret);
  ASSERT_EQ(now->ratelimits.size(), 1u);
  EXPECT_EQ(now->ratelimits[0].name, "shared");
  EXPECT_EQ(now->id, implicit->id);
}

TEST_F(IdentitiesWithTiersTest, MovingAKeyToAnotherIdentityMovesItInTheIndex) {
  ASSERT_OK(keys_->CreateIdentity(Acme()));
  const std::string secret = NewKey("acme");
  const std::string key_id = keys_->FindForVerify(secret)->key.id;
  UpdateKeyParams move;
  move.key_id = key_id;
  move.external_id = "globex";
  ASSERT_OK(keys_->UpdateKey(move));
  EXPECT_EQ(IdentitySeenByVerify(secret)->external_id, "globex");

  // An update of the old identity no longer touches the key.
  UpdateIdentityParams update;
  update.identity = "acme";
  update.meta_json = R"({"x":1})";
  ASSERT_OK(keys_->UpdateIdentity(update));
  EXPECT_EQ(IdentitySeenByVerify(secret)->external_id, "globex");
  EXPECT_EQ(keys_->cache().KeysOfIdentity("acme").size(), 0u);
  EXPECT_EQ(keys_->cache().KeysOfIdentity("globex").size(), 1u);
}

TEST_F(IdentitiesWithTiersTest, DeletedIdentityLeavesItsKeysWorkingWithoutIt) {
  auto acme = keys_->CreateIdentity(Acme());
  ASSERT_OK(acme);
  const std::string secret = NewKey("acme");
  ASSERT_OK(keys_->DeleteIdentity("acme"));
  EXPECT_EQ(keys_->DeleteIdentity("acme").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(keys_->GetIdentity(acme->id).error().code, ErrorCode::kNotFound);

  CachedKeyPtr entry = keys_->FindForVerify(secret);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->identity, nullptr);
  EXPECT_EQ(entry->key.external_id, "");
  EXPECT_EQ(keys_->Verify(entry, VerifyParams{}).code, VerifyCode::kValid);
  RelayEvents();
  EXPECT_EQ(published_, (std::vector<std::string>{"identity.created", "identity.deleted"}));

  // The external id is free; a new identity with it does not adopt the old keys.
  auto again = keys_->CreateIdentity(Acme());
  ASSERT_OK(again);
  EXPECT_NE(again->id, acme->id);
  EXPECT_EQ(keys_->FindForVerify(secret)->identity, nullptr);

  // Nor does a restart bring the deleted identity back.
  Restart();
  EXPECT_EQ(keys_->FindForVerify(secret)->identity, nullptr);
  EXPECT_EQ(keys_->GetIdentity("acme")->id, again->id);
}

TEST_F(IdentitiesWithTiersTest, VerifiesDuringIdentityUpdatesAlwaysSeeAWholeIdentity) {
  ASSERT_OK(keys_->CreateIdentity(Acme()));
  std::vector<std::string> secrets;
  for (int i = 0; i < 8; ++i) secrets.push_back(NewKey("acme"));
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::size_t i = static_cast<std::size_t>(t);
      while (!stop.load(std::memory_order_relaxed)) {
        CachedKeyPtr entry = keys_->FindForVerify(secrets[i++ % secrets.size()]);
        // Meta and tier are written together; a reader must see both old or both new.
        if (!entry || !entry->identity ||
            (entry->identity->meta_json == R"({"n":1})") != (entry->identity->tier == "enterprise")) {
          if (entry && entry->identity && entry->identity->meta_json == R"({"plan":"gold"})") continue;
          torn.fetch_add(1);
        }
      }
    });
  }
  for (int round = 0; round < 50; ++round) {
    UpdateIdentityParams update;
    update.identity = "acme";
    update.meta_json = round % 2 == 0 ? R"({"n":1})" : R"({"n":2})";
    update.tier = round % 2 == 0 ? "enterprise" : "free";
    ASSERT_OK(keys_->UpdateIdentity(update));
  }
  stop = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(torn.load(), 0);
}

// ---- Tier names on keys ----

TEST_F(IdentitiesWithTiersTest, KeyTierMustNameATierAndCanBeChangedOrCleared) {
  CreateKeyParams params;
  params.api_id = api_id_;
  params.tier = "platinum";
  auto refused = keys_->CreateKey(params);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(refused.error().fields.at(0).location, "body.tier");

  const std::string secret = NewKey("", "pro");
  const std::string key_id = keys_->FindForVerify(secret)->key.id;
  EXPECT_EQ(keys_->GetKey(key_id)->key.tier, "pro");

  UpdateKeyParams update;
  update.key_id = key_id;
  update.tier = "platinum";
  EXPECT_EQ(keys_->UpdateKey(update).error().fields.at(0).location, "body.tier");
  update.tier = "enterprise";
  ASSERT_OK(keys_->UpdateKey(update));
  EXPECT_EQ(keys_->FindForVerify(secret)->key.tier, "enterprise");
  update.tier = "";
  ASSERT_OK(keys_->UpdateKey(update));
  EXPECT_EQ(keys_->FindForVerify(secret)->key.tier, "");

  update.tier = "free";
  ASSERT_OK(keys_->UpdateKey(update));
  auto rerolled = keys_->RerollKey(key_id, 0);
  ASSERT_OK(rerolled);
  EXPECT_EQ(keys_->GetKey(rerolled->key_id)->key.tier, "free");  // reroll keeps the tier
  Restart();
  EXPECT_EQ(keys_->GetKey(rerolled->key_id)->key.tier, "free");
}

TEST_F(IdentitiesWithTiersTest, WithoutTierNamesNoTierIsAccepted) {
  auto keys = KeyService::Create(*store_, clock_);  // no TierNames
  ASSERT_OK(keys);
  CreateKeyParams params;
  params.api_id = api_id_;
  params.tier = "free";
  EXPECT_EQ((*keys)->CreateKey(params).error().code, ErrorCode::kInvalidInput);
  params.tier = "";
  EXPECT_TRUE((*keys)->CreateKey(params).has_value());
}

}  // namespace
}  // namespace tollgate
