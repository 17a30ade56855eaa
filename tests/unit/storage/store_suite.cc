// The cases of the Store contract (store_suite.h says how a backend runs them).

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <latch>
#include <map>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "result_assertions.h"

#include "temp_dir.h"

#include "storage/domain_events.h"
#include "store_suite.h"

namespace tollgate::store_suite {
namespace {

Key MinimalKey(const std::string& id, const std::string& api_id) {
  Key key;
  key.id = id;
  key.api_id = api_id;
  key.hash = "hash-of-" + id;
  key.start = "tg_" + id.substr(0, 4);
  key.created_at = 2'000;
  key.updated_at = 2'000;
  return key;
}

Key FullKey(const std::string& id, const std::string& api_id) {
  Key key = MinimalKey(id, api_id);
  key.name = "production backend";
  key.external_id = "user_123";
  key.meta_json = R"({"plan":"pro","seats":3,"nested":{"ok":true}})";
  key.enabled = false;
  key.expires = 1'900'000'000'000;
  key.credits = Credits{
      .remaining = 42,
      .refill = CreditRefill{.interval = RefillInterval::kMonthly, .amount = 100, .refill_day = 31},
      .last_refill_at = 1'700'000'000'123,
  };
  key.ratelimits = {
      RateLimitConfig{.id = "rl_1", .name = "requests", .limit = 10, .duration_ms = 60'000,
                      .auto_apply = true},
      RateLimitConfig{.id = "rl_2", .name = "tokens", .limit = 5'000, .duration_ms = 1'000,
                      .auto_apply = false, .algorithm = RateLimitAlgorithm::kGcra},
  };
  key.permissions = {"documents.read", "documents.write"};
  key.roles = {"admin", "billing"};
  key.tier = "pro";
  key.created_at = 1'700'000'000'000;
  key.updated_at = 1'700'000'000'500;
  return key;
}

// The model has no operator==, so keys are compared field by field; a failure names the field.
void ExpectSameKey(const Key& want, const Key& got) {
  SCOPED_TRACE("key " + want.id);
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.api_id, got.api_id);
  EXPECT_EQ(want.hash, got.hash);
  EXPECT_EQ(want.start, got.start);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.external_id, got.external_id);
  EXPECT_EQ(want.meta_json, got.meta_json);
  EXPECT_EQ(want.enabled, got.enabled);
  EXPECT_EQ(want.expires, got.expires);
  ASSERT_EQ(want.credits.has_value(), got.credits.has_value());
  if (want.credits) {
    EXPECT_EQ(want.credits->remaining, got.credits->remaining);
    EXPECT_EQ(want.credits->last_refill_at, got.credits->last_refill_at);
    ASSERT_EQ(want.credits->refill.has_value(), got.credits->refill.has_value());
    if (want.credits->refill) {
      EXPECT_EQ(want.credits->refill->interval, got.credits->refill->interval);
      EXPECT_EQ(want.credits->refill->amount, got.credits->refill->amount);
      EXPECT_EQ(want.credits->refill->refill_day, got.credits->refill->refill_day);
    }
  }
  ASSERT_EQ(want.ratelimits.size(), got.ratelimits.size());
  for (std::size_t i = 0; i < want.ratelimits.size(); ++i) {
    EXPECT_EQ(want.ratelimits[i].id, got.ratelimits[i].id);
    EXPECT_EQ(want.ratelimits[i].name, got.ratelimits[i].name);
    EXPECT_EQ(want.ratelimits[i].limit, got.ratelimits[i].limit);
    EXPECT_EQ(want.ratelimits[i].duration_ms, got.ratelimits[i].duration_ms);
    EXPECT_EQ(want.ratelimits[i].auto_apply, got.ratelimits[i].auto_apply);
    EXPECT_EQ(want.ratelimits[i].algorithm, got.ratelimits[i].algorithm);
  }
  EXPECT_EQ(want.permissions, got.permissions);
  EXPECT_EQ(want.roles, got.roles);
  EXPECT_EQ(want.tier, got.tier);
  EXPECT_EQ(want.created_at, got.created_at);
  EXPECT_EQ(want.updated_at, got.updated_at);
}

std::vector<std::string> Ids(const std::vector<Key>& keys) {
  std::vector<std::string> ids;
  for (const auto& key : keys) ids.push_back(key.id);
  return ids;
}

// ---- Keys: round trips and updates ----

TEST_P(StoreTest, RoundTripsFullyPopulatedKey) {
  AddApi("api_1");
  const Key key = FullKey("key_full", "api_1");
  ASSERT_OK(store_->InsertKey(key));

  auto got = store_->GetKey("key_full");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  ExpectSameKey(key, **got);
}

TEST_P(StoreTest, RoundTripsMinimalKey) {
  AddApi("api_1");
  const Key key = MinimalKey("key_min", "api_1");
  ASSERT_OK(store_->InsertKey(key));

  auto got = store_->GetKey("key_min");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  ExpectSameKey(key, **got);
}

TEST_P(StoreTest, RoundTripsCreditsWithoutRefillAndDailyRefill) {
  AddApi("api_1");
  Key no_refill = MinimalKey("key_a", "api_1");
  no_refill.credits = Credits{.remaining = 0, .refill = std::nullopt, .last_refill_at = 0};
  Key daily = MinimalKey("key_b", "api_1");
  daily.credits = Credits{
      .remaining = -3,  // stored as given; clamping is the key service's business
      .refill = CreditRefill{.interval = RefillInterval::kDaily, .amount = 7, .refill_day = 1},
      .last_refill_at = 86'400'000,
  };
  ASSERT_OK(store_->InsertKey(no_refill));
  ASSERT_OK(store_->InsertKey(daily));

  for (const Key* key : {&no_refill, &daily}) {
    auto got = store_->GetKey(key->id);
    ASSERT_OK(got);
    ASSERT_TRUE(got->has_value());
    ExpectSameKey(*key, **got);
  }
}

TEST_P(StoreTest, GetUnknownKeyIsEmpty) {
  auto got = store_->GetKey("key_nope");
  ASSERT_OK(got);
  EXPECT_FALSE(got->has_value());
}

TEST_P(StoreTest, UpdateKeyReplacesMutableFieldsOnly) {
  AddApi("api_1");
  ASSERT_OK(store_->InsertKey(FullKey("key_1", "api_1")));

  Key update = MinimalKey("key_1", "api_1");
  update.hash = "a different hash";  // immutable: ignored
  update.start = "ignored";          // immutable: ignored
  update.created_at = 1;             // immutable: ignored
  update.name = "renamed";
  update.enabled = true;
  update.credits = std::nullopt;
  update.ratelimits = {RateLimitConfig{.id = "rl_9", .name = "burst", .limit = 1,
                                       .duration_ms = 100, .auto_apply = true}};
  update.permissions = {"x"};
  update.updated_at = 1'800'000'000'000;
  ASSERT_OK(store_->UpdateKey(update));

  Key want = update;
  const Key original = FullKey("key_1", "api_1");
  want.hash = original.hash;
  want.start = original.start;
  want.created_at = original.created_at;
  auto got = store_->GetKey("key_1");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  ExpectSameKey(want, **got);
}

TEST_P(StoreTest, UpdateOfMissingKeyIsNotFound) {
  AddApi("api_1");
  EXPECT_ERROR(store_->UpdateKey(MinimalKey("key_nope", "api_1")), kNotFound);
}

TEST_P(StoreTest, UpdateCreditsWritesOnlyCredits) {
  AddApi("api_1");
  const Key key = FullKey("key_1", "api_1");
  ASSERT_OK(store_->InsertKey(key));

  const Credits credits{.remaining = 41, .refill = std::nullopt, .last_refill_at = 5};
  ASSERT_OK(store_->UpdateCredits("key_1", credits));
  Key want = key;
  want.credits = credits;
  auto got = store_->GetKey("key_1");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  ExpectSameKey(want, **got);

  ASSERT_OK(store_->UpdateCredits("key_1", std::nullopt));
  got = store_->GetKey("key_1");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_FALSE((*got)->credits.has_value());

  EXPECT_ERROR(store_->UpdateCredits("key_nope", credits), kNotFound);
}

// ---- Keys: conflicts and deletion ----

TEST_P(StoreTest, DuplicateHashIsConflict) {
  AddApi("api_1");
  ASSERT_OK(store_->InsertKey(MinimalKey("key_1", "api_1")));
  Key same_hash = MinimalKey("key_2", "api_1");
  same_hash.hash = MinimalKey("key_1", "api_1").hash;
  EXPECT_ERROR(store_->InsertKey(same_hash), kConflict);
}

TEST_P(StoreTest, InsertKeyIntoUnknownApiIsNotFound) {
  EXPECT_ERROR(store_->InsertKey(MinimalKey("key_1", "api_nope")), kNotFound);
}

TEST_P(StoreTest, SoftDeleteHidesKeyEverywhere) {
  AddApi("api_1");
  ASSERT_OK(store_->InsertKey(MinimalKey("key_1", "api_1")));
  ASSERT_OK(store_->InsertKey(MinimalKey("key_2", "api_1")));
  ASSERT_OK(store_->DeleteKey("key_1", /*permanent=*/false, 3'000));

  auto got = store_->GetKey("key_1");
  ASSERT_OK(got);
  EXPECT_FALSE(got->has_value());
  auto page = store_->ListKeys("api_1", std::nullopt, 10, std::nullopt);
  ASSERT_OK(page);
  EXPECT_EQ(Ids(page->keys), std::vector<std::string>{"key_2"});
  auto all = store_->LoadAllKeys();
  ASSERT_OK(all);
  EXPECT_EQ(Ids(*all), std::vector<std::string>{"key_2"});

  EXPECT_ERROR(store_->UpdateKey(MinimalKey("key_1", "api_1")), kNotFound);
  EXPECT_ERROR(store_->UpdateCredits("key_1", std::nullopt), kNotFound);
  EXPECT_ERROR(store_->DeleteKey("key_1", /*permanent=*/false, 4'000), kNotFound);
  EXPECT_ERROR(store_->DeleteKey("key_1", /*permanent=*/true, 4'000), kNotFound);
}

TEST_P(StoreTest, PermanentDeleteRemovesTheRow) {
  AddApi("api_1");
  ASSERT_OK(store_->InsertKey(MinimalKey("key_1", "api_1")));
  ASSERT_OK(store_->DeleteKey("key_1", /*permanent=*/true, 3'000));

  auto got = store_->GetKey("key_1");
  ASSERT_OK(got);
  EXPECT_FALSE(got->has_value());
  // A soft-deleted row would still hold its id and hash; a removed one frees both.
  ASSERT_OK(store_->InsertKey(MinimalKey("key_1", "api_1")));
}

TEST_P(StoreTest, DeleteOfMissingKeyIsNotFound) {
  EXPECT_ERROR(store_->DeleteKey("key_nope", /*permanent=*/false, 1), kNotFound);
  EXPECT_ERROR(store_->DeleteKey("key_nope", /*permanent=*/true, 1), kNotFound);
}

// ---- APIs ----

TEST_P(StoreTest, ApiRoundTripsAndDuplicateIsConflict) {
  ASSERT_OK(store_->InsertApi(Api{.id = "api_1", .name = "payments", .created_at = 77}));
  auto got = store_->GetApi("api_1");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->id, "api_1");
  EXPECT_EQ((*got)->name, "payments");
  EXPECT_EQ((*got)->created_at, 77);

  EXPECT_ERROR(store_->InsertApi(Api{.id = "api_1", .name = "again", .created_at = 78}), kConflict);
  auto missing = store_->GetApi("api_nope");
  ASSERT_OK(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_P(StoreTest, DeletingApiHidesItAndItsKeys) {
  AddApi("api_1");
  AddApi("api_2");
  ASSERT_OK(store_->InsertKey(MinimalKey("key_1", "api_1")));
  ASSERT_OK(store_->InsertKey(MinimalKey("key_2", "api_2")));
  ASSERT_OK(store_->DeleteApi("api_1", 5'000));

  auto api = store_->GetApi("api_1");
  ASSERT_OK(api);
  EXPECT_FALSE(api->has_value());
  auto key = store_->GetKey("key_1");
  ASSERT_OK(key);
  EXPECT_FALSE(key->has_value());
  auto page = store_->ListKeys("api_1", std::nullopt, 10, std::nullopt);
  ASSERT_OK(page);
  EXPECT_TRUE(page->keys.empty());
  auto all = store_->LoadAllKeys();
  ASSERT_OK(all);
  EXPECT_EQ(Ids(*all), std::vector<std::string>{"key_2"});

  EXPECT_ERROR(store_->InsertKey(MinimalKey("key_3", "api_1")), kNotFound);
  EXPECT_ERROR(store_->UpdateKey(MinimalKey("key_1", "api_1")), kNotFound);
  EXPECT_ERROR(store_->DeleteApi("api_1", 6'000), kNotFound);
}

TEST_P(StoreTest, DeleteOfMissingApiIsNotFound) {
  EXPECT_ERROR(store_->DeleteApi("api_nope", 1), kNotFound);
}

// ---- Listing ----

TEST_P(StoreTest, ListKeysPagesInIdOrderAcrossThreePages) {
  AddApi("api_1");
  AddApi("api_2");
  for (const char* id : {"key_05", "key_01", "key_07", "key_03", "key_02", "key_06", "key_04"}) {
    ASSERT_OK(store_->InsertKey(MinimalKey(id, "api_1")));
  }
  ASSERT_OK(store_->InsertKey(MinimalKey("key_00", "api_2")));  // another API: never listed
  ASSERT_OK(store_->InsertKey(MinimalKey("key_08", "api_2")));

  auto first = store_->ListKeys("api_1", std::nullopt, 3, std::nullopt);
  ASSERT_OK(first);
  EXPECT_EQ(Ids(first->keys), (std::vector<std::string>{"key_01", "key_02", "key_03"}));
  ASSERT_EQ(first->next_cursor, "key_03");

  auto second = store_->ListKeys("api_1", first->next_cursor, 3, std::nullopt);
  ASSERT_OK(second);
  EXPECT_EQ(Ids(second->keys), (std::vector<std::string>{"key_04", "key_05", "key_06"}));
  ASSERT_EQ(second->next_cursor, "key_06");

  auto third = store_->ListKeys("api_1", second->next_cursor, 3, std::nullopt);
  ASSERT_OK(third);
  EXPECT_EQ(Ids(third->keys), std::vector<std::string>{"key_07"});
  EXPECT_FALSE(third->next_cursor.has_value());
}

TEST_P(StoreTest, ListKeysFilteredByExternalIdAcrossThreePages) {
  AddApi("api_1");
  // Odd ids belong to alice, even ids to bob: the filter must skip bob's keys inside each page.
  for (int i = 1; i <= 14; ++i) {
    const std::string id = (i < 10 ? "key_0" : "key_") + std::to_string(i);
    Key key = MinimalKey(id, "api_1");
    key.external_id = i % 2 == 1 ? "alice" : "bob";
    ASSERT_OK(store_->InsertKey(key));
  }
  const std::optional<std::string> alice = "alice";

  auto first = store_->ListKeys("api_1", std::nullopt, 3, alice);
  ASSERT_OK(first);
  EXPECT_EQ(Ids(first->keys), (std::vector<std::string>{"key_01", "key_03", "key_05"}));
  ASSERT_EQ(first->next_cursor, "key_05");

  auto second = store_->ListKeys("api_1", first->next_cursor, 3, alice);
  ASSERT_OK(second);
  EXPECT_EQ(Ids(second->keys), (std::vector<std::string>{"key_07", "key_09", "key_11"}));
  ASSERT_EQ(second->next_cursor, "key_11");

  auto third = store_->ListKeys("api_1", second->next_cursor, 3, alice);
  ASSERT_OK(third);
  EXPECT_EQ(Ids(third->keys), std::vector<std::string>{"key_13"});
  EXPECT_FALSE(third->next_cursor.has_value());

  auto nobody = store_->ListKeys("api_1", std::nullopt, 3, std::optional<std::string>("carol"));
  ASSERT_OK(nobody);
  EXPECT_TRUE(nobody->keys.empty());
  EXPECT_FALSE(nobody->next_cursor.has_value());
}

TEST_P(StoreTest, ListKeysFullLastPageHasNoCursor) {
  AddApi("api_1");
  for (const char* id : {"key_1", "key_2", "key_3", "key_4"}) {
    ASSERT_OK(store_->InsertKey(MinimalKey(id, "api_1")));
  }
  auto first = store_->ListKeys("api_1", std::nullopt, 2, std::nullopt);
  ASSERT_OK(first);
  ASSERT_EQ(first->next_cursor, "key_2");
  auto second = store_->ListKeys("api_1", first->next_cursor, 2, std::nullopt);
  ASSERT_OK(second);
  EXPECT_EQ(Ids(second->keys), (std::vector<std::string>{"key_3", "key_4"}));
  EXPECT_FALSE(second->next_cursor.has_value());
}

TEST_P(StoreTest, LoadAllKeysReturnsEveryLiveKeyOfEveryLiveApi) {
  AddApi("api_1");
  AddApi("api_2");
  AddApi("api_3");
  const Key full = FullKey("key_a", "api_1");
  ASSERT_OK(store_->InsertKey(full));
  ASSERT_OK(store_->InsertKey(MinimalKey("key_b", "api_2")));
  ASSERT_OK(store_->InsertKey(MinimalKey("key_c", "api_2")));
  ASSERT_OK(store_->InsertKey(MinimalKey("key_d", "api_3")));
  ASSERT_OK(store_->DeleteKey("key_c", /*permanent=*/false, 9));
  ASSERT_OK(store_->DeleteApi("api_3", 9));

  auto all = store_->LoadAllKeys();
  ASSERT_OK(all);
  ASSERT_EQ(Ids(*all), (std::vector<std::string>{"key_a", "key_b"}));
  ExpectSameKey(full, all->front());
}

// ---- Identities ----

TEST_P(StoreTest, UpsertIdentityIsIdempotent) {
  auto created = store_->UpsertIdentity("cust_42", 1'000);
  ASSERT_OK(created);
  EXPECT_EQ(created->id.rfind("id_", 0), 0u) << created->id;
  EXPECT_EQ(created->external_id, "cust_42");
  EXPECT_EQ(created->meta_json, "");
  EXPECT_EQ(created->created_at, 1'000);

  auto again = store_->UpsertIdentity("cust_42", 2'000);
  ASSERT_OK(again);
  EXPECT_EQ(again->id, created->id);
  EXPECT_EQ(again->created_at, 1'000);

  auto other = store_->UpsertIdentity("cust_43", 2'000);
  ASSERT_OK(other);
  EXPECT_NE(other->id, created->id);

  auto found = store_->GetIdentityByExternalId("cust_42");
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, created->id);
  auto missing = store_->GetIdentityByExternalId("cust_nope");
  ASSERT_OK(missing);
  EXPECT_FALSE(missing->has_value());
}

Identity FullIdentity(const std::string& id, const std::string& external_id) {
  Identity identity;
  identity.id = id;
  identity.external_id = external_id;
  identity.meta_json = R"({"plan":"gold"})";
  identity.ratelimits = {
      RateLimitConfig{.id = "rl_i1", .name = "requests", .limit = 100, .duration_ms = 60'000,
                      .auto_apply = true, .algorithm = RateLimitAlgorithm::kTokenBucket},
  };
  identity.tier = "pro";
  identity.created_at = 1'000;
  return identity;
}

void ExpectSameIdentity(const Identity& want, const Identity& got) {
  SCOPED_TRACE("identity " + want.id);
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.external_id, got.external_id);
  EXPECT_EQ(want.meta_json, got.meta_json);
  ASSERT_EQ(want.ratelimits.size(), got.ratelimits.size());
  for (std::size_t i = 0; i < want.ratelimits.size(); ++i) {
    EXPECT_EQ(want.ratelimits[i].id, got.ratelimits[i].id);
    EXPECT_EQ(want.ratelimits[i].name, got.ratelimits[i].name);
    EXPECT_EQ(want.ratelimits[i].limit, got.ratelimits[i].limit);
    EXPECT_EQ(want.ratelimits[i].duration_ms, got.ratelimits[i].duration_ms);
    EXPECT_EQ(want.ratelimits[i].auto_apply, got.ratelimits[i].auto_apply);
    EXPECT_EQ(want.ratelimits[i].algorithm, got.ratelimits[i].algorithm);
  }
  EXPECT_EQ(want.tier, got.tier);
  EXPECT_EQ(want.created_at, got.created_at);
}

std::vector<std::string> IdentityIds(const std::vector<Identity>& identities) {
  std::vector<std::string> ids;
  for (const auto& identity : identities) ids.push_back(identity.id);
  return ids;
}

TEST_P(StoreTest, InsertedIdentityRoundTripsByIdAndExternalId) {
  const Identity identity = FullIdentity("id_1", "cust_1");
  ASSERT_OK(store_->InsertIdentity(identity));

  auto by_id = store_->GetIdentityById("id_1");
  ASSERT_OK(by_id);
  ASSERT_TRUE(by_id->has_value());
  ExpectSameIdentity(identity, **by_id);
  auto by_external = store_->GetIdentityByExternalId("cust_1");
  ASSERT_OK(by_external);
  ASSERT_TRUE(by_external->has_value());
  ExpectSameIdentity(identity, **by_external);
  // UpsertIdentity finds it rather than creating another.
  auto upserted = store_->UpsertIdentity("cust_1", 9'000);
  ASSERT_OK(upserted);
  ExpectSameIdentity(identity, *upserted);

  auto missing = store_->GetIdentityById("id_nope");
  ASSERT_OK(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_P(StoreTest, DuplicateLiveExternalIdIsConflict) {
  ASSERT_OK(store_->InsertIdentity(FullIdentity("id_1", "cust_1")));
  EXPECT_ERROR(store_->InsertIdentity(FullIdentity("id_2", "cust_1")), kConflict);
  EXPECT_ERROR(store_->InsertIdentity(FullIdentity("id_1", "cust_2")), kConflict);
}

TEST_P(StoreTest, UpdateIdentityReplacesMetaRatelimitsAndTierOnly) {
  ASSERT_OK(store_->InsertIdentity(FullIdentity("id_1", "cust_1")));
  Identity update;
  update.id = "id_1";
  update.external_id = "ignored";  // immutable
  update.created_at = 5;           // immutable
  update.meta_json = "";
  update.tier = "";
  ASSERT_OK(store_->UpdateIdentity(update, 1));

  auto got = store_->GetIdentityById("id_1");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  Identity want = update;
  want.external_id = "cust_1";
  want.created_at = 1'000;
  ExpectSameIdentity(want, **got);

  update.id = "id_nope";
  EXPECT_ERROR(store_->UpdateIdentity(update, 1), kNotFound);
}

TEST_P(StoreTest, DeletedIdentityIsHiddenFreesItsExternalIdAndDetachesItsKeys) {
  AddApi("api_1");
  ASSERT_OK(store_->InsertIdentity(FullIdentity("id_1", "cust_1")));
  ASSERT_OK(store_->InsertIdentity(FullIdentity("id_2", "cust_2")));
  Key mine = MinimalKey("key_1", "api_1");
  mine.external_id = "cust_1";
  Key other = MinimalKey("key_2", "api_1");
  other.external_id = "cust_2";
  ASSERT_OK(store_->InsertKey(mine));
  ASSERT_OK(store_->InsertKey(other));

  ASSERT_OK(store_->DeleteIdentity("id_1", 7'000));
  EXPECT_ERROR(store_->DeleteIdentity("id_1", 8'000), kNotFound);
  EXPECT_ERROR(store_->UpdateIdentity(FullIdentity("id_1", "cust_1"), 1), kNotFound);
  auto by_id = store_->GetIdentityById("id_1");
  ASSERT_OK(by_id);
  EXPECT_FALSE(by_id->has_value());
  auto by_external = store_->GetIdentityByExternalId("cust_1");
  ASSERT_OK(by_external);
  EXPECT_FALSE(by_external->has_value());
  auto all = store_->LoadAllIdentities();
  ASSERT_OK(all);
  EXPECT_EQ(IdentityIds(*all), std::vector<std::string>{"id_2"});

  // Its key keeps working without it; the other identity's key is untouched.
  auto key = store_->GetKey("key_1");
  ASSERT_OK(key);
  ASSERT_TRUE(key->has_value());
  EXPECT_EQ((*key)->external_id, "");
  key = store_->GetKey("key_2");
  ASSERT_OK(key);
  ASSERT_TRUE(key->has_value());
  EXPECT_EQ((*key)->external_id, "cust_2");

  // The external id is free again, for an explicit create and for an upsert alike.
  ASSERT_OK(store_->InsertIdentity(FullIdentity("id_3", "cust_1")));
  ASSERT_OK(store_->DeleteIdentity("id_3", 9'000));
  auto upserted = store_->UpsertIdentity("cust_1", 10'000);
  ASSERT_OK(upserted);
  EXPECT_NE(upserted->id, "id_1");
  EXPECT_NE(upserted->id, "id_3");
  EXPECT_TRUE(upserted->ratelimits.empty());
  EXPECT_EQ(upserted->tier, "");
}

TEST_P(StoreTest, ListIdentitiesPagesInIdOrderAndSearchesIgnoringCase) {
  for (const auto& [id, external_id] : std::vector<std::pair<std::string, std::string>>{
           {"id_a", "Acme-Corp"}, {"id_b", "globex"}, {"id_c", "acme-labs"}, {"id_d", "initech"},
           {"id_e", "umbrella"}}) {
    ASSERT_OK(store_->InsertIdentity(FullIdentity(id, external_id)));
  }
  ASSERT_OK(store_->DeleteIdentity("id_d", 1));

  auto first = store_->ListIdentities(std::nullopt, 2, std::nullopt);
  ASSERT_OK(first);
  EXPECT_EQ(IdentityIds(first->identities), (std::vector<std::string>{"id_a", "id_b"}));
  ASSERT_TRUE(first->next_cursor.has_value());
  auto second = store_->ListIdentities(first->next_cursor, 2, std::nullopt);
  ASSERT_OK(second);
  EXPECT_EQ(IdentityIds(second->identities), (std::vector<std::string>{"id_c", "id_e"}));
  EXPECT_FALSE(second->next_cursor.has_value());

  auto acme = store_->ListIdentities(std::nullopt, 10, std::string("ACME"));
  ASSERT_OK(acme);
  EXPECT_EQ(IdentityIds(acme->identities), (std::vector<std::string>{"id_a", "id_c"}));
  // The id matches too, and % is a literal character, not a wildcard.
  auto by_id = store_->ListIdentities(std::nullopt, 10, std::string("ID_E"));
  ASSERT_OK(by_id);
  EXPECT_EQ(IdentityIds(by_id->identities), std::vector<std::string>{"id_e"});
  auto percent = store_->ListIdentities(std::nullopt, 10, std::string("%"));
  ASSERT_OK(percent);
  EXPECT_TRUE(percent->identities.empty());
  auto paged_search = store_->ListIdentities(std::nullopt, 1, std::string("acme"));
  ASSERT_OK(paged_search);
  EXPECT_EQ(IdentityIds(paged_search->identities), std::vector<std::string>{"id_a"});
  paged_search = store_->ListIdentities(paged_search->next_cursor, 1, std::string("acme"));
  ASSERT_OK(paged_search);
  EXPECT_EQ(IdentityIds(paged_search->identities), std::vector<std::string>{"id_c"});
  EXPECT_FALSE(paged_search->next_cursor.has_value());

  EXPECT_ERROR(store_->ListIdentities(std::nullopt, 0, std::nullopt), kInvalidInput);
}

// ---- Tiers ----

Tier FullTier(const std::string& name) {
  Tier tier;
  tier.name = name;
  tier.description = "for " + name;
  tier.ratelimits = {
      RateLimitConfig{.id = "", .name = "requests", .limit = 10, .duration_ms = 1'000,
                      .auto_apply = true, .algorithm = RateLimitAlgorithm::kSlidingWindow},
      RateLimitConfig{.id = "", .name = "burst", .limit = 50, .duration_ms = 10'000,
                      .auto_apply = true, .algorithm = RateLimitAlgorithm::kFixedWindow},
  };
  tier.included_quota = 10'000;
  tier.overage_policy = OveragePolicy::kAllow;
  tier.grace_percent = 10;
  tier.pricing = Pricing{.currency = "EUR", .base_fee_minor = 4'900, .overage_unit_price_micros = 7};
  tier.builtin = false;
  tier.created_at = 100;
  tier.updated_at = 200;
  return tier;
}

void ExpectSameTier(const Tier& want, const Tier& got) {
  SCOPED_TRACE("tier " + want.name);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.description, got.description);
  ASSERT_EQ(want.ratelimits.size(), got.ratelimits.size());
  for (std::size_t i = 0; i < want.ratelimits.size(); ++i) {
    EXPECT_EQ(want.ratelimits[i].name, got.ratelimits[i].name);
    EXPECT_EQ(want.ratelimits[i].limit, got.ratelimits[i].limit);
    EXPECT_EQ(want.ratelimits[i].duration_ms, got.ratelimits[i].duration_ms);
    EXPECT_EQ(want.ratelimits[i].auto_apply, got.ratelimits[i].auto_apply);
    EXPECT_EQ(want.ratelimits[i].algorithm, got.ratelimits[i].algorithm);
  }
  EXPECT_EQ(want.included_quota, got.included_quota);
  EXPECT_EQ(want.overage_policy, got.overage_policy);
  EXPECT_EQ(want.throttle_to, got.throttle_to);
  EXPECT_EQ(want.grace_percent, got.grace_percent);
  EXPECT_EQ(want.pricing.currency, got.pricing.currency);
  EXPECT_EQ(want.pricing.base_fee_minor, got.pricing.base_fee_minor);
  EXPECT_EQ(want.pricing.overage_unit_price_micros, got.pricing.overage_unit_price_micros);
  EXPECT_EQ(want.builtin, got.builtin);
  EXPECT_EQ(want.created_at, got.created_at);
  EXPECT_EQ(want.updated_at, got.updated_at);
}

TEST_P(StoreTest, TiersRoundTripAndListByName) {
  Tier unlimited = FullTier("unlimited");
  unlimited.included_quota = std::nullopt;
  unlimited.ratelimits.clear();
  unlimited.builtin = true;
  Tier throttled = FullTier("basic");
  throttled.overage_policy = OveragePolicy::kThrottle;
  throttled.throttle_to = "unlimited";
  throttled.included_quota = 0;
  ASSERT_OK(store_->InsertTier(unlimited));
  ASSERT_OK(store_->InsertTier(throttled));
  EXPECT_ERROR(store_->InsertTier(FullTier("basic")), kConflict);

  auto got = store_->GetTier("unlimited");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  ExpectSameTier(unlimited, **got);
  auto missing = store_->GetTier("nope");
  ASSERT_OK(missing);
  EXPECT_FALSE(missing->has_value());

  auto all = store_->ListTiers();
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2u);
  ExpectSameTier(throttled, (*all)[0]);
  ExpectSameTier(unlimited, (*all)[1]);
}

TEST_P(StoreTest, UpdateTierReplacesAllButNameBuiltinAndCreatedAt) {
  ASSERT_OK(store_->InsertTier(FullTier("gold")));
  Tier update = FullTier("gold");
  update.description = "changed";
  update.ratelimits.pop_back();
  update.included_quota = std::nullopt;
  update.overage_policy = OveragePolicy::kBlock;
  update.grace_percent = 0;
  update.pricing = Pricing{.currency = "USD", .base_fee_minor = 0, .overage_unit_price_micros = 0};
  update.builtin = true;   // immutable
  update.created_at = 1;   // immutable
  update.updated_at = 999;
  ASSERT_OK(store_->UpdateTier(update));

  Tier want = update;
  want.builtin = false;
  want.created_at = 100;
  auto got = store_->GetTier("gold");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  ExpectSameTier(want, **got);
  EXPECT_ERROR(store_->UpdateTier(FullTier("nope")), kNotFound);
}

TEST_P(StoreTest, SchemaRefusesInconsistentTiers) {
  Tier no_target = FullTier("a");
  no_target.overage_policy = OveragePolicy::kThrottle;
  EXPECT_FALSE(store_->InsertTier(no_target).has_value());
  Tier stray_target = FullTier("b");
  stray_target.throttle_to = "a";  // but the policy is allow
  EXPECT_FALSE(store_->InsertTier(stray_target).has_value());
  Tier too_much_grace = FullTier("c");
  too_much_grace.grace_percent = 101;
  EXPECT_FALSE(store_->InsertTier(too_much_grace).has_value());
  auto all = store_->ListTiers();
  ASSERT_OK(all);
  EXPECT_TRUE(all->empty());
}

TEST_P(StoreTest, TierInUseIsNotDeletedAndItsUsageIsCounted) {
  AddApi("api_1");
  AddApi("api_2");
  ASSERT_OK(store_->InsertTier(FullTier("gold")));
  ASSERT_OK(store_->InsertTier(FullTier("silver")));
  Tier throttler = FullTier("bronze");
  throttler.overage_policy = OveragePolicy::kThrottle;
  throttler.throttle_to = "gold";
  ASSERT_OK(store_->InsertTier(throttler));
  Identity identity = FullIdentity("id_1", "cust_1");
  identity.tier = "gold";
  ASSERT_OK(store_->InsertIdentity(identity));
  Identity gone = FullIdentity("id_2", "cust_2");
  gone.tier = "gold";
  ASSERT_OK(store_->InsertIdentity(gone));
  ASSERT_OK(store_->DeleteIdentity("id_2", 1));  // deleted users do not count
  for (const char* id : {"key_1", "key_2"}) {
    Key key = MinimalKey(id, "api_1");
    key.tier = "gold";
    ASSERT_OK(store_->InsertKey(key));
  }
  Key deleted_key = MinimalKey("key_3", "api_1");
  deleted_key.tier = "gold";
  ASSERT_OK(store_->InsertKey(deleted_key));
  ASSERT_OK(store_->DeleteKey("key_3", /*permanent=*/false, 1));
  Key deleted_api_key = MinimalKey("key_4", "api_2");
  deleted_api_key.tier = "gold";
  ASSERT_OK(store_->InsertKey(deleted_api_key));
  ASSERT_OK(store_->DeleteApi("api_2", 1));

  auto usage = store_->DeleteTierIfUnused("gold", 5'000);
  ASSERT_OK(usage);
  EXPECT_EQ(usage->identities, 1);
  EXPECT_EQ(usage->keys, 2);
  EXPECT_EQ(usage->throttling_tiers, 1);
  EXPECT_FALSE(usage->unused());
  auto still = store_->GetTier("gold");
  ASSERT_OK(still);
  EXPECT_TRUE(still->has_value());

  usage = store_->DeleteTierIfUnused("silver", 5'000);
  ASSERT_OK(usage);
  EXPECT_TRUE(usage->unused());
  auto gone_tier = store_->GetTier("silver");
  ASSERT_OK(gone_tier);
  EXPECT_FALSE(gone_tier->has_value());
  EXPECT_ERROR(store_->DeleteTierIfUnused("silver", 5'000), kNotFound);
}

// ---- Root keys ----

TEST_P(StoreTest, RootKeysInsertListDelete) {
  const RootKey later{.id = "rk_b", .hash = "hash-b", .start = "tg_root_b", .name = "",
                      .permissions = {}, .created_at = 200};
  const RootKey earlier{.id = "rk_a", .hash = "hash-a", .start = "tg_root_a", .name = "ci",
                        .permissions = {"api.*.create_key", "*"}, .created_at = 100};
  ASSERT_OK(store_->InsertRootKey(later));
  ASSERT_OK(store_->InsertRootKey(earlier));
  EXPECT_ERROR(store_->InsertRootKey(RootKey{.id = "rk_c", .hash = "hash-a", .start = "x",
                                             .name = "", .permissions = {}, .created_at = 300}),
               kConflict);

  auto listed = store_->ListRootKeys();
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 2u);
  const RootKey& first = (*listed)[0];
  EXPECT_EQ(first.id, earlier.id);
  EXPECT_EQ(first.hash, earlier.hash);
  EXPECT_EQ(first.start, earlier.start);
  EXPECT_EQ(first.name, earlier.name);
  EXPECT_EQ(first.permissions, earlier.permissions);
  EXPECT_EQ(first.created_at, earlier.created_at);
  EXPECT_EQ((*listed)[1].id, later.id);
  EXPECT_TRUE((*listed)[1].permissions.empty());

  ASSERT_OK(store_->DeleteRootKey("rk_a", 9'000));
  EXPECT_ERROR(store_->DeleteRootKey("rk_a", 9'000), kNotFound);
  listed = store_->ListRootKeys();
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, "rk_b");
}

// ---- Rate limit namespaces and overrides ----

RatelimitOverride Override(const std::string& id, const std::string& namespace_id, const std::string& identifier,
                           std::int64_t limit, UnixMillis at) {
  return RatelimitOverride{.id = id,
                           .namespace_id = namespace_id,
                           .identifier = identifier,
                           .limit = limit,
                           .duration_ms = 60'000,
                           .created_at = at,
                           .updated_at = at};
}

TEST_P(StoreTest, RatelimitNamespaceUpsertIsIdempotentByName) {
  auto created = store_->UpsertRatelimitNamespace({.id = "rlns_1", .name = "api.requests", .created_at = 10});
  ASSERT_OK(created);
  EXPECT_EQ(created->id, "rlns_1");
  auto again = store_->UpsertRatelimitNamespace({.id = "rlns_2", .name = "api.requests", .created_at = 20});
  ASSERT_OK(again);
  EXPECT_EQ(again->id, "rlns_1") << "the stored namespace wins over the candidate";
  EXPECT_EQ(again->created_at, 10);
  ASSERT_OK(store_->UpsertRatelimitNamespace({.id = "rlns_3", .name = "login", .created_at = 30}));

  auto all = store_->LoadAllRatelimitNamespaces();
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "api.requests");
  EXPECT_EQ((*all)[1].id, "rlns_3");
  EXPECT_EQ((*all)[1].created_at, 30);
}

TEST_P(StoreTest, RatelimitOverrideUpsertReplacesLimitKeepingIdAndCreatedAt) {
  ASSERT_OK(store_->UpsertRatelimitNamespace({.id = "rlns_1", .name = "api", .created_at = 1}));
  auto first = store_->UpsertRatelimitOverride(Override("rlor_1", "rlns_1", "premium_*", 100, 10));
  ASSERT_OK(first);
  EXPECT_EQ(first->id, "rlor_1");
  EXPECT_EQ(first->limit, 100);
  EXPECT_EQ(first->duration_ms, 60'000);

  RatelimitOverride replacement = Override("rlor_2", "rlns_1", "premium_*", 0, 20);
  replacement.duration_ms = 5'000;
  auto second = store_->UpsertRatelimitOverride(replacement);
  ASSERT_OK(second);
  EXPECT_EQ(second->id, "rlor_1");
  EXPECT_EQ(second->namespace_id, "rlns_1");
  EXPECT_EQ(second->identifier, "premium_*");
  EXPECT_EQ(second->limit, 0);
  EXPECT_EQ(second->duration_ms, 5'000);
  EXPECT_EQ(second->created_at, 10);
  EXPECT_EQ(second->updated_at, 20);

  auto all = store_->LoadAllRatelimitOverrides();
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].limit, 0);
}

TEST_P(StoreTest, RatelimitOverrideNeedsItsNamespace) {
  EXPECT_ERROR(store_->UpsertRatelimitOverride(Override("rlor_1", "rlns_missing", "x", 1, 10)), kConflict);
  ASSERT_OK(store_->UpsertRatelimitNamespace({.id = "rlns_1", .name = "api", .created_at = 1}));
  RatelimitOverride negative = Override("rlor_2", "rlns_1", "x", -1, 10);
  EXPECT_ERROR(store_->UpsertRatelimitOverride(negative), kConflict);  // the schema's CHECK
}

TEST_P(StoreTest, DeletedRatelimitOverrideIsHiddenAndFreesItsIdentifier) {
  ASSERT_OK(store_->UpsertRatelimitNamespace({.id = "rlns_1", .name = "api", .created_at = 1}));
  ASSERT_OK(store_->UpsertRatelimitNamespace({.id = "rlns_2", .name = "other", .created_at = 1}));
  ASSERT_OK(store_->UpsertRatelimitOverride(Override("rlor_1", "rlns_1", "vip", 5, 10)));
  ASSERT_OK(store_->UpsertRatelimitOverride(Override("rlor_2", "rlns_2", "vip", 6, 10)));

  ASSERT_OK(store_->DeleteRatelimitOverride("rlns_1", "vip", 30));
  EXPECT_ERROR(store_->DeleteRatelimitOverride("rlns_1", "vip", 31), kNotFound);
  EXPECT_ERROR(store_->DeleteRatelimitOverride("rlns_1", "never", 31), kNotFound);
  auto live = store_->LoadAllRatelimitOverrides();
  ASSERT_OK(live);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].id, "rlor_2") << "the other namespace's override of the same identifier stays";

  auto recreated = store_->UpsertRatelimitOverride(Override("rlor_3", "rlns_1", "vip", 7, 40));
  ASSERT_OK(recreated);
  EXPECT_EQ(recreated->id, "rlor_3") << "a deleted override is not revived";
  EXPECT_EQ(recreated->created_at, 40);
}

TEST_P(StoreTest, ListRatelimitOverridesPagesInIdOrderWithinOneNamespace) {
  ASSERT_OK(store_->UpsertRatelimitNamespace({.id = "rlns_1", .name = "api", .created_at = 1}));
  ASSERT_OK(store_->UpsertRatelimitNamespace({.id = "rlns_2", .name = "other", .created_at = 1}));
  for (const char* id : {"rlor_e", "rlor_a", "rlor_d", "rlor_b", "rlor_c"}) {
    ASSERT_OK(store_->UpsertRatelimitOverride(Override(id, "rlns_1", std::string("user_") + id, 1, 10)));
  }
  ASSERT_OK(store_->UpsertRatelimitOverride(Override("rlor_0", "rlns_2", "user_x", 1, 10)));
  ASSERT_OK(store_->DeleteRatelimitOverride("rlns_1", "user_rlor_d", 20));

  std::vector<std::string> ids;
  std::optional<std::string> cursor;
  int pages = 0;
  do {
    auto page = store_->ListRatelimitOverrides("rlns_1", cursor, 2);
    ASSERT_OK(page);
    for (const RatelimitOverride& row : page->overrides) ids.push_back(row.id);
    cursor = page->next_cursor;
    ++pages;
  } while (cursor && pages < 10);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(ids, (std::vector<std::string>{"rlor_a", "rlor_b", "rlor_c", "rlor_e"}));

  auto empty = store_->ListRatelimitOverrides("rlns_missing", std::nullopt, 10);
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->overrides.empty());
  EXPECT_FALSE(empty->next_cursor.has_value());
  EXPECT_ERROR(store_->ListRatelimitOverrides("rlns_1", std::nullopt, 0), kInvalidInput);
}

// ---- Health and concurrency ----

TEST_P(StoreTest, PingsAndReportsSchemaVersion) {
  ASSERT_OK(store_->Ping());
  auto version = store_->SchemaVersion();
  ASSERT_OK(version);
  EXPECT_GE(*version, 1);
}

TEST_P(StoreTest, ConcurrentWritersAndReadersAllSucceed) {
  AddApi("api_1");
  constexpr int kThreads = 4;
  constexpr int kWritesPerThread = 50;
  for (int t = 0; t < kThreads; ++t) {
    Key key = MinimalKey("key_" + std::to_string(t), "api_1");
    key.credits = Credits{.remaining = 0, .refill = std::nullopt, .last_refill_at = 0};
    ASSERT_OK(store_->InsertKey(key));
  }
  std::vector<std::vector<std::string>> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &failures] {
      const std::string id = "key_" + std::to_string(t);
      for (int i = 1; i <= kWritesPerThread; ++i) {
        const Credits credits{.remaining = i, .refill = std::nullopt, .last_refill_at = i};
        if (auto s = store_->UpdateCredits(id, credits); !s) failures[t].push_back(s.error().detail);
        if (auto k = store_->GetKey(id); !k) failures[t].push_back(k.error().detail);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(failures[t].empty()) << failures[t].front();
    auto got = store_->GetKey("key_" + std::to_string(t));
    ASSERT_OK(got);
    ASSERT_TRUE(got->has_value());
    ASSERT_TRUE((*got)->credits.has_value());
    EXPECT_EQ((*got)->credits->remaining, kWritesPerThread);
  }
}

constexpr UnixMillis kQueryBase = 1'706'745'480'000;

std::vector<UsageEvent> AnalyticsEvents() {
  const UnixMillis t = kQueryBase;
  return {
      {t + 1'000, "api_1", "key_a", "acme", "VALID", 2, {"path=/a", "plan=x"}, "", "verify"},
      {t + 2'000, "api_1", "key_a", "acme", "VALID", 3, {"path=/a"}, "", "verify"},
      {t + 3'000, "api_1", "key_a", "acme", "RATE_LIMITED", 0, {}, "per-minute", "verify"},
      {t + 61'000, "api_2", "key_b", "globex", "VALID", 1, {}, "", "verify"},
      {t + 62'000, "api_2", "key_b", "globex", "USAGE_EXCEEDED", 0, {}, "", "verify"},
      {t + 125'000, "api_1", "key_a", "acme", "VALID", 4, {}, "", "verify"},  // February
      {t + 126'000, "", "", "", "NOT_FOUND", 0, {}, "", "verify"},
  };
}

TEST_P(StoreTest, UsageSummaryCountsByCodeAndFilters) {
  ASSERT_OK(store_->WriteUsage(AnalyticsEvents()));
  auto all = store_->Summary({.from = kQueryBase, .to = kQueryBase + 180'000});
  ASSERT_OK(all);
  EXPECT_EQ(all->total, 7);
  EXPECT_EQ(all->credits_spent, 10);
  EXPECT_EQ(all->by_code, (std::map<std::string, std::int64_t>{
                              {"VALID", 4}, {"RATE_LIMITED", 1}, {"USAGE_EXCEEDED", 1}, {"NOT_FOUND", 1}}));

  auto key_a = store_->Summary({.from = kQueryBase, .to = kQueryBase + 180'000, .key_id = "key_a"});
  ASSERT_OK(key_a);
  EXPECT_EQ(key_a->total, 4);
  EXPECT_EQ(key_a->credits_spent, 9);
  auto globex = store_->Summary({.from = kQueryBase, .to = kQueryBase + 180'000, .external_id = "globex"});
  ASSERT_OK(globex);
  EXPECT_EQ(globex->by_code, (std::map<std::string, std::int64_t>{{"VALID", 1}, {"USAGE_EXCEEDED", 1}}));
  // Half-open: the first minute only.
  auto first_minute = store_->Summary({.from = kQueryBase, .to = kQueryBase + 60'000});
  ASSERT_OK(first_minute);
  EXPECT_EQ(first_minute->total, 3);
  // api_id reads the raw events, to the millisecond.
  auto api_1 = store_->Summary({.from = kQueryBase + 2'000, .to = kQueryBase + 180'000, .api_id = "api_1"});
  ASSERT_OK(api_1);
  EXPECT_EQ(api_1->total, 3);
  EXPECT_EQ(api_1->credits_spent, 7);
  auto empty = store_->Summary({.from = 0, .to = kQueryBase});
  ASSERT_OK(empty);
  EXPECT_EQ(empty->total, 0);
  EXPECT_TRUE(empty->by_code.empty());
}

TEST_P(StoreTest, UsageTimeseriesBucketsAndGroups) {
  ASSERT_OK(store_->WriteUsage(AnalyticsEvents()));
  const UsageFilter range{.from = kQueryBase, .to = kQueryBase + 180'000};
  auto minutes = store_->Timeseries(range, UsageGranularity::kMinute, UsageGroupBy::kNone);
  ASSERT_OK(minutes);
  ASSERT_EQ(minutes->size(), 3u);
  EXPECT_EQ((*minutes)[0].time, kQueryBase);
  EXPECT_EQ((*minutes)[0].count, 3);
  EXPECT_EQ((*minutes)[0].credits, 5);
  EXPECT_EQ((*minutes)[1].time, kQueryBase + 60'000);
  EXPECT_EQ((*minutes)[1].count, 2);
  EXPECT_EQ((*minutes)[2].time, kQueryBase + 120'000);
  EXPECT_EQ((*minutes)[2].count, 2);

  auto months = store_->Timeseries(range, UsageGranularity::kMonth, UsageGroupBy::kKey);
  ASSERT_OK(months);
  ASSERT_EQ(months->size(), 4u);  // January: key_a, key_b; February: "" (NOT_FOUND), key_a
  EXPECT_EQ((*months)[0].time, 1'704'067'200'000);
  EXPECT_EQ((*months)[0].group, "key_a");
  EXPECT_EQ((*months)[0].count, 3);
  EXPECT_EQ((*months)[1].group, "key_b");
  EXPECT_EQ((*months)[2].time, 1'706'745'600'000);
  EXPECT_EQ((*months)[2].group, "");
  EXPECT_EQ((*months)[3].group, "key_a");
  EXPECT_EQ((*months)[3].credits, 4);

  auto outcomes = store_->Timeseries(range, UsageGranularity::kDay, UsageGroupBy::kOutcome);
  ASSERT_OK(outcomes);
  ASSERT_EQ(outcomes->size(), 5u);  // Jan 31: RATE_LIMITED, USAGE_EXCEEDED, VALID; Feb 1: NOT_FOUND, VALID
  EXPECT_EQ((*outcomes)[2].group, "VALID");
  EXPECT_EQ((*outcomes)[2].count, 3);

  // Raw (api_id): same buckets as the rollups.
  UsageFilter api_1 = range;
  api_1.api_id = "api_1";
  auto raw = store_->Timeseries(api_1, UsageGranularity::kMonth, UsageGroupBy::kIdentity);
  ASSERT_OK(raw);
  ASSERT_EQ(raw->size(), 2u);
  EXPECT_EQ((*raw)[0].time, 1'704'067'200'000);
  EXPECT_EQ((*raw)[0].group, "acme");
  EXPECT_EQ((*raw)[0].count, 3);
  EXPECT_EQ((*raw)[1].time, 1'706'745'600'000);
  EXPECT_EQ((*raw)[1].count, 1);

  // By tag (raw): an event under each of its tags; untagged events are not counted.
  auto tags = store_->Timeseries(range, UsageGranularity::kHour, UsageGroupBy::kTag);
  ASSERT_OK(tags);
  ASSERT_EQ(tags->size(), 2u);
  EXPECT_EQ((*tags)[0].time, kQueryBase - 58 * 60'000);
  EXPECT_EQ((*tags)[0].group, "path=/a");
  EXPECT_EQ((*tags)[0].count, 2);
  EXPECT_EQ((*tags)[0].credits, 5);
  EXPECT_EQ((*tags)[1].group, "plan=x");
  EXPECT_EQ((*tags)[1].count, 1);
}

TEST_P(StoreTest, UsageTopRanksKeysAndIdentities) {
  ASSERT_OK(store_->WriteUsage(AnalyticsEvents()));
  const UsageFilter range{.from = kQueryBase, .to = kQueryBase + 180'000};
  auto keys = store_->Top(range, false, 10);
  ASSERT_OK(keys);
  ASSERT_EQ(keys->size(), 2u);  // NOT_FOUND has no key and is not ranked
  EXPECT_EQ((*keys)[0].id, "key_a");
  EXPECT_EQ((*keys)[0].count, 4);
  EXPECT_EQ((*keys)[0].valid, 3);
  EXPECT_EQ((*keys)[1].id, "key_b");
  EXPECT_EQ((*keys)[1].count, 2);
  auto identities = store_->Top(range, true, 1);
  ASSERT_OK(identities);
  ASSERT_EQ(identities->size(), 1u);
  EXPECT_EQ((*identities)[0].id, "acme");
}

// Metered usage over the same minutes as AnalyticsEvents.
std::vector<MeterEvent> MeterEvents() {
  const UnixMillis t = kQueryBase;
  return {
      {"evt_1", t + 1'000, "acme", "key_a", "tokens", 1'200},
      {"evt_2", t + 2'000, "acme", "", "tokens", 800},
      {"evt_3", t + 61'000, "acme", "", "images", 3},
      {"evt_4", t + 62'000, "globex", "key_b", "tokens", 50},
      {"evt_5", t + 125'000, "acme", "key_a", "tokens", 7},  // February
  };
}

TEST_P(StoreTest, MeterIngestIgnoresKnownEventIds) {
  const auto events = MeterEvents();
  auto first = store_->IngestMeterEvents(events, kQueryBase + 200'000);
  ASSERT_OK(first);
  EXPECT_EQ(first->ingested, 5);
  EXPECT_TRUE(first->duplicates.empty());

  // The same batch again, plus a new event and a repeat inside the batch.
  auto again = events;
  again.push_back({"evt_6", kQueryBase + 3'000, "acme", "", "tokens", 100});
  again.push_back({"evt_6", kQueryBase + 4'000, "acme", "", "tokens", 999});
  auto second = store_->IngestMeterEvents(again, kQueryBase + 300'000);
  ASSERT_OK(second);
  EXPECT_EQ(second->ingested, 1);
  EXPECT_EQ(second->duplicates, (std::vector<std::string>{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5", "evt_6"}));

  auto summary = store_->Summary({.from = kQueryBase, .to = kQueryBase + 180'000, .external_id = "acme"});
  ASSERT_OK(summary);
  ASSERT_EQ(summary->meters.size(), 2u);
  EXPECT_EQ(summary->meters["tokens"].count, 4);
  EXPECT_EQ(summary->meters["tokens"].quantity, 1'200 + 800 + 7 + 100);
  EXPECT_EQ(summary->meters["images"].quantity, 3);
  EXPECT_EQ(summary->total, 0);  // no verifications were written
  auto by_api = store_->Summary({.from = kQueryBase, .to = kQueryBase + 180'000, .api_id = "api_1"});
  ASSERT_OK(by_api);
  EXPECT_TRUE(by_api->meters.empty());  // meters have no API
}

TEST_P(StoreTest, MeterTimeseriesGroupsByMeter) {
  ASSERT_OK(store_->IngestMeterEvents(MeterEvents(), kQueryBase));
  ASSERT_OK(store_->WriteUsage(AnalyticsEvents()));  // verifications stay out of the meter series
  auto minutes = store_->Timeseries({.from = kQueryBase, .to = kQueryBase + 180'000}, UsageGranularity::kMinute,
                                    UsageGroupBy::kMeter);
  ASSERT_OK(minutes);
  ASSERT_EQ(minutes->size(), 4u);
  EXPECT_EQ((*minutes)[0].time, kQueryBase);
  EXPECT_EQ((*minutes)[0].group, "tokens");
  EXPECT_EQ((*minutes)[0].count, 2);
  EXPECT_EQ((*minutes)[0].quantity, 2'000);
  EXPECT_EQ((*minutes)[1].time, kQueryBase + 60'000);
  EXPECT_EQ((*minutes)[1].group, "images");
  EXPECT_EQ((*minutes)[2].group, "tokens");
  EXPECT_EQ((*minutes)[2].quantity, 50);
  EXPECT_EQ((*minutes)[3].time, kQueryBase + 120'000);
  EXPECT_EQ((*minutes)[3].quantity, 7);

  auto key_a_months = store_->Timeseries({.from = kQueryBase, .to = kQueryBase + 180'000, .key_id = "key_a"},
                                         UsageGranularity::kMonth, UsageGroupBy::kMeter);
  ASSERT_OK(key_a_months);
  ASSERT_EQ(key_a_months->size(), 2u);
  EXPECT_EQ((*key_a_months)[0].time, 1'704'067'200'000);  // 2024-01-01
  EXPECT_EQ((*key_a_months)[0].quantity, 1'200);
  EXPECT_EQ((*key_a_months)[1].time, 1'706'745'600'000);  // 2024-02-01
  EXPECT_EQ((*key_a_months)[1].quantity, 7);
}

TEST_P(StoreTest, MeterPruneForgetsOldIdsButKeepsRollups) {
  const auto events = MeterEvents();
  ASSERT_OK(store_->IngestMeterEvents(std::span(events).first(2), 1'000));
  ASSERT_OK(store_->IngestMeterEvents(std::span(events).subspan(2), 2'000));
  ASSERT_OK(store_->PruneMeterEvents(1'500));
  // evt_1 and evt_2 were forgotten: a copy now counts again; evt_3.. are still known.
  auto resent = store_->IngestMeterEvents(events, 3'000);
  ASSERT_OK(resent);
  EXPECT_EQ(resent->ingested, 2);
  EXPECT_EQ(resent->duplicates, (std::vector<std::string>{"evt_3", "evt_4", "evt_5"}));
  auto summary = store_->Summary({.from = kQueryBase, .to = kQueryBase + 60'000, .key_id = "key_a"});
  ASSERT_OK(summary);
  EXPECT_EQ(summary->meters["tokens"].quantity, 2 * 1'200);  // rollups kept the first copy
}

// ---- Usage writes ----

TEST_P(StoreTest, UsageRollupsAddUpAcrossBatchesAndOutliveRawPruning) {
  const UnixMillis t = 1'706'745'599'000;  // 2024-01-31 23:59:59 UTC
  const std::vector<UsageEvent> first = {
      {t, "api_1", "key_a", "acme", "VALID", 2, {"x"}, "", "verify"},
      {t + 500, "api_1", "key_a", "acme", "VALID", 3, {}, "", "verify"},
      {t, "api_1", "key_a", "acme", "RATE_LIMITED", 0, {}, "per-second", "authorize"},
      {t, "", "", "", "NOT_FOUND", 0, {}, "", "verify"},
  };
  ASSERT_OK(store_->WriteUsage(first));
  const std::vector<UsageEvent> second = {
      {t + 100, "api_1", "key_a", "acme", "VALID", 5, {}, "", "verify"},
      {t + 1'000, "api_1", "key_a", "acme", "VALID", 7, {}, "", "verify"},  // February
  };
  ASSERT_OK(store_->WriteUsage(second));
  ASSERT_OK(store_->WriteUsage({}));

  // Every granularity's rollups hold both batches: January's bucket 5 events, February's 1.
  const UsageFilter jan_and_feb{.from = 1'704'067'200'000, .to = 1'706'832'000'000};  // Jan 1 .. Feb 2
  const std::map<UsageGranularity, UnixMillis> january_bucket = {
      {UsageGranularity::kMinute, 1'706'745'540'000},  // 23:59
      {UsageGranularity::kHour, 1'706'742'000'000},    // 23:00
      {UsageGranularity::kDay, 1'706'659'200'000},     // Jan 31
      {UsageGranularity::kMonth, 1'704'067'200'000},   // Jan 1
  };
  for (const auto& [granularity, bucket] : january_bucket) {
    SCOPED_TRACE("granularity " + std::to_string(static_cast<int>(granularity)));
    auto points = store_->Timeseries(jan_and_feb, granularity, UsageGroupBy::kNone);
    ASSERT_OK(points);
    ASSERT_EQ(points->size(), 2u);
    EXPECT_EQ((*points)[0].time, bucket);
    EXPECT_EQ((*points)[0].count, 5);
    EXPECT_EQ((*points)[0].credits, 10);
    EXPECT_EQ((*points)[1].time, 1'706'745'600'000);
    EXPECT_EQ((*points)[1].count, 1);
    EXPECT_EQ((*points)[1].credits, 7);
  }
  auto january_31 = store_->Summary({.from = 1'706'659'200'000, .to = 1'706'745'600'000});  // one whole day
  ASSERT_OK(january_31);
  EXPECT_EQ(january_31->total, 5);
  EXPECT_EQ(january_31->credits_spent, 10);
  EXPECT_EQ(january_31->by_code,
            (std::map<std::string, std::int64_t>{{"VALID", 3}, {"RATE_LIMITED", 1}, {"NOT_FOUND", 1}}));

  // Pruning drops raw events only: the raw answer (api_id) loses them, the rollups keep them.
  ASSERT_OK(store_->PruneRawUsage(t + 1'000));
  UsageFilter api_1 = jan_and_feb;
  api_1.api_id = "api_1";
  auto raw = store_->Summary(api_1);
  ASSERT_OK(raw);
  EXPECT_EQ(raw->total, 1);
  EXPECT_EQ(raw->credits_spent, 7);
  auto rollups = store_->Summary(jan_and_feb);
  ASSERT_OK(rollups);
  EXPECT_EQ(rollups->total, 6);
  EXPECT_EQ(rollups->credits_spent, 17);
  auto left = store_->ExportUsagePage({.range = jan_and_feb}, std::nullopt, 10);
  ASSERT_OK(left);
  ASSERT_EQ(left->events.size(), 1u);
  EXPECT_EQ(left->events[0].at, t + 1'000);
}

TEST_P(StoreTest, UsageRollupAnswersCountTheFirstBucketWholeRawAnswersDoNot) {
  ASSERT_OK(store_->WriteUsage(AnalyticsEvents()));
  // From half a minute in: the rollups count the whole first minute (3 events in it) ...
  const UsageFilter late{.from = kQueryBase + 30'000, .to = kQueryBase + 180'000};
  auto rollups = store_->Summary(late);
  ASSERT_OK(rollups);
  EXPECT_EQ(rollups->total, 7);
  auto top = store_->Top(late, false, 10);
  ASSERT_OK(top);
  ASSERT_FALSE(top->empty());
  EXPECT_EQ((*top)[0].count, 4);
  // ... the raw events (an API named) count to the millisecond: only key_a's February event.
  UsageFilter late_api_1 = late;
  late_api_1.api_id = "api_1";
  auto raw = store_->Summary(late_api_1);
  ASSERT_OK(raw);
  EXPECT_EQ(raw->total, 1);
  EXPECT_EQ(raw->credits_spent, 4);
  auto raw_top = store_->Top(late_api_1, false, 10);
  ASSERT_OK(raw_top);
  ASSERT_EQ(raw_top->size(), 1u);
  EXPECT_EQ((*raw_top)[0].id, "key_a");
  EXPECT_EQ((*raw_top)[0].count, 1);
  EXPECT_EQ((*raw_top)[0].valid, 1);
  EXPECT_EQ((*raw_top)[0].credits, 4);
}

TEST_P(StoreTest, UsageTopFromRawEventsWhenAnApiIsNamed) {
  ASSERT_OK(store_->WriteUsage(AnalyticsEvents()));
  const UsageFilter api_2{.from = kQueryBase, .to = kQueryBase + 180'000, .api_id = "api_2"};
  auto keys = store_->Top(api_2, false, 10);
  ASSERT_OK(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].id, "key_b");
  EXPECT_EQ((*keys)[0].count, 2);
  EXPECT_EQ((*keys)[0].valid, 1);
  EXPECT_EQ((*keys)[0].credits, 1);
  auto identities = store_->Top(api_2, true, 10);
  ASSERT_OK(identities);
  ASSERT_EQ(identities->size(), 1u);
  EXPECT_EQ((*identities)[0].id, "globex");
  auto none = store_->Top({.from = kQueryBase, .to = kQueryBase + 180'000, .api_id = "api_9"}, false, 10);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

// Ids and groups sort by their bytes on every backend (upper case before lower case), whatever
// the database's collation.
TEST_P(StoreTest, UsageTiesAndGroupsSortByBytes) {
  std::vector<UsageEvent> events;
  for (const char* key : {"key_b", "key_a", "key_B", "key_\xc3\xa9", "key_Z"}) {
    events.push_back({kQueryBase, "api_1", key, "", "VALID", 0, {}, "", "verify"});
  }
  ASSERT_OK(store_->WriteUsage(events));
  const std::vector<std::string> want = {"key_B", "key_Z", "key_a", "key_b", "key_\xc3\xa9"};
  const UsageFilter range{.from = kQueryBase, .to = kQueryBase + 60'000};
  for (const UsageFilter& filter : {range, UsageFilter{.from = kQueryBase, .to = kQueryBase + 60'000,
                                                       .api_id = "api_1"}}) {
    SCOPED_TRACE(filter.api_id.empty() ? "rollups" : "raw events");
    auto top = store_->Top(filter, false, 10);
    ASSERT_OK(top);
    std::vector<std::string> ranked;
    for (const auto& entry : *top) ranked.push_back(entry.id);
    EXPECT_EQ(ranked, want);
    auto series = store_->Timeseries(filter, UsageGranularity::kMinute, UsageGroupBy::kKey);
    ASSERT_OK(series);
    std::vector<std::string> groups;
    for (const auto& point : *series) groups.push_back(point.group);
    EXPECT_EQ(groups, want);
  }
}

TEST_P(StoreTest, WriteUsageTakesALargeBatchInOneCall) {
  // 5,000 events over 50 keys, 3 codes and 90 minutes: thousands of distinct rollup rows.
  std::vector<UsageEvent> events;
  std::map<std::string, std::int64_t> per_key;
  std::int64_t credits = 0;
  for (int i = 0; i < 5'000; ++i) {
    const std::string key = "key_" + std::to_string(i % 50);
    const char* code = i % 3 == 0 ? "VALID" : i % 3 == 1 ? "RATE_LIMITED" : "USAGE_EXCEEDED";
    events.push_back({kQueryBase + i * 1'080, "api_1", key, "ext_" + std::to_string(i % 7), code, i % 5,
                      {"n=" + std::to_string(i % 4)}, "", "verify"});
    ++per_key[key];
    credits += i % 5;
  }
  ASSERT_OK(store_->WriteUsage(events));
  const UsageFilter range{.from = kQueryBase, .to = kQueryBase + 5'000 * 1'080};
  auto summary = store_->Summary(range);
  ASSERT_OK(summary);
  EXPECT_EQ(summary->total, 5'000);
  EXPECT_EQ(summary->credits_spent, credits);
  EXPECT_EQ(summary->by_code["VALID"], 1'667);
  auto top = store_->Top(range, false, 100);
  ASSERT_OK(top);
  ASSERT_EQ(top->size(), per_key.size());
  for (const auto& entry : *top) EXPECT_EQ(entry.count, per_key[entry.id]) << entry.id;
  auto tags = store_->Timeseries(range, UsageGranularity::kMonth, UsageGroupBy::kTag);
  ASSERT_OK(tags);
  std::int64_t tagged = 0;
  for (const auto& point : *tags) tagged += point.count;
  EXPECT_EQ(tagged, 5'000);
  auto page = store_->ExportUsagePage({.range = range}, std::nullopt, 5'000);
  ASSERT_OK(page);
  ASSERT_EQ(page->events.size(), 5'000u);
  EXPECT_FALSE(page->next.has_value());
  for (std::size_t i = 0; i < events.size(); i += 997) {
    EXPECT_EQ(page->events[i].key_id, events[i].key_id.view());
    EXPECT_EQ(page->events[i].tags, events[i].tags);
  }
}

// ---- Usage export ----

UsageEvent ExportEvent(UnixMillis at, std::string key_id, std::string code = "VALID") {
  UsageEvent event;
  event.at = at;
  event.api_id = "api_1";
  event.key_id = key_id;
  event.external_id = "acme";
  event.code = code;
  event.source = "verify";
  return event;
}

// Every event of `filter`, read `limit` at a time; also counts the pages.
std::vector<UsageEvent> ExportAll(UsageExportStore& store, const UsageExportFilter& filter, std::size_t limit,
                                  int* pages = nullptr) {
  std::vector<UsageEvent> events;
  std::optional<UsageExportCursor> cursor;
  for (int page_count = 1;; ++page_count) {
    auto page = store.ExportUsagePage(filter, cursor, limit);
    EXPECT_TRUE(page.has_value()) << page.error().detail;
    if (!page) return events;
    EXPECT_LE(page->events.size(), limit);
    events.insert(events.end(), page->events.begin(), page->events.end());
    if (!page->next) {
      if (pages != nullptr) *pages = page_count;
      return events;
    }
    EXPECT_EQ(page->events.size(), limit) << "only the last page may be short";
    cursor = page->next;
  }
}

// The key ids in order: the tests give every event a distinct key id to follow it.
std::vector<std::string> KeyIds(const std::vector<UsageEvent>& events) {
  std::vector<std::string> ids;
  for (const UsageEvent& event : events) ids.push_back(event.key_id.str());
  return ids;
}

TEST_P(StoreTest, ExportPagesByTimeThenInsertionWithoutLosingOrRepeatingEqualTimestamps) {
  // 30 events over three milliseconds, ten each, written in two batches whose times interleave:
  // the order is time first, then the order of writing.
  std::vector<UsageEvent> first;
  std::vector<UsageEvent> second;
  std::vector<std::string> ordered;  // time first; within a millisecond, the first batch's five
  for (int ms = 0; ms < 3; ++ms) {
    for (int i = 0; i < 10; ++i) {
      const std::string id = "k" + std::to_string(ms) + "_" + std::to_string(i);
      (i < 5 ? first : second).push_back(ExportEvent(kQueryBase + ms, id));
      ordered.push_back(id);
    }
  }
  ASSERT_OK(store_->WriteUsage(first));
  ASSERT_OK(store_->WriteUsage(second));

  const UsageExportFilter all{.range = {.from = kQueryBase, .to = kQueryBase + 60'000}};
  for (std::size_t limit : {1u, 2u, 3u, 4u, 7u, 10u, 29u, 30u, 31u, 1000u}) {
    SCOPED_TRACE("page size " + std::to_string(limit));
    int pages = 0;
    EXPECT_EQ(KeyIds(ExportAll(*store_, all, limit, &pages)), ordered);
    EXPECT_EQ(pages, static_cast<int>((30 + limit - 1) / limit)) << "no empty page after a full last one";
  }
}

TEST_P(StoreTest, ExportOfEmptyRangeIsOneEmptyLastPage) {
  const std::vector<UsageEvent> one = {ExportEvent(kQueryBase, "k1")};
  ASSERT_OK(store_->WriteUsage(one));
  auto page = store_->ExportUsagePage({.range = {.from = kQueryBase + 1, .to = kQueryBase + 1000}}, std::nullopt, 10);
  ASSERT_OK(page);
  EXPECT_TRUE(page->events.empty());
  EXPECT_FALSE(page->next.has_value());
}

TEST_P(StoreTest, ExportFiltersByHalfOpenRangeKeyIdentityApiAndCode) {
  std::vector<UsageEvent> events = {
      ExportEvent(kQueryBase - 1, "before"),
      ExportEvent(kQueryBase, "at_start"),
      ExportEvent(kQueryBase + 10, "limited", "RATE_LIMITED"),
      ExportEvent(kQueryBase + 20, "other_identity"),
      ExportEvent(kQueryBase + 30, "other_api"),
      ExportEvent(kQueryBase + 999, "last"),
      ExportEvent(kQueryBase + 1000, "at_end"),
  };
  events[3].external_id = "globex";
  events[4].api_id = "api_2";
  ASSERT_OK(store_->WriteUsage(events));
  const UsageFilter range{.from = kQueryBase, .to = kQueryBase + 1000};
  auto ids = [this](UsageExportFilter filter) { return KeyIds(ExportAll(*store_, filter, 2)); };

  EXPECT_EQ(ids({.range = range}),
            (std::vector<std::string>{"at_start", "limited", "other_identity", "other_api", "last"}));
  UsageFilter by_key = range;
  by_key.key_id = "limited";
  EXPECT_EQ(ids({.range = by_key}), (std::vector<std::string>{"limited"}));
  UsageFilter by_identity = range;
  by_identity.external_id = "globex";
  EXPECT_EQ(ids({.range = by_identity}), (std::vector<std::string>{"other_identity"}));
  UsageFilter by_api = range;
  by_api.api_id = "api_2";
  EXPECT_EQ(ids({.range = by_api}), (std::vector<std::string>{"other_api"}));
  EXPECT_EQ(ids({.range = range, .code = "VALID"}),
            (std::vector<std::string>{"at_start", "other_identity", "other_api", "last"}));
  EXPECT_EQ(ids({.range = range, .code = "RATE_LIMITED"}), (std::vector<std::string>{"limited"}));
  EXPECT_EQ(ids({.range = range, .code = "EXPIRED"}), (std::vector<std::string>{}));
  UsageFilter nothing = range;
  nothing.key_id = "limited";
  nothing.external_id = "globex";
  EXPECT_EQ(ids({.range = nothing}), (std::vector<std::string>{}));
}

TEST_P(StoreTest, ExportRoundTripsEveryField) {
  UsageEvent event = ExportEvent(kQueryBase + 5, "key_a", "RATE_LIMITED");
  event.external_id = "acme, \"inc\"\nline {two} \\ NULL";
  event.credits_spent = 7;
  event.tags = {"path=/a", "with,comma", "quote\"d", "", "back\\slash", "{braces}", "NULL", "caf\xc3\xa9"};
  event.denied_by = "per-minute";
  event.source = "authorize";
  UsageEvent ratelimit;
  ratelimit.at = kQueryBase + 6;
  ratelimit.api_id = "email.send";
  ratelimit.external_id = "user_42";
  ratelimit.code = kRatelimitDenied;
  ratelimit.source = "ratelimit";
  const std::vector<UsageEvent> batch = {event, ratelimit};
  ASSERT_OK(store_->WriteUsage(batch));

  const auto got = ExportAll(*store_, {.range = {.from = kQueryBase, .to = kQueryBase + 10}}, 10);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].at, event.at);
  EXPECT_EQ(got[0].api_id, "api_1");
  EXPECT_EQ(got[0].key_id, "key_a");
  EXPECT_EQ(got[0].external_id, event.external_id.view());
  EXPECT_EQ(got[0].code, "RATE_LIMITED");
  EXPECT_EQ(got[0].credits_spent, 7);
  EXPECT_EQ(got[0].tags, event.tags);
  EXPECT_EQ(got[0].denied_by, "per-minute");
  EXPECT_EQ(got[0].source, "authorize");
  EXPECT_EQ(got[1].api_id, "email.send");
  EXPECT_EQ(got[1].key_id, "");
  EXPECT_EQ(got[1].external_id, "user_42");
  EXPECT_EQ(got[1].code, kRatelimitDenied);
  EXPECT_TRUE(got[1].tags.empty());
  EXPECT_EQ(got[1].source, "ratelimit");
}

// ---- Quota counters, identity races, tier history and search ----

TEST_P(StoreTest, QuotaCountersUpsertAbsoluteCountsPerPeriodThatNeverGoDown) {
  auto none = store_->LoadQuotaUsage(202611);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  ASSERT_OK(store_->SaveQuotaUsage({}));

  std::vector<QuotaRow> first = {{"i:id_1", 202611, 5}, {"k:key_1", 202611, 7}, {"i:id_1", 202612, 1}};
  for (int i = 0; i < 300; ++i) first.push_back({"k:bulk_" + std::to_string(i), 202611, i});  // one batch
  ASSERT_OK(store_->SaveQuotaUsage(first));
  // Counts are absolute, not increments, and never go down: a node whose view of a shared
  // counter lags writes a lower count than another node did (k:key_1, k:key_2 twice in a batch).
  const std::vector<QuotaRow> second = {
      {"i:id_1", 202611, 9}, {"k:key_1", 202611, 6}, {"k:key_2", 202611, 4}, {"k:key_2", 202611, 3}};
  ASSERT_OK(store_->SaveQuotaUsage(second));

  auto november = store_->LoadQuotaUsage(202611);
  ASSERT_OK(november);
  std::map<std::string, std::int64_t> counts;
  for (const QuotaRow& row : *november) {
    EXPECT_EQ(row.period, 202611) << row.subject;
    counts[row.subject] = row.used;
  }
  EXPECT_EQ(counts.size(), 303u);
  EXPECT_EQ(counts["i:id_1"], 9);
  EXPECT_EQ(counts["k:key_1"], 7);
  EXPECT_EQ(counts["k:key_2"], 4);
  EXPECT_EQ(counts["k:bulk_299"], 299);
  auto december = store_->LoadQuotaUsage(202612);
  ASSERT_OK(december);
  ASSERT_EQ(december->size(), 1u);
  EXPECT_EQ((*december)[0].subject, "i:id_1");
  EXPECT_EQ((*december)[0].used, 1);
}

TEST_P(StoreTest, ConcurrentUpsertsOfOneExternalIdAgreeOnOneIdentity) {
  constexpr int kThreads = 4;
  constexpr int kExternalIds = 10;
  std::vector<std::vector<std::string>> ids(kThreads, std::vector<std::string>(kExternalIds));
  std::vector<std::vector<std::string>> failures(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &ids, &failures, &start] {
      start.arrive_and_wait();  // every thread races for the same external ids in the same order
      for (int i = 0; i < kExternalIds; ++i) {
        auto identity = store_->UpsertIdentity("cust_race_" + std::to_string(i), 1'000 + t);
        if (identity) {
          ids[t][i] = identity->id;
        } else {
          failures[t].push_back(identity.error().detail);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(failures[t].empty()) << failures[t].front();
  for (int i = 0; i < kExternalIds; ++i) {
    for (int t = 1; t < kThreads; ++t) EXPECT_EQ(ids[t][i], ids[0][i]) << "cust_race_" << i << ", thread " << t;
  }
  auto all = store_->LoadAllIdentities();
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), static_cast<std::size_t>(kExternalIds));
}

TEST_P(StoreTest, IdentityWritesRecordTheirTierChangesOnlyWhenTheTierChanges) {
  Identity identity = FullIdentity("id_1", "cust_1");  // tier "pro", created at 1'000
  ASSERT_OK(store_->InsertIdentity(identity));
  identity.meta_json = R"({"seats":2})";
  ASSERT_OK(store_->UpdateIdentity(identity, 2'000));  // the same tier: nothing to record
  identity.tier = "enterprise";
  ASSERT_OK(store_->UpdateIdentity(identity, 3'000));
  identity.tier = "";
  ASSERT_OK(store_->UpdateIdentity(identity, 4'000));
  identity.tier = "pro";
  ASSERT_OK(store_->UpdateIdentity(identity, 5'000));
  ASSERT_OK(store_->DeleteIdentity("id_1", 6'000));  // a deleted customer has no tier

  auto history = store_->TierHistory("cust_1");
  ASSERT_OK(history);
  std::vector<std::pair<UnixMillis, std::string>> changes;
  for (const TierChange& change : *history) changes.emplace_back(change.effective_at, change.tier);
  EXPECT_EQ(changes, (std::vector<std::pair<UnixMillis, std::string>>{
                         {1'000, "pro"}, {3'000, "enterprise"}, {4'000, ""}, {5'000, "pro"}, {6'000, ""}}));

  // A bare identity brought into being by a key has no tier, and so no history.
  ASSERT_OK(store_->UpsertIdentity("cust_2", 7'000));
  auto bare = store_->TierHistory("cust_2");
  ASSERT_OK(bare);
  EXPECT_TRUE(bare->empty());
}

TEST_P(StoreTest, IdentitySearchTakesLikeWildcardsLiterally) {
  for (const auto& [id, external_id] : std::vector<std::pair<std::string, std::string>>{
           {"id_1", "x_y"}, {"id_2", "X1Y"}, {"id_3", "50%off"}, {"id_4", "500off"}, {"id_5", "back\\slash"},
           {"id_6", "backslash"}}) {
    ASSERT_OK(store_->InsertIdentity(FullIdentity(id, external_id)));
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> searches = {
      {"x_y", {"id_1"}}, {"x1y", {"id_2"}}, {"0%o", {"id_3"}}, {"k\\s", {"id_5"}}, {"SLASH", {"id_5", "id_6"}},
  };
  for (const auto& [search, want] : searches) {
    auto found = store_->ListIdentities(std::nullopt, 10, search);
    ASSERT_OK(found);
    EXPECT_EQ(IdentityIds(found->identities), want) << "search " << search;
  }
}

// ---- Billing store ----

constexpr UnixMillis kSep1 = 1'788'220'800'000;  // 2026-09-01T00:00Z
constexpr UnixMillis kOct1 = 1'790'812'800'000;  // 2026-10-01T00:00Z
constexpr UnixMillis kNov1 = 1'793'491'200'000;  // 2026-11-01T00:00Z
constexpr UnixMillis kMinute = 60'000;
constexpr UnixMillis kDay = 86'400'000;

UsageEvent Verification(UnixMillis at, const std::string& external_id, const std::string& code = "VALID") {
  return {at, "api_1", "key_" + external_id, external_id, code, 0, {}, "", "verify"};
}

TEST_P(StoreTest, TierHistoryIsPerCustomerAndOutlivesTheIdentity) {
  ASSERT_OK(store_->InsertIdentity(FullIdentity("id_1", "cust_1")));  // "pro" at 1'000
  Identity other = FullIdentity("id_2", "cust_2");
  other.tier = "enterprise";
  other.created_at = 1'500;
  ASSERT_OK(store_->InsertIdentity(other));
  ASSERT_OK(store_->DeleteIdentity("id_1", 2'000));
  Identity again = FullIdentity("id_3", "cust_1");  // the customer comes back on another plan
  again.tier = "free";
  again.created_at = 3'000;
  ASSERT_OK(store_->InsertIdentity(again));

  auto first = store_->TierHistory("cust_1");
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].effective_at, 1'000);
  EXPECT_EQ((*first)[0].tier, "pro");
  EXPECT_EQ((*first)[1].effective_at, 2'000);
  EXPECT_EQ((*first)[1].tier, "");
  EXPECT_EQ((*first)[2].effective_at, 3'000);
  EXPECT_EQ((*first)[2].tier, "free");
  auto second = store_->TierHistory("cust_2");
  ASSERT_OK(second);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].tier, "enterprise");
  auto unknown = store_->TierHistory("cust_nope");
  ASSERT_OK(unknown);
  EXPECT_TRUE(unknown->empty());
}

TEST_P(StoreTest, BillingAnchorIsTheCreationOfLiveAnniversaryIdentitiesOnly) {
  Identity calendar = FullIdentity("id_1", "cust_calendar");
  ASSERT_OK(store_->InsertIdentity(calendar));
  Identity anniversary = FullIdentity("id_2", "cust_anniversary");
  anniversary.anniversary_billing = true;
  anniversary.created_at = kOct1 + 17 * kDay;
  ASSERT_OK(store_->InsertIdentity(anniversary));
  Identity gone = FullIdentity("id_3", "cust_gone");
  gone.anniversary_billing = true;
  ASSERT_OK(store_->InsertIdentity(gone));
  ASSERT_OK(store_->DeleteIdentity("id_3", 5'000));

  auto anchored = store_->BillingAnchor("cust_anniversary");
  ASSERT_OK(anchored);
  EXPECT_EQ(*anchored, std::optional<UnixMillis>(kOct1 + 17 * kDay));
  for (const std::string external_id : {"cust_calendar", "cust_gone", "cust_nope"}) {
    auto none = store_->BillingAnchor(external_id);
    ASSERT_OK(none);
    EXPECT_FALSE(none->has_value()) << external_id;
  }

  // Switching the cycle of a live identity moves its anchor.
  anniversary.anniversary_billing = false;
  ASSERT_OK(store_->UpdateIdentity(anniversary, kNov1));
  auto switched = store_->BillingAnchor("cust_anniversary");
  ASSERT_OK(switched);
  EXPECT_FALSE(switched->has_value());
}

TEST_P(StoreTest, BillableUsageSumsValidVerificationsAndMetersWithinTheRange) {
  // [Oct 1 00:05, Oct 3 00:10): minutes of Oct 1, the whole of Oct 2, minutes of Oct 3.
  const UnixMillis from = kOct1 + 5 * kMinute;
  const UnixMillis to = kOct1 + 2 * kDay + 10 * kMinute;
  ASSERT_OK(store_->WriteUsage(std::vector<UsageEvent>{
      Verification(kOct1 + 4 * kMinute, "acme"),          // before `from`
      Verification(kOct1 + 5 * kMinute, "acme"),          // the first minute
      Verification(kOct1 + kDay + 3 * 3'600'000, "acme"),  // Oct 2
      Verification(to - 1, "acme"),                       // the last minute
      Verification(to, "acme"),                           // `to` is out
      Verification(kOct1 + kDay, "acme", "RATE_LIMITED"),  // not billable
      Verification(kOct1 + kDay, "globex"),                // someone else
  }));
  const std::vector<MeterEvent> metered = {
      {"evt_1", kOct1 + 6 * kMinute, "acme", "", "tokens", 100},
      {"evt_2", kOct1 + kDay + kMinute, "acme", "key_acme", "tokens", 200},
      {"evt_3", kOct1 + 2 * kDay, "acme", "", "requests", 5},  // added to the verifications
      {"evt_4", to, "acme", "", "tokens", 10'000},           // out
      {"evt_5", kOct1 + kDay, "acme", "", "images", 0},       // used, for nothing
      {"evt_6", kOct1 + kDay, "globex", "", "tokens", 7},
  };
  ASSERT_OK(store_->IngestMeterEvents(metered, to));

  auto usage = store_->BillableUsage("acme", from, to);
  ASSERT_OK(usage);
  EXPECT_EQ(*usage, (std::map<std::string, std::int64_t>{{"requests", 3 + 5}, {"tokens", 300}, {"images", 0}}));
  // Within one day only minutes count.
  auto minutes = store_->BillableUsage("acme", from, from + 5 * kMinute);
  ASSERT_OK(minutes);
  EXPECT_EQ(*minutes, (std::map<std::string, std::int64_t>{{"requests", 1}, {"tokens", 100}}));
  // Whole days.
  auto days = store_->BillableUsage("acme", kOct1 + kDay, kOct1 + 2 * kDay);
  ASSERT_OK(days);
  EXPECT_EQ(*days, (std::map<std::string, std::int64_t>{{"requests", 1}, {"tokens", 200}, {"images", 0}}));
  auto nobody = store_->BillableUsage("cust_nope", from, to);
  ASSERT_OK(nobody);
  EXPECT_TRUE(nobody->empty());
}

TEST_P(StoreTest, BillingCandidatesAreCustomersWithUsageOrATierBeforeTheEnd) {
  ASSERT_OK(store_->WriteUsage(std::vector<UsageEvent>{
      Verification(kOct1 + kDay, "verifier"),
      Verification(kOct1 + kDay, "Zeta"),  // byte order: upper case first
      Verification(kOct1 + kDay, "denied", "RATE_LIMITED"),
      Verification(kOct1 + kDay, ""),
      Verification(kSep1 + kDay, "september"),
  }));
  const MeterEvent metered{"evt_1", kNov1 - 1, "metered", "", "tokens", 1};
  ASSERT_OK(store_->IngestMeterEvents(std::span(&metered, 1), kNov1));
  Identity tiered = FullIdentity("id_1", "tiered");  // "pro" since long before October
  ASSERT_OK(store_->InsertIdentity(tiered));
  Identity later = FullIdentity("id_2", "later");
  later.created_at = kNov1;  // its tier starts after the period
  ASSERT_OK(store_->InsertIdentity(later));
  Identity untiered = FullIdentity("id_3", "untiered");
  untiered.tier = "";
  ASSERT_OK(store_->InsertIdentity(untiered));

  auto october = store_->BillingCandidates(kOct1, kNov1);
  ASSERT_OK(october);
  EXPECT_EQ(*october, (std::vector<std::string>{"Zeta", "metered", "tiered", "verifier"}));
  auto september = store_->BillingCandidates(kSep1, kOct1);
  ASSERT_OK(september);
  EXPECT_EQ(*september, (std::vector<std::string>{"september", "tiered"}));
}

// A draft as the billing engine makes it, with lines of every kind.
Invoice DraftInvoice(const std::string& external_id, const std::string& period, std::int64_t total_minor) {
  Invoice draft;
  draft.external_id = external_id;
  draft.period = period;
  draft.period_start = kOct1;
  draft.period_end = kNov1;
  draft.currency = "EUR";
  draft.lines = {
      {.kind = InvoiceLineKind::kBaseFee, .description = "pro plan, 1–15 Oct 2026 (15 of 31 days)", .tier = "pro",
       .quantity = 1, .unit_price_micros = 2'900'000, .amount_minor = 1'403, .from = kOct1, .to = kOct1 + 15 * kDay},
      {.kind = InvoiceLineKind::kIncluded, .description = "tokens included", .tier = "pro", .meter = "tokens",
       .quantity = 2'000'000, .unit_price_micros = 0, .package_size = 1'000, .from = kOct1, .to = kNov1},
      {.kind = InvoiceLineKind::kOverage, .description = "tokens over", .tier = "pro", .meter = "tokens",
       .quantity = 12'500'000, .package_size = 1'000,
       .slices = {{10'000'000, 10'000, 20'000}, {2'500'000, 2'500, 10'000}}, .amount_minor = 22'500,
       .from = kOct1, .to = kNov1},
      {.kind = InvoiceLineKind::kAdjustment, .description = "late usage, September", .meter = "requests",
       .quantity = 4'000, .unit_price_micros = 500, .package_size = 1'000, .amount_minor = 2, .from = kSep1,
       .to = kOct1, .adjusts_period = "2026-09"},
  };
  draft.total_minor = total_minor;
  return draft;
}

void ExpectSameInvoice(const Invoice& want, const Invoice& got) {
  SCOPED_TRACE("invoice " + want.number);
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.number, got.number);
  EXPECT_EQ(want.external_id, got.external_id);
  EXPECT_EQ(want.period, got.period);
  EXPECT_EQ(want.period_start, got.period_start);
  EXPECT_EQ(want.period_end, got.period_end);
  EXPECT_EQ(want.currency, got.currency);
  EXPECT_EQ(want.total_minor, got.total_minor);
  EXPECT_EQ(want.status, got.status);
  EXPECT_EQ(want.created_at, got.created_at);
  EXPECT_EQ(want.voided_at, got.voided_at);
  EXPECT_EQ(want.void_reason, got.void_reason);
  ASSERT_EQ(want.lines.size(), got.lines.size());
  for (std::size_t i = 0; i < want.lines.size(); ++i) {
    const InvoiceLine& w = want.lines[i];
    const InvoiceLine& g = got.lines[i];
    SCOPED_TRACE("line " + std::to_string(i));
    EXPECT_EQ(w.kind, g.kind);
    EXPECT_EQ(w.description, g.description);
    EXPECT_EQ(w.tier, g.tier);
    EXPECT_EQ(w.meter, g.meter);
    EXPECT_EQ(w.quantity, g.quantity);
    EXPECT_EQ(w.unit_price_micros, g.unit_price_micros);
    EXPECT_EQ(w.package_size, g.package_size);
    ASSERT_EQ(w.slices.size(), g.slices.size());
    for (std::size_t s = 0; s < w.slices.size(); ++s) {
      EXPECT_EQ(w.slices[s].quantity, g.slices[s].quantity);
      EXPECT_EQ(w.slices[s].packages, g.slices[s].packages);
      EXPECT_EQ(w.slices[s].price_micros, g.slices[s].price_micros);
    }
    EXPECT_EQ(w.amount_minor, g.amount_minor);
    EXPECT_EQ(w.from, g.from);
    EXPECT_EQ(w.to, g.to);
    EXPECT_EQ(w.adjusts_period, g.adjusts_period);
  }
}

TEST_P(StoreTest, FinalizeInvoicesNumbersInDraftOrderAndKeepsExistingInvoices) {
  const std::vector<Invoice> drafts = {DraftInvoice("cust_b", "2026-10", 23'905),
                                       DraftInvoice("cust_a", "2026-10", 100)};
  auto first = store_->FinalizeInvoices(drafts, kNov1 + 1'000);
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& [invoice, created] = (*first)[i];
    EXPECT_TRUE(created);
    EXPECT_EQ(invoice.number, i == 0 ? "INV-000001" : "INV-000002");
    EXPECT_EQ(invoice.id.rfind("inv_", 0), 0u) << invoice.id;
    EXPECT_EQ(invoice.status, InvoiceStatus::kFinalized);
    EXPECT_EQ(invoice.created_at, kNov1 + 1'000);
    Invoice want = drafts[i];
    want.id = invoice.id;
    want.number = invoice.number;
    want.status = InvoiceStatus::kFinalized;
    want.created_at = kNov1 + 1'000;
    ExpectSameInvoice(want, invoice);
    auto stored = store_->GetInvoice(invoice.id);
    ASSERT_OK(stored);
    ASSERT_TRUE(stored->has_value());
    ExpectSameInvoice(want, **stored);
  }
  EXPECT_NE((*first)[0].first.id, (*first)[1].first.id);

  // cust_a closed again (another node, a retry): it keeps its invoice; cust_c is new, and so is
  // cust_a's November.
  const std::vector<Invoice> more = {DraftInvoice("cust_a", "2026-10", 999), DraftInvoice("cust_c", "2026-10", 5),
                                     DraftInvoice("cust_a", "2026-11", 7)};
  auto second = store_->FinalizeInvoices(more, kNov1 + 2'000);
  ASSERT_OK(second);
  ASSERT_EQ(second->size(), 3u);
  EXPECT_FALSE((*second)[0].second);
  ExpectSameInvoice((*first)[1].first, (*second)[0].first);
  EXPECT_TRUE((*second)[1].second);
  EXPECT_EQ((*second)[1].first.number, "INV-000003");
  EXPECT_TRUE((*second)[2].second);
  EXPECT_EQ((*second)[2].first.number, "INV-000004");
  EXPECT_EQ((*second)[2].first.total_minor, 7);

  auto none = store_->FinalizeInvoices({}, kNov1 + 3'000);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  auto missing = store_->GetInvoice("inv_nope");
  ASSERT_OK(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_P(StoreTest, VoidInvoiceIsFinalAndFreesThePeriod) {
  auto finalized = store_->FinalizeInvoices(std::vector<Invoice>{DraftInvoice("cust_a", "2026-10", 100)}, kNov1);
  ASSERT_OK(finalized);
  const Invoice original = finalized->front().first;

  auto voided = store_->VoidInvoice(original.id, "wrong plan", kNov1 + 5'000);
  ASSERT_OK(voided);
  Invoice want = original;
  want.status = InvoiceStatus::kVoid;
  want.voided_at = kNov1 + 5'000;
  want.void_reason = "wrong plan";
  ExpectSameInvoice(want, *voided);
  auto stored = store_->GetInvoice(original.id);
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  ExpectSameInvoice(want, **stored);

  EXPECT_ERROR(store_->VoidInvoice(original.id, "again", kNov1 + 6'000), kConflict);
  EXPECT_ERROR(store_->VoidInvoice("inv_nope", "whatever", kNov1 + 6'000), kNotFound);
  auto unchanged = store_->GetInvoice(original.id);
  ASSERT_OK(unchanged);
  ExpectSameInvoice(want, **unchanged);

  // The period can be billed anew, under the next number.
  auto reissued = store_->FinalizeInvoices(std::vector<Invoice>{DraftInvoice("cust_a", "2026-10", 80)}, kNov1 + 7'000);
  ASSERT_OK(reissued);
  EXPECT_TRUE(reissued->front().second);
  EXPECT_EQ(reissued->front().first.number, "INV-000002");
  EXPECT_NE(reissued->front().first.id, original.id);
}

TEST_P(StoreTest, ListInvoicesFiltersByCustomerPeriodAndStatusInNumberOrder) {
  auto finalized = store_->FinalizeInvoices(
      std::vector<Invoice>{DraftInvoice("cust_a", "2026-10", 1), DraftInvoice("cust_b", "2026-10", 2),
                           DraftInvoice("cust_a", "2026-11", 3)},
      kNov1);
  ASSERT_OK(finalized);
  ASSERT_OK(store_->VoidInvoice((*finalized)[1].first.id, "duplicate", kNov1 + 1'000));

  const auto numbers = [this](const InvoiceFilter& filter) {
    std::vector<std::string> found;
    auto invoices = store_->ListInvoices(filter);
    EXPECT_TRUE(invoices.has_value()) << invoices.error().detail;
    if (invoices) {
      for (const Invoice& invoice : *invoices) found.push_back(invoice.number);
    }
    return found;
  };
  using Numbers = std::vector<std::string>;
  EXPECT_EQ(numbers({}), (Numbers{"INV-000001", "INV-000002", "INV-000003"}));
  EXPECT_EQ(numbers({.external_id = "cust_a"}), (Numbers{"INV-000001", "INV-000003"}));
  EXPECT_EQ(numbers({.period = "2026-10"}), (Numbers{"INV-000001", "INV-000002"}));
  EXPECT_EQ(numbers({.status = InvoiceStatus::kVoid}), (Numbers{"INV-000002"}));
  EXPECT_EQ(numbers({.period = "2026-10", .status = InvoiceStatus::kFinalized}), (Numbers{"INV-000001"}));
  EXPECT_EQ(numbers({.external_id = "cust_b", .period = "2026-11"}), Numbers{});
  EXPECT_EQ(numbers({.status = InvoiceStatus::kDraft}), Numbers{});  // drafts are never stored

  auto listed = store_->ListInvoices({.external_id = "cust_b"});
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  auto stored = store_->GetInvoice((*finalized)[1].first.id);
  ASSERT_OK(stored);
  ExpectSameInvoice(**stored, listed->front());
  EXPECT_EQ(listed->front().void_reason, "duplicate");
}

TEST_P(StoreTest, ConcurrentClosingsGiveEachCustomerOneInvoiceWithGaplessNumbers) {
  // Four nodes close the same month for the same customers at once, each in its own order.
  constexpr int kThreads = 4;
  const std::vector<std::string> customers = {"cust_a", "cust_b", "cust_c", "cust_d", "cust_e"};
  std::vector<std::vector<std::pair<Invoice, bool>>> results(kThreads);
  std::vector<std::string> failures(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Invoice> drafts;
      for (std::size_t i = 0; i < customers.size(); ++i) {
        drafts.push_back(DraftInvoice(customers[(i + t) % customers.size()], "2026-10", t));
      }
      start.arrive_and_wait();
      auto closed = store_->FinalizeInvoices(drafts, kNov1 + t);
      if (closed) {
        results[t] = std::move(*closed);
      } else {
        failures[t] = closed.error().detail;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) ASSERT_EQ(failures[t], "") << "thread " << t;

  auto stored = store_->ListInvoices({});
  ASSERT_OK(stored);
  ASSERT_EQ(stored->size(), customers.size());
  std::map<std::string, std::string> number_of;  // external id -> number
  for (std::size_t i = 0; i < stored->size(); ++i) {
    char want[32];
    std::snprintf(want, sizeof want, "INV-%06zu", i + 1);
    EXPECT_EQ((*stored)[i].number, want);
    number_of[(*stored)[i].external_id] = (*stored)[i].number;
  }
  EXPECT_EQ(number_of.size(), customers.size());
  // Every node was told the invoice that is stored, and exactly one made each.
  std::map<std::string, int> made;
  for (const auto& closed : results) {
    ASSERT_EQ(closed.size(), customers.size());
    for (const auto& [invoice, created] : closed) {
      EXPECT_EQ(invoice.number, number_of[invoice.external_id]) << invoice.external_id;
      if (created) ++made[invoice.external_id];
    }
  }
  for (const std::string& customer : customers) EXPECT_EQ(made[customer], 1) << customer;
}

TEST_P(StoreTest, ConcurrentIngestsOfOverlappingBatchesCountEachEventOnce) {
  constexpr int kThreads = 4;
  constexpr int kEvents = 60;
  std::vector<MeterEvent> events;
  for (int i = 0; i < kEvents; ++i) {
    events.push_back({"evt_" + std::to_string(i), kOct1 + i * kMinute, i % 2 == 0 ? "acme" : "globex", "",
                      i % 3 == 0 ? "tokens" : "images", 10});
  }
  std::vector<std::int64_t> ingested(kThreads);
  std::vector<std::size_t> duplicates(kThreads);
  std::vector<std::string> failures(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each node sends every event, in its own order (two of them backwards).
      std::vector<MeterEvent> batch = events;
      if (t % 2 == 1) std::reverse(batch.begin(), batch.end());
      std::rotate(batch.begin(), batch.begin() + t * 7, batch.end());
      start.arrive_and_wait();
      auto result = store_->IngestMeterEvents(batch, kOct1 + kDay);
      if (result) {
        ingested[t] = result->ingested;
        duplicates[t] = result->duplicates.size();
      } else {
        failures[t] = result.error().detail;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::int64_t total = 0;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(failures[t], "") << "thread " << t;
    EXPECT_EQ(ingested[t] + static_cast<std::int64_t>(duplicates[t]), kEvents) << "thread " << t;
    total += ingested[t];
  }
  EXPECT_EQ(total, kEvents);
  auto usage = store_->BillableUsage("acme", kOct1, kOct1 + kDay);
  ASSERT_OK(usage);
  // acme has the even events: 10 of the multiples of 6 are tokens, the other 20 images.
  EXPECT_EQ(*usage, (std::map<std::string, std::int64_t>{{"images", 200}, {"tokens", 100}}));
}

// ---- Outbox ----

std::vector<std::string> EventTypes(const std::vector<OutboxEvent>& events) {
  std::vector<std::string> types;
  for (const OutboxEvent& event : events) types.push_back(event.event.type);
  return types;
}

std::vector<std::int64_t> Seqs(const std::vector<OutboxEvent>& events) {
  std::vector<std::int64_t> seqs;
  for (const OutboxEvent& event : events) seqs.push_back(event.seq);
  return seqs;
}

// Creates three tiers, whose tier.created events are at 10, 20 and 30, and hands back the seqs
// of those events in order.
void WriteThreeTierEvents(Store& store, std::vector<std::int64_t>& seqs) {
  for (int i = 1; i <= 3; ++i) {
    Tier tier = FullTier("tier_" + std::to_string(i));
    tier.created_at = 10 * i;
    ASSERT_OK(store.InsertTier(tier));
  }
  auto events = store.OutboxEventsAfter(0, 100);
  ASSERT_OK(events);
  ASSERT_EQ(EventTypes(*events), (std::vector<std::string>{"tier.created", "tier.created", "tier.created"}));
  seqs = Seqs(*events);
}

TEST_P(StoreTest, OutboxHoldsTheEventsOfEachWriteInOrderNamingWhatChanged) {
  auto latest = store_->LatestOutboxSeq();
  ASSERT_OK(latest);
  EXPECT_EQ(*latest, 0) << "an empty outbox";
  AddApi("api_1");
  Key key = MinimalKey("key_1", "api_1");
  ASSERT_OK(store_->InsertKey(key));
  key.name = "renamed";
  key.updated_at = 3'000;
  ASSERT_OK(store_->UpdateKey(key));

  auto events = store_->OutboxEventsAfter(0, 100);
  ASSERT_OK(events);
  ASSERT_EQ(EventTypes(*events), (std::vector<std::string>{"key.created", "key.updated"}));
  const OutboxEvent& created = (*events)[0];
  const OutboxEvent& updated = (*events)[1];
  EXPECT_LT(created.seq, updated.seq);
  EXPECT_NE(created.event.id, updated.event.id);
  EXPECT_EQ(created.event.at, 2'000);
  EXPECT_EQ(updated.event.at, 3'000);
  for (const OutboxEvent& event : *events) {
    const auto payload = nlohmann::json::parse(event.event.payload_json, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(payload.is_object()) << event.event.payload_json;
    EXPECT_EQ(payload.value("keyId", ""), "key_1") << event.event.payload_json;
    EXPECT_EQ(payload.value("apiId", ""), "api_1") << event.event.payload_json;
  }

  latest = store_->LatestOutboxSeq();
  ASSERT_OK(latest);
  EXPECT_EQ(*latest, updated.seq);
  auto after_first = store_->OutboxEventsAfter(created.seq, 100);
  ASSERT_OK(after_first);
  EXPECT_EQ(Seqs(*after_first), (std::vector<std::int64_t>{updated.seq}));
  auto first_only = store_->OutboxEventsAfter(0, 1);
  ASSERT_OK(first_only);
  EXPECT_EQ(Seqs(*first_only), (std::vector<std::int64_t>{created.seq}));
  auto none = store_->OutboxEventsAfter(updated.seq, 100);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreTest, FailedOrRefusedWriteLeavesNoEvent) {
  AddApi("api_1");
  ASSERT_OK(store_->InsertKey(MinimalKey("key_1", "api_1")));
  ASSERT_OK(store_->InsertTier(FullTier("gold")));
  Tier throttler = FullTier("bronze");
  throttler.overage_policy = OveragePolicy::kThrottle;
  throttler.throttle_to = "gold";
  ASSERT_OK(store_->InsertTier(throttler));
  auto latest = store_->LatestOutboxSeq();
  ASSERT_OK(latest);

  Key twin = MinimalKey("key_2", "api_1");
  twin.hash = "hash-of-key_1";
  EXPECT_ERROR(store_->InsertKey(twin), kConflict);
  EXPECT_ERROR(store_->UpdateKey(MinimalKey("key_missing", "api_1")), kNotFound);
  auto usage = store_->DeleteTierIfUnused("gold", 5'000);  // bronze throttles to it
  ASSERT_OK(usage);
  EXPECT_FALSE(usage->unused());

  auto events = store_->OutboxEventsAfter(*latest, 100);
  ASSERT_OK(events);
  EXPECT_EQ(EventTypes(*events), std::vector<std::string>{});
  auto still = store_->LatestOutboxSeq();
  ASSERT_OK(still);
  EXPECT_EQ(*still, *latest);
  auto all = store_->OutboxEventsAfter(0, 100);
  ASSERT_OK(all);
  EXPECT_EQ(EventTypes(*all), (std::vector<std::string>{"key.created", "tier.created", "tier.created"}));
}

// Every event names the node whose write caused it, so that node can skip it when it comes back.
TEST_P(StoreTest, EventsCarryTheOriginOfTheNodeThatWroteThem) {
  storage::SetEventOrigin("node-a");
  AddApi("api_1");
  const Status inserted = store_->InsertKey(MinimalKey("key_1", "api_1"));
  storage::SetEventOrigin("");
  ASSERT_OK(inserted);
  ASSERT_OK(store_->DeleteKey("key_1", true, 3'000));

  auto events = store_->OutboxEventsAfter(0, 100);
  ASSERT_OK(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].event.origin, "node-a");
  EXPECT_EQ((*events)[1].event.origin, "");
  auto claimed = store_->ClaimOutboxEvents("relay", 10, 4'000, 1'000);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].event.origin, "node-a");
}

TEST_P(StoreTest, ClaimedEventsAreHiddenFromOtherRelaysUntilTheLeaseRunsOut) {
  std::vector<std::int64_t> seqs;
  ASSERT_NO_FATAL_FAILURE(WriteThreeTierEvents(*store_, seqs));

  auto by_a = store_->ClaimOutboxEvents("a", 2, 1'000, 5'000);  // leased until 6'000
  ASSERT_OK(by_a);
  EXPECT_EQ(Seqs(*by_a), (std::vector<std::int64_t>{seqs[0], seqs[1]})) << "oldest first";
  EXPECT_EQ(EventTypes(*by_a), (std::vector<std::string>{"tier.created", "tier.created"}));
  EXPECT_EQ((*by_a)[0].event.at, 10);

  auto by_b = store_->ClaimOutboxEvents("b", 10, 2'000, 5'000);  // leased until 7'000
  ASSERT_OK(by_b);
  EXPECT_EQ(Seqs(*by_b), (std::vector<std::int64_t>{seqs[2]})) << "a's events are taken";
  by_b = store_->ClaimOutboxEvents("b", 10, 5'999, 5'000);
  ASSERT_OK(by_b);
  EXPECT_TRUE(by_b->empty()) << "every lease is still running";

  by_b = store_->ClaimOutboxEvents("b", 10, 6'000, 5'000);
  ASSERT_OK(by_b);
  EXPECT_EQ(Seqs(*by_b), (std::vector<std::int64_t>{seqs[0], seqs[1]})) << "a's lease ran out: b takes over";
}

TEST_P(StoreTest, SentEventsAreNeitherClaimedNorPending) {
  std::vector<std::int64_t> seqs;
  ASSERT_NO_FATAL_FAILURE(WriteThreeTierEvents(*store_, seqs));
  auto oldest = store_->OldestPendingOutboxAt();
  ASSERT_OK(oldest);
  EXPECT_EQ(*oldest, std::optional<UnixMillis>(10));

  auto claimed = store_->ClaimOutboxEvents("a", 10, 1'000, 5'000);
  ASSERT_OK(claimed);
  ASSERT_EQ(Seqs(*claimed), seqs);
  ASSERT_OK(store_->MarkOutboxSent(std::vector<std::int64_t>{seqs[0]}, 2'000));
  oldest = store_->OldestPendingOutboxAt();
  ASSERT_OK(oldest);
  EXPECT_EQ(*oldest, std::optional<UnixMillis>(20)) << "a claimed but unsent event is still pending";

  claimed = store_->ClaimOutboxEvents("b", 10, 100'000, 5'000);
  ASSERT_OK(claimed);
  EXPECT_EQ(Seqs(*claimed), (std::vector<std::int64_t>{seqs[1], seqs[2]})) << "the sent one is not claimed again";
  ASSERT_OK(store_->MarkOutboxSent(std::vector<std::int64_t>{seqs[1], seqs[2]}, 3'000));
  ASSERT_OK(store_->MarkOutboxSent(std::vector<std::int64_t>{}, 3'000));
  oldest = store_->OldestPendingOutboxAt();
  ASSERT_OK(oldest);
  EXPECT_FALSE(oldest->has_value()) << "nothing is pending";
  claimed = store_->ClaimOutboxEvents("c", 10, 1'000'000, 5'000);
  ASSERT_OK(claimed);
  EXPECT_TRUE(claimed->empty());

  auto all = store_->OutboxEventsAfter(0, 100);
  ASSERT_OK(all);
  EXPECT_EQ(Seqs(*all), seqs) << "sent events stay readable until pruned";
}

TEST_P(StoreTest, PruneOutboxDeletesOnlyEventsSentBeforeTheCutOff) {
  std::vector<std::int64_t> seqs;
  ASSERT_NO_FATAL_FAILURE(WriteThreeTierEvents(*store_, seqs));
  ASSERT_OK(store_->MarkOutboxSent(std::vector<std::int64_t>{seqs[0]}, 1'000));
  ASSERT_OK(store_->MarkOutboxSent(std::vector<std::int64_t>{seqs[1]}, 3'000));
  // A late second confirm does not move the time it was first sent.
  ASSERT_OK(store_->MarkOutboxSent(std::vector<std::int64_t>{seqs[0]}, 5'000));

  ASSERT_OK(store_->PruneOutbox(3'000));
  auto left = store_->OutboxEventsAfter(0, 100);
  ASSERT_OK(left);
  EXPECT_EQ(Seqs(*left), (std::vector<std::int64_t>{seqs[1], seqs[2]})) << "sent at 3'000 is not before 3'000";

  ASSERT_OK(store_->PruneOutbox(1'000'000));
  left = store_->OutboxEventsAfter(0, 100);
  ASSERT_OK(left);
  EXPECT_EQ(Seqs(*left), (std::vector<std::int64_t>{seqs[2]})) << "an unsent event is never pruned";
  auto latest = store_->LatestOutboxSeq();
  ASSERT_OK(latest);
  EXPECT_EQ(*latest, seqs[2]);
  auto oldest = store_->OldestPendingOutboxAt();
  ASSERT_OK(oldest);
  EXPECT_EQ(*oldest, std::optional<UnixMillis>(30));
}

TEST_P(StoreTest, FollowerOfTheOutboxMissesNoEventOfConcurrentWriters) {
  constexpr int kWriters = 3;
  constexpr int kWritesPerWriter = 40;
  std::atomic<int> writing{kWriters};
  std::vector<std::string> failures(kWriters);
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([this, t, &writing, &failures] {
      for (int i = 0; i < kWritesPerWriter && failures[t].empty(); ++i) {
        auto inserted = store_->InsertTier(FullTier("w" + std::to_string(t) + "_" + std::to_string(i)));
        if (!inserted) failures[t] = inserted.error().detail;
      }
      writing.fetch_sub(1);
    });
  }
  // Reads as a node catching up from the store does: always after the highest seq seen so far.
  std::set<std::string> seen;
  std::int64_t cursor = 0;
  std::string follow_failure;
  const auto follow = [&] {
    auto events = store_->OutboxEventsAfter(cursor, 1'000);
    if (!events) {
      follow_failure = events.error().detail;
      return;
    }
    for (const OutboxEvent& event : *events) {
      seen.insert(event.event.id);
      cursor = event.seq;
    }
  };
  while (writing.load() > 0 && follow_failure.empty()) follow();
  for (auto& writer : writers) writer.join();
  follow();
  for (int t = 0; t < kWriters; ++t) ASSERT_EQ(failures[t], "") << "writer " << t;
  ASSERT_EQ(follow_failure, "");

  auto all = store_->OutboxEventsAfter(0, 1'000);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), static_cast<std::size_t>(kWriters * kWritesPerWriter));
  std::size_t missed = 0;
  for (const OutboxEvent& event : *all) missed += seen.count(event.event.id) == 0 ? 1 : 0;
  EXPECT_EQ(missed, 0u) << "events committed below a seq the follower had already passed";
}

TEST_P(StoreTest, RelaysClaimingAtOnceNeverShareAnEvent) {
  for (int i = 0; i < 60; ++i) ASSERT_OK(store_->InsertTier(FullTier("t" + std::to_string(i))));
  constexpr int kRelays = 3;
  std::latch start(kRelays);
  std::vector<std::vector<std::int64_t>> claimed(kRelays);
  std::vector<std::string> failures(kRelays);
  std::vector<std::thread> relays;
  for (int r = 0; r < kRelays; ++r) {
    relays.emplace_back([this, r, &start, &claimed, &failures] {
      start.arrive_and_wait();
      for (;;) {
        auto batch = store_->ClaimOutboxEvents("relay_" + std::to_string(r), 4, 1'000, 60'000);
        if (!batch) {
          failures[r] = batch.error().detail;
          return;
        }
        if (batch->empty()) return;
        for (const OutboxEvent& event : *batch) claimed[r].push_back(event.seq);
      }
    });
  }
  for (auto& relay : relays) relay.join();
  std::vector<std::int64_t> all_claimed;
  for (int r = 0; r < kRelays; ++r) {
    ASSERT_EQ(failures[r], "") << "relay " << r;
    all_claimed.insert(all_claimed.end(), claimed[r].begin(), claimed[r].end());
  }
  std::sort(all_claimed.begin(), all_claimed.end());
  auto all = store_->OutboxEventsAfter(0, 100);
  ASSERT_OK(all);
  EXPECT_EQ(all_claimed, Seqs(*all)) << "each event claimed exactly once within its lease";
}

// ---- Rate limit namespaces and overrides under concurrent writers ----

TEST_P(StoreTest, ConcurrentUpsertsOfOneNamespaceAndOverrideAgreeOnOneRow) {
  constexpr int kThreads = 4;
  std::latch start(kThreads);
  std::vector<std::string> namespace_ids(kThreads), override_ids(kThreads), failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &start, &namespace_ids, &override_ids, &failures] {
      const std::string n = std::to_string(t);
      start.arrive_and_wait();  // every thread creates the same namespace and override at once
      auto space = store_->UpsertRatelimitNamespace({.id = "rlns_" + n, .name = "shared", .created_at = 10 + t});
      if (!space) {
        failures[t] = space.error().detail;
        return;
      }
      namespace_ids[t] = space->id;
      auto row = store_->UpsertRatelimitOverride(Override("rlor_" + n, space->id, "vip", t, 20 + t));
      if (!row) {
        failures[t] = row.error().detail;
        return;
      }
      override_ids[t] = row->id;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) ASSERT_EQ(failures[t], "") << "thread " << t;

  auto spaces = store_->LoadAllRatelimitNamespaces();
  ASSERT_OK(spaces);
  ASSERT_EQ(spaces->size(), 1u);
  auto overrides = store_->LoadAllRatelimitOverrides();
  ASSERT_OK(overrides);
  ASSERT_EQ(overrides->size(), 1u) << "one live override per identifier";
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(namespace_ids[t], (*spaces)[0].id) << "thread " << t;
    EXPECT_EQ(override_ids[t], (*overrides)[0].id) << "thread " << t;
  }
}

}  // namespace
}  // namespace tollgate::store_suite
