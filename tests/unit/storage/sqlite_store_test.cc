// The Store contract, written against the Store interface only. Each backend joins the suite with
// one StoreBackend entry in INSTANTIATE_TEST_SUITE_P; the PostgreSQL store can reuse every case
// by adding its factory (which should hand back a store with empty tables).
#include "storage/sqlite/sqlite_store.h"

#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "temp_dir.h"

namespace tollgate {
namespace {

#define EXPECT_ERROR(expr, error_code)                                                  \
  do {                                                                                  \
    const auto& result_ = (expr);                                                       \
    ASSERT_FALSE(result_.has_value()) << "expected " #error_code;                       \
    EXPECT_EQ(result_.error().code, ErrorCode::error_code) << result_.error().detail;   \
  } while (false)

// How a backend under test is made. `scratch` is an empty directory owned by the test: a file
// store puts its file there; a server-backed store ignores it.
struct StoreBackend {
  std::string name;
  std::function<Result<StorePtr>(const std::filesystem::path& scratch)> make;
};

void PrintTo(const StoreBackend& backend, std::ostream* out) { *out << backend.name; }

Result<StorePtr> OpenSqlite(const std::string& path) {
  auto store = SqliteStore::Open(path);
  if (!store) return Fail(std::move(store.error()));
  return StorePtr(std::move(*store));
}

class StoreTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    auto store = GetParam().make(scratch_.Path());
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
  }

  // Inserts an API, failing the test if that does not work.
  void AddApi(const std::string& id) {
    ASSERT_OK(store_->InsertApi(Api{.id = id, .name = "api " + id, .created_at = 1'000}));
  }

  TempDir scratch_;
  StorePtr store_;
};

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

  auto usage = store_->DeleteTierIfUnused("gold");
  ASSERT_OK(usage);
  EXPECT_EQ(usage->identities, 1);
  EXPECT_EQ(usage->keys, 2);
  EXPECT_EQ(usage->throttling_tiers, 1);
  EXPECT_FALSE(usage->unused());
  auto still = store_->GetTier("gold");
  ASSERT_OK(still);
  EXPECT_TRUE(still->has_value());

  usage = store_->DeleteTierIfUnused("silver");
  ASSERT_OK(usage);
  EXPECT_TRUE(usage->unused());
  auto gone_tier = store_->GetTier("silver");
  ASSERT_OK(gone_tier);
  EXPECT_FALSE(gone_tier->has_value());
  EXPECT_ERROR(store_->DeleteTierIfUnused("silver"), kNotFound);
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

  ASSERT_OK(store_->DeleteRootKey("rk_a"));
  EXPECT_ERROR(store_->DeleteRootKey("rk_a"), kNotFound);
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

// WriteUsage's rollup upsert, read back through a second connection (the Store interface has no
// usage reads yet; the analytics half of issue 4 adds them).
TEST(SqliteUsageTest, WriteUsageAddsToRollupsAcrossBatches) {
  TempDir dir;
  const std::string path = (dir.Path() / "tollgate.db").string();
  auto store = SqliteStore::Open(path);
  ASSERT_OK(store);
  auto reader = SqliteConnection::Open(path);
  ASSERT_OK(reader);
  auto query = [&reader](const std::string& sql) { return reader->QueryInt64(sql).value_or(-1); };

  const UnixMillis t = 1'706'745'599'000;  // 2024-01-31 23:59:59 UTC
  const std::vector<UsageEvent> first = {
      {t, "api_1", "key_a", "acme", "VALID", 2, {"x"}, "", "verify"},
      {t + 500, "api_1", "key_a", "acme", "VALID", 3, {}, "", "verify"},
      {t, "api_1", "key_a", "acme", "RATE_LIMITED", 0, {}, "per-second", "authorize"},
      {t, "", "", "", "NOT_FOUND", 0, {}, "", "verify"},
  };
  ASSERT_OK((*store)->WriteUsage(first));
  const std::vector<UsageEvent> second = {
      {t + 100, "api_1", "key_a", "acme", "VALID", 5, {}, "", "verify"},
      {t + 1000, "api_1", "key_a", "acme", "VALID", 7, {}, "", "verify"},  // February
  };
  ASSERT_OK((*store)->WriteUsage(second));
  ASSERT_OK((*store)->WriteUsage({}));

  EXPECT_EQ(query("SELECT COUNT(*) FROM usage_events"), 6);
  EXPECT_EQ(query("SELECT COUNT(*) FROM usage_events WHERE tags = '[\"x\"]' AND denied_by = ''"), 1);
  const std::string jan_valid = " FROM usage_rollups WHERE key_id = 'key_a' AND external_id = 'acme' AND code = 'VALID'"
                                " AND bucket_start < 1706745600000 AND granularity = ";
  for (const char* granularity : {"'minute'", "'hour'", "'day'", "'month'"}) {
    SCOPED_TRACE(granularity);
    EXPECT_EQ(query("SELECT count" + jan_valid + granularity), 3);
    EXPECT_EQ(query("SELECT credits" + jan_valid + granularity), 10);
    EXPECT_EQ(query(std::string("SELECT SUM(count) FROM usage_rollups WHERE granularity = ") + granularity), 6);
    EXPECT_EQ(query(std::string("SELECT count FROM usage_rollups WHERE code = 'NOT_FOUND' AND key_id = '' AND granularity = ") +
                    granularity),
              1);
  }
  EXPECT_EQ(query("SELECT bucket_start FROM usage_rollups WHERE granularity = 'minute' AND code = 'RATE_LIMITED'"),
            1'706'745'540'000);
  EXPECT_EQ(query("SELECT bucket_start FROM usage_rollups WHERE granularity = 'hour' AND code = 'RATE_LIMITED'"),
            1'706'742'000'000);
  EXPECT_EQ(query("SELECT bucket_start FROM usage_rollups WHERE granularity = 'month' AND code = 'RATE_LIMITED'"),
            1'704'067'200'000);  // 2024-01-01
  EXPECT_EQ(query("SELECT credits FROM usage_rollups WHERE granularity = 'month' AND bucket_start = 1706745600000"), 7);

  ASSERT_OK((*store)->PruneRawUsage(t + 1000));
  EXPECT_EQ(query("SELECT COUNT(*) FROM usage_events"), 1);
  EXPECT_EQ(query("SELECT SUM(count) FROM usage_rollups WHERE granularity = 'day'"), 6);  // rollups stay
}

// 2024-01-31 23:58:00 UTC; events in two minutes, two hours, two days and two months.
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

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreTest,
    ::testing::Values(
        StoreBackend{"SqliteInMemory",
                     [](const std::filesystem::path&) { return OpenSqlite(kSqliteInMemoryPath); }},
        StoreBackend{"SqliteFile",
                     [](const std::filesystem::path& scratch) {
                       return OpenSqlite((scratch / "data" / "tollgate.db").string());
                     }}),
    [](const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; });

}  // namespace
}  // namespace tollgate
