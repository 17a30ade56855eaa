// The services alert evaluation and the admin routes read, over a SQLite store in memory, on one
// ManualClock: the common ground of alert_facts_test.cc and alert_service_test.cc.
#pragma once

#include <memory>

#include <gtest/gtest.h>

#include "common/calendar.h"
#include "keys/key_service.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"

namespace tollgate {

class AlertServicesTest : public ::testing::Test {
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
  }

  ManualClock clock_{FromCivil({2026, 5, 10})};
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<TierService> tiers_;
  std::unique_ptr<KeyService> keys_;
};

}  // namespace tollgate
