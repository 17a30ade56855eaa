// KeyService over a real in-memory SqliteStore and a ManualClock: what a caller of the key API
// sees, including what survives a restart (a new KeyService over the same store).
#include "keys/key_service.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <algorithm>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "common/calendar.h"
#include "events/inprocess/in_process_event_bus.h"
#include "events/outbox_relay.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

constexpr UnixMillis kHour = 3'600'000;
// 2026-01-15 10:00:00 UTC.
const UnixMillis kStart = FromCivil({2026, 1, 15}) + 10 * kHour;

// The error code of a failed result; kInternal (which no case here expects) if it succeeded.
template <typename T>
ErrorCode ErrorOf(const Result<T>& result) {
  EXPECT_FALSE(result.has_value());
  return result.has_value() ? ErrorCode::kInternal : result.error().code;
}

CreditRefill Daily(std::int64_t amount) { return {RefillInterval::kDaily, amount, 1}; }
CreditRefill Monthly(std::int64_t amount, unsigned day) { return {RefillInterval::kMonthly, amount, day}; }

class KeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    Restart();
    ASSERT_NE(service_, nullptr);
    auto api = service_->CreateApi("payments");
    ASSERT_TRUE(api.has_value()) << api.error().detail;
    api_id_ = api->id;
  }

  // What a process restart does: a fresh service (and cache) over the same store.
  // What a clean shutdown and start do: flush the balances verifies changed, start anew.
  void Restart() {
    if (service_) {
      ASSERT_TRUE(service_->FlushCredits().has_value());
    }
    service_.reset();
    auto service = KeyService::Create(*store_, clock_);
    ASSERT_TRUE(service.has_value()) << service.error().detail;
    service_ = std::move(*service);
  }

  CreateKeyParams Params() const {
    CreateKeyParams params;
    params.api_id = api_id_;
    params.prefix = "sk";
    return params;
  }

  // Creates a key, failing the test on error; returns its id and secret.
  CreatedKey MustCreate(CreateKeyParams params) {
    auto created = service_->CreateKey(std::move(params));
    EXPECT_TRUE(created.has_value()) << created.error().detail;
    return created.value_or(CreatedKey{});
  }
  CreatedKey MustCreate() { return MustCreate(Params()); }

  CreatedKey WithCredits(std::int64_t remaining, std::optional<CreditRefill> refill = std::nullopt) {
    CreateKeyParams params = Params();
    params.credits = Credits{remaining, refill, 0};
    return MustCreate(std::move(params));
  }

  VerifyOutcome Verify(const std::string& secret, std::int64_t cost = 1,
                       const PermissionQuery* permissions = nullptr) {
    return service_->Verify(service_->FindForVerify(secret), VerifyParams{permissions, cost});
  }
  // The verify code of a free check (cost 0), as the API spells it.
  std::string_view CodeOf(const std::string& secret) { return VerifyCodeName(Verify(secret, 0).code); }

  // The live balance GetKey shows; nullopt for an unlimited or unknown key.
  std::optional<std::int64_t> LiveRemaining(const std::string& key_id) {
    auto view = service_->GetKey(key_id);
    EXPECT_TRUE(view.has_value()) << key_id;
    if (!view || !view->key.credits) return std::nullopt;
    return view->key.credits->remaining;
  }

  // The balance the store holds after the periodic write-back, read around the cache.
  std::optional<Credits> StoredCredits(const std::string& key_id) {
    EXPECT_TRUE(service_->FlushCredits().has_value());
    auto key = store_->GetKey(key_id);
    EXPECT_TRUE(key.has_value() && key->has_value());
    if (!key.has_value() || !key->has_value()) return std::nullopt;
    return (**key).credits;
  }
  std::optional<std::int64_t> StoredRemaining(const std::string& key_id) {
    auto credits = StoredCredits(key_id);
    return credits ? std::optional<std::int64_t>(credits->remaining) : std::nullopt;
  }

  ManualClock clock_{kStart};
  InProcessEventBus events_;
  std::unique_ptr<SqliteStore> store_;  // outlives service_
  std::unique_ptr<KeyService> service_;
  std::string api_id_;
};

// ---- create and verify ----

TEST_F(KeyServiceTest, CreatedKeyVerifiesAsValid) {
  CreateKeyParams params = Params();
  params.name = "checkout";
  const CreatedKey created = MustCreate(std::move(params));

  EXPECT_TRUE(created.secret.starts_with("sk_")) << created.secret;
  const VerifyOutcome outcome = Verify(created.secret);
  EXPECT_EQ(VerifyCodeName(outcome.code), "VALID");
  EXPECT_TRUE(outcome.valid());
  ASSERT_NE(outcome.key, nullptr);
  EXPECT_EQ(outcome.key->key.id, created.key_id);
  EXPECT_EQ(outcome.key->key.api_id, api_id_);
  EXPECT_EQ(outcome.key->key.name, "checkout");
  EXPECT_FALSE(outcome.credits_remaining.has_value());  // unlimited
}

TEST_F(KeyServiceTest, TheSecretIsNotStoredAnywhereInTheKey) {
  const CreatedKey created = MustCreate();
  auto view = service_->GetKey(created.key_id);
  ASSERT_OK(view);
  EXPECT_NE(view->key.hash, created.secret);
  EXPECT_EQ(view->key.hash.size(), 64u);
  EXPECT_TRUE(created.secret.starts_with(view->key.start));
  EXPECT_LT(view->key.start.size(), created.secret.size());
}

TEST_F(KeyServiceTest, UnknownSecretIsNotFound) {
  MustCreate();
  const VerifyOutcome outcome = Verify("sk_doesNotExist");
  EXPECT_EQ(VerifyCodeName(outcome.code), "NOT_FOUND");
  EXPECT_EQ(outcome.key, nullptr);
  EXPECT_EQ(CodeOf(""), "NOT_FOUND");
  EXPECT_FALSE(service_->Whoami("sk_doesNotExist").has_value());
}

TEST_F(KeyServiceTest, CreateKeyInUnknownApiFailsAndStoresNothing) {
  CreateKeyParams params = Params();
  params.api_id = "api_missing";
  auto created = service_->CreateKey(std::move(params));
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(service_->cache().Size(), 0u);
}

TEST_F(KeyServiceTest, DisabledKeyIsDisabledUntilEnabledAgain) {
  CreateKeyParams params = Params();
  params.enabled = false;
  const CreatedKey created = MustCreate(std::move(params));
  EXPECT_EQ(CodeOf(created.secret), "DISABLED");

  UpdateKeyParams update;
  update.key_id = created.key_id;
  update.enabled = true;
  ASSERT_OK(service_->UpdateKey(std::move(update)));
  EXPECT_EQ(CodeOf(created.secret), "VALID");
}

TEST_F(KeyServiceTest, KeyExpiresExactlyAtItsExpiresInstant) {
  CreateKeyParams params = Params();
  params.expires = kStart + kHour;
  const CreatedKey created = MustCreate(std::move(params));

  clock_.Set(kStart + kHour - 1);
  EXPECT_EQ(CodeOf(created.secret), "VALID");
  clock_.Set(kStart + kHour);
  EXPECT_EQ(CodeOf(created.secret), "EXPIRED");
  clock_.Set(kStart + 2 * kHour);
  EXPECT_EQ(CodeOf(created.secret), "EXPIRED");
}

TEST_F(KeyServiceTest, PermissionQueryDecidesInsufficientPermissions) {
  CreateKeyParams params = Params();
  params.permissions = {"documents.read", "documents.list"};
  const CreatedKey created = MustCreate(std::move(params));

  auto read = PermissionQuery::Parse("documents.read");
  auto write = PermissionQuery::Parse("documents.write");
  auto either = PermissionQuery::Parse("documents.write OR documents.read");
  auto both = PermissionQuery::Parse("documents.read AND documents.write");
  ASSERT_OK(read);
  ASSERT_OK(write);
  ASSERT_OK(either);
  ASSERT_OK(both);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 0, &*read).code), "VALID");
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 0, &*write).code), "INSUFFICIENT_PERMISSIONS");
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 0, &*either).code), "VALID");
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 0, &*both).code), "INSUFFICIENT_PERMISSIONS");
}

// ---- credits ----

TEST_F(KeyServiceTest, EachValidVerifySpendsItsCostAndCostZeroSpendsNothing) {
  const CreatedKey created = WithCredits(3);

  VerifyOutcome first = Verify(created.secret, 1);
  EXPECT_EQ(VerifyCodeName(first.code), "VALID");
  EXPECT_EQ(first.credits_remaining, 2);

  VerifyOutcome free_check = Verify(created.secret, 0);
  EXPECT_EQ(VerifyCodeName(free_check.code), "VALID");
  EXPECT_EQ(free_check.credits_remaining, 2);

  VerifyOutcome last = Verify(created.secret, 2);
  EXPECT_EQ(VerifyCodeName(last.code), "VALID");
  EXPECT_EQ(last.credits_remaining, 0);

  VerifyOutcome exhausted = Verify(created.secret, 1);
  EXPECT_EQ(VerifyCodeName(exhausted.code), "USAGE_EXCEEDED");
  EXPECT_EQ(exhausted.credits_remaining, 0);
}

TEST_F(KeyServiceTest, UsageExceededSpendsNothing) {
  const CreatedKey created = WithCredits(2);

  VerifyOutcome too_expensive = Verify(created.secret, 3);
  EXPECT_EQ(VerifyCodeName(too_expensive.code), "USAGE_EXCEEDED");
  EXPECT_EQ(too_expensive.credits_remaining, 2);
  EXPECT_EQ(StoredRemaining(created.key_id), 2);

  VerifyOutcome affordable = Verify(created.secret, 2);
  EXPECT_EQ(VerifyCodeName(affordable.code), "VALID");
  EXPECT_EQ(affordable.credits_remaining, 0);
}

TEST_F(KeyServiceTest, InvalidKeysSpendNoCredits) {
  CreateKeyParams params = Params();
  params.credits = Credits{5, std::nullopt, 0};
  params.permissions = {"a"};
  params.expires = kStart + kHour;
  const CreatedKey created = MustCreate(std::move(params));

  auto needs_b = PermissionQuery::Parse("b");
  ASSERT_OK(needs_b);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 1, &*needs_b).code), "INSUFFICIENT_PERMISSIONS");
  clock_.Set(kStart + kHour);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 1).code), "EXPIRED");

  auto view = service_->GetKey(created.key_id);
  ASSERT_OK(view);
  ASSERT_TRUE(view->key.credits.has_value());
  EXPECT_EQ(view->key.credits->remaining, 5);
}

TEST_F(KeyServiceTest, RemainingCreditsSurviveARestart) {
  const CreatedKey created = WithCredits(5);
  Verify(created.secret, 1);
  Verify(created.secret, 1);
  EXPECT_EQ(StoredRemaining(created.key_id), 3);

  Restart();

  auto view = service_->GetKey(created.key_id);
  ASSERT_OK(view);
  ASSERT_TRUE(view->key.credits.has_value());
  EXPECT_EQ(view->key.credits->remaining, 3);
  EXPECT_EQ(Verify(created.secret, 1).credits_remaining, 2);
}

TEST_F(KeyServiceTest, DailyRefillResetsToAmountAtUtcMidnightAndNotBefore) {
  const CreatedKey created = WithCredits(2, Daily(5));
  ASSERT_EQ(Verify(created.secret, 2).credits_remaining, 0);

  const UnixMillis midnight = FromCivil({2026, 1, 16});
  clock_.Set(midnight - 1);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 1).code), "USAGE_EXCEEDED");

  clock_.Set(midnight);
  VerifyOutcome refilled = Verify(created.secret, 0);
  EXPECT_EQ(VerifyCodeName(refilled.code), "VALID");
  EXPECT_EQ(refilled.credits_remaining, 5);  // reset to the amount, not 0 + amount on top of 2
  EXPECT_EQ(StoredRemaining(created.key_id), 5);

  // Only one refill per day: spending later that day is not undone.
  EXPECT_EQ(Verify(created.secret, 4).credits_remaining, 1);
  clock_.Set(midnight + 23 * kHour);
  EXPECT_EQ(Verify(created.secret, 0).credits_remaining, 1);
}

TEST_F(KeyServiceTest, DailyRefillDoesNotTopUpAnUnspentBalanceAboveTheAmount) {
  const CreatedKey created = WithCredits(100, Daily(5));
  clock_.Set(FromCivil({2026, 1, 16}));
  EXPECT_EQ(Verify(created.secret, 0).credits_remaining, 5);
}

TEST_F(KeyServiceTest, MonthlyRefillOnDay31HappensOnTheLastDayOfFebruary) {
  clock_.Set(FromCivil({2026, 1, 31}) + 12 * kHour);
  const CreatedKey created = WithCredits(0, Monthly(50, 31));
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 1).code), "USAGE_EXCEEDED");

  clock_.Set(FromCivil({2026, 2, 28}) - 1);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 1).code), "USAGE_EXCEEDED");

  clock_.Set(FromCivil({2026, 2, 28}));
  VerifyOutcome refilled = Verify(created.secret, 1);
  EXPECT_EQ(VerifyCodeName(refilled.code), "VALID");
  EXPECT_EQ(refilled.credits_remaining, 49);

  // The next boundary is 31 March, not 28 March.
  clock_.Set(FromCivil({2026, 3, 30}));
  EXPECT_EQ(Verify(created.secret, 0).credits_remaining, 49);
  clock_.Set(FromCivil({2026, 3, 31}));
  EXPECT_EQ(Verify(created.secret, 0).credits_remaining, 50);
}

TEST_F(KeyServiceTest, RefillIsVisibleInGetKeyWithoutAVerify) {
  const CreatedKey created = WithCredits(1, Daily(7));
  Verify(created.secret, 1);
  clock_.Set(FromCivil({2026, 1, 16}));
  auto view = service_->GetKey(created.key_id);
  ASSERT_OK(view);
  ASSERT_TRUE(view->key.credits.has_value());
  EXPECT_EQ(view->key.credits->remaining, 7);
}

TEST_F(KeyServiceTest, UpdateCreditsSetIncrementDecrementAndUnlimited) {
  const CreatedKey created = WithCredits(1);

  auto set = service_->UpdateCredits(created.key_id, CreditOperation::kSet, 10);
  ASSERT_OK(set);
  ASSERT_TRUE(set->has_value());
  EXPECT_EQ((*set)->remaining, 10);

  auto incremented = service_->UpdateCredits(created.key_id, CreditOperation::kIncrement, 5);
  ASSERT_OK(incremented);
  EXPECT_EQ((*incremented)->remaining, 15);

  auto decremented = service_->UpdateCredits(created.key_id, CreditOperation::kDecrement, 4);
  ASSERT_OK(decremented);
  EXPECT_EQ((*decremented)->remaining, 11);
  EXPECT_EQ(Verify(created.secret, 1).credits_remaining, 10);
  EXPECT_EQ(StoredRemaining(created.key_id), 10);

  // Decrementing past zero stops at zero.
  auto floored = service_->UpdateCredits(created.key_id, CreditOperation::kDecrement, 1000);
  ASSERT_OK(floored);
  EXPECT_EQ((*floored)->remaining, 0);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 1).code), "USAGE_EXCEEDED");

  auto unlimited = service_->UpdateCredits(created.key_id, CreditOperation::kSet, std::nullopt);
  ASSERT_OK(unlimited);
  EXPECT_FALSE(unlimited->has_value());
  const VerifyOutcome free = Verify(created.secret, 1);
  EXPECT_EQ(VerifyCodeName(free.code), "VALID");
  EXPECT_FALSE(free.credits_remaining.has_value());
  EXPECT_FALSE(StoredCredits(created.key_id).has_value());

  Restart();
  EXPECT_FALSE(Verify(created.secret, 1).credits_remaining.has_value());
}

TEST_F(KeyServiceTest, SetCreditsOnAnUnlimitedKeyLimitsIt) {
  const CreatedKey created = MustCreate();
  auto set = service_->UpdateCredits(created.key_id, CreditOperation::kSet, 1);
  ASSERT_OK(set);
  EXPECT_EQ(Verify(created.secret, 1).credits_remaining, 0);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 1).code), "USAGE_EXCEEDED");
}

// Keys without credits carry no credit state (memory with a million keys); the first credits a
// write gives them create it, and it is the one verifies spend from and the write-back writes.
TEST_F(KeyServiceTest, AKeyWithoutCreditsCarriesNoCreditStateUntilItGetsCredits) {
  const CreatedKey unlimited = MustCreate();
  EXPECT_EQ(service_->cache().FindById(unlimited.key_id)->credits, nullptr);
  const CreatedKey limited = WithCredits(5);
  EXPECT_NE(service_->cache().FindById(limited.key_id)->credits, nullptr);
  Restart();
  EXPECT_EQ(service_->cache().FindById(unlimited.key_id)->credits, nullptr);
  EXPECT_NE(service_->cache().FindById(limited.key_id)->credits, nullptr);
  EXPECT_EQ(VerifyCodeName(Verify(unlimited.secret, 1000).code), "VALID");
  EXPECT_EQ(Verify(unlimited.secret, 1000).credits_remaining, std::nullopt);
  EXPECT_EQ(LiveRemaining(unlimited.key_id), std::nullopt);

  ASSERT_OK(service_->UpdateCredits(unlimited.key_id, CreditOperation::kSet, 3));
  ASSERT_OK(service_->UpdateCredits(unlimited.key_id, CreditOperation::kIncrement, 2));
  EXPECT_EQ(Verify(unlimited.secret, 4).credits_remaining, 1);
  EXPECT_EQ(StoredRemaining(unlimited.key_id), 1);
  Restart();
  EXPECT_EQ(Verify(unlimited.secret, 1).credits_remaining, 0);
  EXPECT_EQ(VerifyCodeName(Verify(unlimited.secret, 1).code), "USAGE_EXCEEDED");
}

TEST_F(KeyServiceTest, UpdateKeyGivesAKeyWithoutCreditsItsFirstBalance) {
  const CreatedKey created = MustCreate();
  UpdateKeyParams update;
  update.key_id = created.key_id;
  update.name = std::string("renamed");
  ASSERT_OK(service_->UpdateKey(update));
  EXPECT_EQ(LiveRemaining(created.key_id), std::nullopt);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 50).code), "VALID");

  // Neither a rename nor refused or unlimited credit changes give the key a state.
  EXPECT_FALSE(service_->UpdateCredits(created.key_id, CreditOperation::kIncrement, 1).has_value());
  ASSERT_OK(service_->UpdateCredits(created.key_id, CreditOperation::kSet, std::nullopt));
  EXPECT_EQ(service_->cache().FindById(created.key_id)->credits, nullptr);

  UpdateKeyParams credits;
  credits.key_id = created.key_id;
  credits.credits = std::optional<Credits>(Credits{2, std::nullopt, 0});
  ASSERT_OK(service_->UpdateKey(credits));
  EXPECT_EQ(Verify(created.secret, 2).credits_remaining, 0);
  EXPECT_EQ(VerifyCodeName(Verify(created.secret, 1).code), "USAGE_EXCEEDED");
  EXPECT_EQ(StoredRemaining(created.key_id), 0);
}

TEST_F(KeyServiceTest, UpdateCreditsRefusesWhatItCannotDo) {
  const CreatedKey unlimited = MustCreate();
  auto increment = service_->UpdateCredits(unlimited.key_id, CreditOperation::kIncrement, 5);
  ASSERT_FALSE(increment.has_value());
  EXPECT_EQ(increment.error().code, ErrorCode::kInvalidInput);
  ASSERT_EQ(increment.error().fields.size(), 1u);
  EXPECT_EQ(increment.error().fields[0].location, "body.operation");
  EXPECT_FALSE(service_->UpdateCredits(unlimited.key_id, CreditOperation::kDecrement, 5).has_value());

  const CreatedKey limited = WithCredits(3);
  auto no_value = service_->UpdateCredits(limited.key_id, CreditOperation::kIncrement, std::nullopt);
  ASSERT_FALSE(no_value.has_value());
  ASSERT_EQ(no_value.error().fields.size(), 1u);
  EXPECT_EQ(no_value.error().fields[0].location, "body.value");

  auto negative = service_->UpdateCredits(limited.key_id, CreditOperation::kSet, -1);
  ASSERT_FALSE(negative.has_value());
  EXPECT_EQ(negative.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(Verify(limited.secret, 0).credits_remaining, 3);

  auto missing = service_->UpdateCredits("key_missing", CreditOperation::kSet, 1);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// ---- updateKey ----

TEST_F(KeyServiceTest, UpdateKeyClearsNameWithEmptyStringAndExpiresWithInnerNullopt) {
  CreateKeyParams params = Params();
  params.name = "to be cleared";
  params.expires = kStart + kHour;
  const CreatedKey created = MustCreate(std::move(params));

  UpdateKeyParams update;
  update.key_id = created.key_id;
  update.name = "";
  update.expires = std::optional<UnixMillis>{};
  ASSERT_OK(service_->UpdateKey(std::move(update)));

  clock_.Set(kStart + 2 * kHour);
  EXPECT_EQ(CodeOf(created.secret), "VALID");
  for (int run = 0; run < 2; ++run) {
    auto view = service_->GetKey(created.key_id);
    ASSERT_OK(view);
    EXPECT_EQ(view->key.name, "") << "run " << run;
    EXPECT_FALSE(view->key.expires.has_value()) << "run " << run;
    Restart();
  }
}

TEST_F(KeyServiceTest, UpdateKeyLeavesFieldsItWasNotGiven) {
  CreateKeyParams params = Params();
  params.name = "kept";
  params.meta_json = R"({"plan":"pro"})";
  params.permissions = {"a", "b"};
  params.expires = kStart + kHour;
  const CreatedKey created = MustCreate(std::move(params));

  UpdateKeyParams update;
  update.key_id = created.key_id;
  update.enabled = true;
  ASSERT_OK(service_->UpdateKey(std::move(update)));

  Restart();
  auto view = service_->GetKey(created.key_id);
  ASSERT_OK(view);
  EXPECT_EQ(view->key.name, "kept");
  EXPECT_EQ(view->key.meta_json, R"({"plan":"pro"})");
  EXPECT_EQ(view->key.permissions, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(view->key.expires, kStart + kHour);
}

TEST_F(KeyServiceTest, VerifiesLeaveTheStoreAloneUntilTheWriteBack) {
  const CreatedKey created = WithCredits(10);
  Verify(created.secret, 3);
  Verify(created.secret, 2);
  auto before = store_->GetKey(created.key_id);
  ASSERT_TRUE(before.has_value() && before->has_value());
  EXPECT_EQ((**before).credits->remaining, 10) << "a verify wrote to the store";
  EXPECT_EQ(LiveRemaining(created.key_id), 5);
  ASSERT_TRUE(service_->FlushCredits().has_value());
  auto after = store_->GetKey(created.key_id);
  EXPECT_EQ((**after).credits->remaining, 5);
}

TEST_F(KeyServiceTest, UpdateKeyThatDoesNotTouchCreditsKeepsTheLiveBalance) {
  const CreatedKey created = WithCredits(10);
  Verify(created.secret, 3);

  UpdateKeyParams update;
  update.key_id = created.key_id;
  update.name = "renamed";
  ASSERT_OK(service_->UpdateKey(std::move(update)));

  EXPECT_EQ(LiveRemaining(created.key_id), 7);
  EXPECT_EQ(Verify(created.secret, 1).credits_remaining, 6);
  Restart();
  EXPECT_EQ(LiveRemaining(created.key_id), 6);
  EXPECT_EQ(service_->GetKey(created.key_id).value().key.name, "renamed");
}

TEST_F(KeyServiceTest, ConcurrentVerifiesAreNotLostToConcurrentUpdateKeys) {
  constexpr int kStartCredits = 1000;
  constexpr int kVerifiers = 2;
  constexpr int kVerifiesEach = 150;
  const CreatedKey created = WithCredits(kStartCredits);

  std::vector<std::thread> verifiers;
  std::atomic<int> valid{0};
  for (int t = 0; t < kVerifiers; ++t) {
    verifiers.emplace_back([&] {
      for (int i = 0; i < kVerifiesEach; ++i) {
        if (service_->Verify(service_->FindForVerify(created.secret), VerifyParams{nullptr, 1}).valid()) {
          valid.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    UpdateKeyParams update;
    update.key_id = created.key_id;
    update.name = "rename " + std::to_string(i);
    EXPECT_TRUE(service_->UpdateKey(std::move(update)).has_value());  // no ASSERT: threads run
  }
  for (auto& verifier : verifiers) verifier.join();

  EXPECT_EQ(valid.load(), kVerifiers * kVerifiesEach);
  const std::int64_t expected = kStartCredits - kVerifiers * kVerifiesEach;
  EXPECT_EQ(LiveRemaining(created.key_id), expected);
  EXPECT_EQ(StoredRemaining(created.key_id), expected);
  Restart();
  EXPECT_EQ(LiveRemaining(created.key_id), expected);
}

TEST_F(KeyServiceTest, UpdateKeyWithCreditsReplacesTheBalance) {
  const CreatedKey created = WithCredits(10);
  UpdateKeyParams update;
  update.key_id = created.key_id;
  update.credits = std::optional<Credits>(Credits{3, std::nullopt, 0});
  ASSERT_OK(service_->UpdateKey(std::move(update)));
  EXPECT_EQ(Verify(created.secret, 1).credits_remaining, 2);

  UpdateKeyParams unlimited;
  unlimited.key_id = created.key_id;
  unlimited.credits = std::optional<Credits>{};
  ASSERT_OK(service_->UpdateKey(std::move(unlimited)));
  EXPECT_FALSE(Verify(created.secret, 1).credits_remaining.has_value());
  Restart();
  EXPECT_FALSE(Verify(created.secret, 1).credits_remaining.has_value());
}

TEST_F(KeyServiceTest, UpdateOfUnknownKeyIsNotFound) {
  UpdateKeyParams update;
  update.key_id = "key_missing";
  update.name = "x";
  auto status = service_->UpdateKey(std::move(update));
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, ErrorCode::kNotFound);
}

TEST_F(KeyServiceTest, InvalidUpdateChangesNothing) {
  CreateKeyParams params = Params();
  params.name = "original";
  const CreatedKey created = MustCreate(std::move(params));

  UpdateKeyParams update;
  update.key_id = created.key_id;
  update.name = "new name";
  update.ratelimits = std::vector<RateLimitConfig>{{"", "per-minute", 10, 10, false}};
  auto status = service_->UpdateKey(std::move(update));
  ASSERT_FALSE(status.has_value());
  ASSERT_EQ(status.error().fields.size(), 1u);
  EXPECT_EQ(status.error().fields[0].location, "body.ratelimits[0].duration");
  EXPECT_EQ(service_->GetKey(created.key_id).value().key.name, "original");
}

// ---- rerollKey ----

TEST_F(KeyServiceTest, RerolledKeyHasTheSameConfigAndTheOldOneExpiresLater) {
  CreateKeyParams params = Params();
  params.name = "rolled";
  params.external_id = "customer_42";
  params.meta_json = R"({"plan":"pro"})";
  params.permissions = {"documents.read"};
  params.roles = {"reader"};
  params.credits = Credits{20, Daily(20), 0};
  params.ratelimits = {{"", "per-minute", 100, 60'000, true}};
  const CreatedKey old_key = MustCreate(std::move(params));
  Verify(old_key.secret, 5);

  auto rerolled = service_->RerollKey(old_key.key_id, 60'000);
  ASSERT_OK(rerolled);
  EXPECT_NE(rerolled->key_id, old_key.key_id);
  EXPECT_NE(rerolled->secret, old_key.secret);
  EXPECT_TRUE(rerolled->secret.starts_with("sk_")) << rerolled->secret;

  auto view = service_->GetKey(rerolled->key_id);
  ASSERT_OK(view);
  const Key& key = view->key;
  EXPECT_EQ(key.api_id, api_id_);
  EXPECT_EQ(key.name, "rolled");
  EXPECT_EQ(key.external_id, "customer_42");
  ASSERT_TRUE(view->identity.has_value());
  EXPECT_EQ(view->identity->external_id, "customer_42");
  EXPECT_EQ(key.meta_json, R"({"plan":"pro"})");
  EXPECT_EQ(key.permissions, (std::vector<std::string>{"documents.read"}));
  EXPECT_EQ(key.roles, (std::vector<std::string>{"reader"}));
  ASSERT_TRUE(key.credits.has_value());
  EXPECT_EQ(key.credits->remaining, 15);
  ASSERT_TRUE(key.credits->refill.has_value());
  EXPECT_EQ(key.credits->refill->amount, 20);
  ASSERT_EQ(key.ratelimits.size(), 1u);
  EXPECT_EQ(key.ratelimits[0].name, "per-minute");
  EXPECT_EQ(key.ratelimits[0].limit, 100);
  EXPECT_EQ(key.ratelimits[0].duration_ms, 60'000);
  EXPECT_TRUE(key.ratelimits[0].auto_apply);
  EXPECT_FALSE(key.expires.has_value());

  EXPECT_EQ(CodeOf(rerolled->secret), "VALID");
  EXPECT_EQ(CodeOf(old_key.secret), "VALID");
  clock_.Advance(59'999);
  EXPECT_EQ(CodeOf(old_key.secret), "VALID");
  clock_.Advance(1);
  EXPECT_EQ(CodeOf(old_key.secret), "EXPIRED");
  EXPECT_EQ(CodeOf(rerolled->secret), "VALID");
}

TEST_F(KeyServiceTest, RerollWithExpirationZeroRevokesTheOldKeyAtOnce) {
  const CreatedKey old_key = MustCreate();
  auto rerolled = service_->RerollKey(old_key.key_id, 0);
  ASSERT_OK(rerolled);
  EXPECT_EQ(CodeOf(old_key.secret), "EXPIRED");
  EXPECT_EQ(CodeOf(rerolled->secret), "VALID");
  Restart();
  EXPECT_EQ(CodeOf(old_key.secret), "EXPIRED");
  EXPECT_EQ(CodeOf(rerolled->secret), "VALID");
}

TEST_F(KeyServiceTest, RerollNeverExtendsAnEarlierExpiry) {
  CreateKeyParams params = Params();
  params.expires = kStart + 1000;
  const CreatedKey old_key = MustCreate(std::move(params));
  auto rerolled = service_->RerollKey(old_key.key_id, 60'000);
  ASSERT_OK(rerolled);
  clock_.Advance(1000);
  EXPECT_EQ(CodeOf(old_key.secret), "EXPIRED");
}

TEST_F(KeyServiceTest, RerollRefusesNegativeExpirationAndUnknownKeys) {
  const CreatedKey old_key = MustCreate();
  auto negative = service_->RerollKey(old_key.key_id, -1);
  ASSERT_FALSE(negative.has_value());
  ASSERT_EQ(negative.error().fields.size(), 1u);
  EXPECT_EQ(negative.error().fields[0].location, "body.expiration");
  EXPECT_EQ(service_->cache().Size(), 1u);

  auto missing = service_->RerollKey("key_missing", 0);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// ---- delete ----

TEST_F(KeyServiceTest, DeletedKeyIsNotFoundAlsoAfterARestart) {
  const CreatedKey deleted = MustCreate();
  const CreatedKey kept = MustCreate();
  ASSERT_OK(service_->DeleteKey(deleted.key_id, false));

  EXPECT_EQ(CodeOf(deleted.secret), "NOT_FOUND");
  EXPECT_EQ(ErrorOf(service_->GetKey(deleted.key_id)), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(kept.secret), "VALID");
  auto again = service_->DeleteKey(deleted.key_id, false);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);

  Restart();
  EXPECT_EQ(CodeOf(deleted.secret), "NOT_FOUND");
  EXPECT_EQ(CodeOf(kept.secret), "VALID");
}

TEST_F(KeyServiceTest, PermanentlyDeletedKeyIsNotFound) {
  const CreatedKey deleted = MustCreate();
  ASSERT_OK(service_->DeleteKey(deleted.key_id, true));
  EXPECT_EQ(CodeOf(deleted.secret), "NOT_FOUND");
  Restart();
  EXPECT_EQ(CodeOf(deleted.secret), "NOT_FOUND");
}

TEST_F(KeyServiceTest, DeleteApiRemovesItsKeysAndOnlyItsKeys) {
  const CreatedKey doomed = MustCreate();
  auto other_api = service_->CreateApi("other api");
  ASSERT_OK(other_api);
  CreateKeyParams params = Params();
  params.api_id = other_api->id;
  const CreatedKey survivor = MustCreate(std::move(params));

  ASSERT_OK(service_->DeleteApi(api_id_));

  EXPECT_EQ(CodeOf(doomed.secret), "NOT_FOUND");
  EXPECT_EQ(CodeOf(survivor.secret), "VALID");
  EXPECT_EQ(ErrorOf(service_->GetApi(api_id_)), ErrorCode::kNotFound);
  EXPECT_TRUE(service_->GetApi(other_api->id).has_value());
  Restart();
  EXPECT_EQ(CodeOf(doomed.secret), "NOT_FOUND");
  EXPECT_EQ(CodeOf(survivor.secret), "VALID");
}

// ---- validation ----

TEST_F(KeyServiceTest, CreateKeyReportsEveryInvalidFieldWithItsLocation) {
  CreateKeyParams params = Params();
  params.name = std::string(256, 'n');
  params.credits = Credits{-1, Monthly(0, 32), 0};
  params.ratelimits = {{"", "ok", 10, 1000, false}, {"", "fast", 0, 999, false}, {"", "ok", 1, 1000, false}};
  params.permissions = {"fine", ""};
  auto created = service_->CreateKey(std::move(params));
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidInput);

  std::vector<std::string> locations;
  for (const FieldError& field : created.error().fields) locations.push_back(field.location);
  EXPECT_EQ(locations, (std::vector<std::string>{
                           "body.name",
                           "body.credits.remaining",
                           "body.credits.refill.amount",
                           "body.credits.refill.refillDay",
                           "body.ratelimits[1].limit",
                           "body.ratelimits[1].duration",
                           "body.ratelimits[2].name",
                           "body.permissions[1]",
                       }));
  EXPECT_EQ(service_->cache().Size(), 0u);
  EXPECT_TRUE(store_->LoadAllKeys()->empty());
}

TEST_F(KeyServiceTest, RateLimitDurationUnderOneSecondNamesTheField) {
  CreateKeyParams params = Params();
  params.ratelimits = {{"", "per-second", 10, 999, false}};
  auto created = service_->CreateKey(std::move(params));
  ASSERT_FALSE(created.has_value());
  ASSERT_EQ(created.error().fields.size(), 1u);
  EXPECT_EQ(created.error().fields[0].location, "body.ratelimits[0].duration");
  EXPECT_NE(created.error().detail.find("body.ratelimits[0].duration"), std::string::npos)
      << created.error().detail;

  CreateKeyParams exact = Params();
  exact.ratelimits = {{"", "per-second", 10, 1000, false}};
  EXPECT_TRUE(service_->CreateKey(std::move(exact)).has_value());
}

TEST_F(KeyServiceTest, BadPrefixIsReportedAtBodyPrefix) {
  CreateKeyParams params = Params();
  params.prefix = "my_app";
  auto created = service_->CreateKey(std::move(params));
  ASSERT_FALSE(created.has_value());
  ASSERT_EQ(created.error().fields.size(), 1u);
  EXPECT_EQ(created.error().fields[0].location, "body.prefix");
}

TEST_F(KeyServiceTest, ApiNameMustBeThreeTo255Characters) {
  auto short_name = service_->CreateApi("ab");
  ASSERT_FALSE(short_name.has_value());
  ASSERT_EQ(short_name.error().fields.size(), 1u);
  EXPECT_EQ(short_name.error().fields[0].location, "body.name");
  EXPECT_FALSE(service_->CreateApi(std::string(256, 'a')).has_value());
  EXPECT_TRUE(service_->CreateApi("abc").has_value());
  EXPECT_TRUE(service_->CreateApi(std::string(255, 'a')).has_value());
}

// ---- restart and events ----

TEST_F(KeyServiceTest, ARestartSeesEveryKey) {
  std::vector<CreatedKey> keys;
  for (int i = 0; i < 20; ++i) {
    CreateKeyParams params = Params();
    params.name = "key " + std::to_string(i);
    if (i % 3 == 0) params.external_id = "customer_" + std::to_string(i % 2);
    keys.push_back(MustCreate(std::move(params)));
  }

  Restart();

  EXPECT_EQ(service_->cache().Size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const VerifyOutcome outcome = Verify(keys[i].secret, 0);
    EXPECT_EQ(VerifyCodeName(outcome.code), "VALID") << i;
    ASSERT_NE(outcome.key, nullptr);
    EXPECT_EQ(outcome.key->key.id, keys[i].key_id);
    EXPECT_EQ(outcome.key->key.name, "key " + std::to_string(i));
    auto view = service_->GetKey(keys[i].key_id);
    ASSERT_OK(view);
    EXPECT_EQ(view->identity.has_value(), i % 3 == 0) << i;
    if (view->identity) {
      EXPECT_EQ(view->identity->external_id, "customer_" + std::to_string(i % 2));
    }
  }
}

TEST_F(KeyServiceTest, WritesLeaveKeyEventsInTheOutboxThatNameTheKeyButNotTheSecret) {
  std::vector<Event> seen;
  events_.Subscribe("key.*", [&seen](const Event& event) { seen.push_back(event); });
  OutboxRelay relay(*store_, events_, clock_, {});

  const CreatedKey created = MustCreate();
  UpdateKeyParams update;
  update.key_id = created.key_id;
  update.name = "x";
  ASSERT_OK(service_->UpdateKey(std::move(update)));
  ASSERT_OK(service_->DeleteKey(created.key_id, false));
  auto relayed = relay.RunOnce();
  ASSERT_OK(relayed);

  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].type, "key.created");
  EXPECT_EQ(seen[1].type, "key.updated");
  EXPECT_EQ(seen[2].type, "key.deleted");
  for (const Event& event : seen) {
    EXPECT_NE(event.payload_json.find(created.key_id), std::string::npos) << event.payload_json;
    EXPECT_EQ(event.payload_json.find(created.secret), std::string::npos) << event.payload_json;
    EXPECT_EQ(event.at, kStart);
  }
}

// Two nodes on one store: what the first writes, the second learns by applying the outbox's
// events, reloading each key from the store.
TEST_F(KeyServiceTest, AnotherNodeAppliesKeyChangesFromTheStore) {
  auto other = KeyService::Create(*store_, clock_);
  ASSERT_OK(other);
  auto apply_new_events = [&, cursor = std::int64_t{0}]() mutable {
    auto events = store_->OutboxEventsAfter(cursor, 100);
    ASSERT_OK(events);
    for (const auto& entry : *events) {
      cursor = entry.seq;
      if (entry.event.type.starts_with("key.")) ASSERT_OK((*other)->ApplyKeyEvent(entry.event));
    }
  };
  auto code_on_other = [&](const std::string& secret) {
    CachedKeyPtr key = (*other)->FindForVerify(secret);
    return VerifyCodeName((*other)->Verify(key, VerifyParams{nullptr, 0}).code);
  };

  const CreatedKey created = MustCreate();
  EXPECT_EQ(code_on_other(created.secret), "NOT_FOUND");
  apply_new_events();
  EXPECT_EQ(code_on_other(created.secret), "VALID");

  UpdateKeyParams disable;
  disable.key_id = created.key_id;
  disable.enabled = false;
  ASSERT_OK(service_->UpdateKey(std::move(disable)));
  apply_new_events();
  EXPECT_EQ(code_on_other(created.secret), "DISABLED");

  ASSERT_OK(service_->DeleteKey(created.key_id, false));
  apply_new_events();
  EXPECT_EQ(code_on_other(created.secret), "NOT_FOUND");
  EXPECT_EQ((*other)->cache().Size(), 0u);
}

TEST_F(KeyServiceTest, RateLimitsTheLimiterCouldNeverDecideAreRefused) {
  CreateKeyParams params = Params();
  RateLimitConfig yearly;
  yearly.name = "yearly";
  yearly.limit = 200'000'000;
  yearly.duration_ms = 365LL * 24 * 3600 * 1000;
  params.ratelimits.push_back(yearly);  // 200M x 3.15e10 ms > 2^62
  RateLimitConfig forever;
  forever.name = "forever";
  forever.limit = 1;
  forever.duration_ms = 400LL * 24 * 3600 * 1000;  // more than 366 days
  params.ratelimits.push_back(forever);
  auto created = service_->CreateKey(std::move(params));
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidInput);
  std::vector<std::string> locations;
  for (const FieldError& e : created.error().fields) locations.push_back(e.location);
  EXPECT_NE(std::find(locations.begin(), locations.end(), "body.ratelimits[0].duration"), locations.end());
  EXPECT_NE(std::find(locations.begin(), locations.end(), "body.ratelimits[1].duration"), locations.end());
}

}  // namespace
}  // namespace tollgate
