// The SQLite store: the Store contract (store_suite.h) in memory and in a file, and what only
// SQLite has (its tables read back through a second connection).
#include "storage/sqlite/sqlite_store.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"
#include "store_suite.h"
#include "storage/sqlite/sqlite_connection.h"
#include "temp_dir.h"

namespace tollgate::store_suite {
namespace {

Result<StorePtr> OpenSqlite(const std::string& path) {
  auto store = SqliteStore::Open(path);
  if (!store) return Fail(std::move(store.error()));
  return StorePtr(std::move(*store));
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
}  // namespace tollgate::store_suite
