// RootKeyService over a real in-memory SqliteStore: bootstrap, authentication, creation within
// the caller's scopes, deletion, and what a restart (a new service over the same store) sees.
#include "auth/root_key_service.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "common/crypto.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

constexpr UnixMillis kStart = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
const std::string kEnvKey = "operator-chosen-root-key-0123456789";

RootKey Caller(std::vector<std::string> permissions) {
  RootKey caller;
  caller.id = "rk_caller";
  caller.permissions = std::move(permissions);
  return caller;
}

class RootKeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    Restart();
  }

  // A fresh service over the same store, as after a process restart.
  void Restart() {
    service_.reset();
    auto service = RootKeyService::Create(*store_, clock_);
    ASSERT_TRUE(service.has_value()) << service.error().detail;
    service_ = std::move(*service);
  }

  std::vector<RootKey> Stored() {
    auto keys = store_->ListRootKeys();
    EXPECT_TRUE(keys.has_value());
    return keys.value_or(std::vector<RootKey>{});
  }

  ManualClock clock_{kStart};
  std::unique_ptr<SqliteStore> store_;  // outlives service_
  std::unique_ptr<RootKeyService> service_;
};

// ---- bootstrap ----

TEST_F(RootKeyServiceTest, BootstrapOnAnEmptyStoreReturnsANewAllPowerfulSecretOnce) {
  auto first = service_->Bootstrap("");
  ASSERT_OK(first);
  ASSERT_TRUE(first->has_value());
  const std::string secret = **first;
  EXPECT_TRUE(secret.starts_with("tg_root_")) << secret;
  EXPECT_GT(secret.size(), 8u + 20u);

  auto key = service_->Authenticate(secret);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->permissions, (std::vector<std::string>{"*"}));
  EXPECT_EQ(key->created_at, kStart);

  auto second = service_->Bootstrap("");
  ASSERT_OK(second);
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(Stored().size(), 1u);
}

TEST_F(RootKeyServiceTest, BootstrapGeneratesNothingWhenTheStoreAlreadyHasAKey) {
  auto first = service_->Bootstrap("");
  ASSERT_OK(first);
  Restart();
  auto again = service_->Bootstrap("");
  ASSERT_OK(again);
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(Stored().size(), 1u);
}

TEST_F(RootKeyServiceTest, BootstrapWithAnEnvironmentKeyStoresItAndReturnsNothing) {
  auto bootstrapped = service_->Bootstrap(kEnvKey);
  ASSERT_OK(bootstrapped);
  EXPECT_FALSE(bootstrapped->has_value());

  auto key = service_->Authenticate(kEnvKey);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->permissions, (std::vector<std::string>{"*"}));
  ASSERT_EQ(Stored().size(), 1u);
  EXPECT_EQ(Stored()[0].hash, Sha256Hex(kEnvKey));

  // The same key again (every restart of a container with the variable set) adds nothing.
  Restart();
  auto again = service_->Bootstrap(kEnvKey);
  ASSERT_OK(again);
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(Stored().size(), 1u);
  EXPECT_NE(service_->Authenticate(kEnvKey), nullptr);
}

TEST_F(RootKeyServiceTest, EnvironmentKeyOfSixteenCharactersIsTheShortestAccepted) {
  auto too_short = service_->Bootstrap(std::string(15, 'k'));
  ASSERT_FALSE(too_short.has_value());
  EXPECT_EQ(too_short.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(too_short.error().detail.find("TOLLGATE_ROOT_KEY"), std::string::npos) << too_short.error().detail;
  EXPECT_TRUE(Stored().empty());
  EXPECT_EQ(service_->Authenticate(std::string(15, 'k')), nullptr);

  auto shortest = service_->Bootstrap(std::string(16, 'k'));
  ASSERT_OK(shortest);
  EXPECT_NE(service_->Authenticate(std::string(16, 'k')), nullptr);
}

TEST_F(RootKeyServiceTest, EnvironmentKeyOver512CharactersIsRefused) {
  auto too_long = service_->Bootstrap(std::string(513, 'k'));
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidInput);
  EXPECT_TRUE(Stored().empty());
}

// ---- authenticate ----

TEST_F(RootKeyServiceTest, AuthenticateRefusesWrongEmptyAndPartialSecrets) {
  auto bootstrapped = service_->Bootstrap("");
  ASSERT_OK(bootstrapped);
  const std::string secret = bootstrapped->value();

  EXPECT_NE(service_->Authenticate(secret), nullptr);
  EXPECT_EQ(service_->Authenticate(""), nullptr);
  EXPECT_EQ(service_->Authenticate("tg_root_wrong"), nullptr);
  EXPECT_EQ(service_->Authenticate(secret.substr(0, secret.size() - 1)), nullptr);
  EXPECT_EQ(service_->Authenticate(secret + "x"), nullptr);
  EXPECT_EQ(service_->Authenticate(Sha256Hex(secret)), nullptr);  // the stored hash is no password
}

// ---- create ----

TEST_F(RootKeyServiceTest, CreatedKeyAuthenticatesWithItsScopesSortedAndUnique) {
  auto created = service_->CreateRootKey(Caller({"*"}), "deploy bot",
                                         {"api.*.verify_key", "api.api_1.create_key", "api.*.verify_key"});
  ASSERT_OK(created);
  EXPECT_TRUE(created->secret.starts_with("tg_root_"));
  EXPECT_TRUE(created->key.id.starts_with("rk_")) << created->key.id;

  auto key = service_->Authenticate(created->secret);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->id, created->key.id);
  EXPECT_EQ(key->name, "deploy bot");
  EXPECT_EQ(key->permissions, (std::vector<std::string>{"api.*.verify_key", "api.api_1.create_key"}));
  EXPECT_EQ(key->created_at, kStart);
}

TEST_F(RootKeyServiceTest, CallerCanGrantOnlyScopesItHolds) {
  const RootKey caller = Caller({"api.*.create_key", "api.api_1.read_key"});

  EXPECT_TRUE(service_->CreateRootKey(caller, "narrower", {"api.api_7.create_key"}).has_value());
  EXPECT_TRUE(service_->CreateRootKey(caller, "same", {"api.*.create_key", "api.api_1.read_key"}).has_value());

  for (const std::string wider : {"api.*.read_key", "*", "api.api_2.read_key", "api.*.*"}) {
    auto created = service_->CreateRootKey(caller, "wider", {"api.api_1.read_key", wider});
    ASSERT_FALSE(created.has_value()) << wider;
    EXPECT_EQ(created.error().code, ErrorCode::kForbidden) << wider;
    EXPECT_NE(created.error().detail.find(wider), std::string::npos) << created.error().detail;
  }
  EXPECT_EQ(Stored().size(), 2u);
}

TEST_F(RootKeyServiceTest, InvalidScopeIsReportedAtItsIndex) {
  auto created = service_->CreateRootKey(Caller({"*"}), "bad", {"api.*.create_key", "api.create_key"});
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidInput);
  ASSERT_EQ(created.error().fields.size(), 1u);
  EXPECT_EQ(created.error().fields[0].location, "body.permissions[1]");
  EXPECT_FALSE(created.error().fields[0].fix.empty());
  EXPECT_TRUE(Stored().empty());
}

TEST_F(RootKeyServiceTest, AKeyWithoutPermissionsIsRefused) {
  auto created = service_->CreateRootKey(Caller({"*"}), "empty", {});
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidInput);
  ASSERT_EQ(created.error().fields.size(), 1u);
  EXPECT_EQ(created.error().fields[0].location, "body.permissions");
}

TEST_F(RootKeyServiceTest, ThePlaintextSecretIsInNoFieldOfTheStoredKey) {
  auto bootstrapped = service_->Bootstrap("");
  ASSERT_OK(bootstrapped);
  auto created = service_->CreateRootKey(Caller({"*"}), "ci", {"api.*.verify_key"});
  ASSERT_OK(created);
  ASSERT_OK(service_->Bootstrap(kEnvKey));

  const std::vector<std::string> secrets = {bootstrapped->value(), created->secret, kEnvKey};
  const std::vector<RootKey> stored = Stored();
  ASSERT_EQ(stored.size(), 3u);
  for (const RootKey& key : stored) {
    const auto matches = [&](const std::string& secret) { return key.hash == Sha256Hex(secret); };
    const auto it = std::find_if(secrets.begin(), secrets.end(), matches);
    ASSERT_NE(it, secrets.end()) << "stored hash " << key.hash << " is the SHA-256 of no secret";
    const std::string& secret = *it;
    EXPECT_EQ(key.hash.size(), 64u);
    EXPECT_TRUE(secret.starts_with(key.start)) << key.start;
    EXPECT_LE(key.start.size(), secret.starts_with("tg_root_") ? 12u : secret.size() / 4) << key.start;
    for (const std::string& field : {key.id, key.hash, key.start, key.name}) {
      EXPECT_EQ(field.find(secret), std::string::npos) << field;
    }
    for (const std::string& permission : key.permissions) EXPECT_EQ(permission.find(secret), std::string::npos);
  }
}

// ---- delete and restart ----

TEST_F(RootKeyServiceTest, DeletedKeyNoLongerAuthenticatesAlsoAfterARestart) {
  auto kept = service_->CreateRootKey(Caller({"*"}), "kept", {"*"});
  auto deleted = service_->CreateRootKey(Caller({"*"}), "deleted", {"*"});
  ASSERT_OK(kept);
  ASSERT_OK(deleted);

  ASSERT_OK(service_->DeleteRootKey(deleted->key.id));
  EXPECT_EQ(service_->Authenticate(deleted->secret), nullptr);
  EXPECT_NE(service_->Authenticate(kept->secret), nullptr);
  ASSERT_EQ(service_->ListRootKeys().size(), 1u);
  EXPECT_EQ(service_->ListRootKeys()[0].id, kept->key.id);

  Restart();
  EXPECT_EQ(service_->Authenticate(deleted->secret), nullptr);
  EXPECT_NE(service_->Authenticate(kept->secret), nullptr);
}

// Another node over the same store sees root keys created and deleted here once it reloads (what
// it does on rootkey.* events).
TEST_F(RootKeyServiceTest, AnotherNodeSeesCreatedAndDeletedKeysAfterAReload) {
  auto other = RootKeyService::Create(*store_, clock_);
  ASSERT_OK(other);
  auto created = service_->CreateRootKey(Caller({"*"}), "ops", {"*"});
  ASSERT_OK(created);
  EXPECT_EQ((*other)->Authenticate(created->secret), nullptr);
  ASSERT_OK((*other)->Reload());
  EXPECT_NE((*other)->Authenticate(created->secret), nullptr);

  ASSERT_OK(service_->DeleteRootKey(created->key.id));
  EXPECT_NE((*other)->Authenticate(created->secret), nullptr);  // until it hears of it
  ASSERT_OK((*other)->Reload());
  EXPECT_EQ((*other)->Authenticate(created->secret), nullptr);
}

TEST_F(RootKeyServiceTest, DeletingAnUnknownKeyIsNotFound) {
  auto status = service_->DeleteRootKey("rk_missing");
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, ErrorCode::kNotFound);
}

TEST_F(RootKeyServiceTest, ARestartedServiceAuthenticatesEveryExistingKey) {
  auto bootstrapped = service_->Bootstrap("");
  ASSERT_OK(bootstrapped);
  ASSERT_OK(service_->Bootstrap(kEnvKey));
  clock_.Advance(1000);
  auto created = service_->CreateRootKey(Caller({"*"}), "later", {"api.*.read_key"});
  ASSERT_OK(created);

  Restart();

  auto bootstrap_key = service_->Authenticate(bootstrapped->value());
  ASSERT_NE(bootstrap_key, nullptr);
  EXPECT_EQ(bootstrap_key->permissions, (std::vector<std::string>{"*"}));
  EXPECT_NE(service_->Authenticate(kEnvKey), nullptr);
  auto created_key = service_->Authenticate(created->secret);
  ASSERT_NE(created_key, nullptr);
  EXPECT_EQ(created_key->id, created->key.id);
  EXPECT_EQ(created_key->name, "later");
  EXPECT_EQ(created_key->permissions, (std::vector<std::string>{"api.*.read_key"}));

  // Listed oldest first; the restart kept the creation times.
  const std::vector<RootKey> listed = service_->ListRootKeys();
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[2].id, created->key.id);
  EXPECT_EQ(listed[2].created_at, kStart + 1000);
}

}  // namespace
}  // namespace tollgate
