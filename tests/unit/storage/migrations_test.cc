// Schema migrations and connection set-up of the SQLite store, checked on real files.
#include "storage/sqlite/migrations.h"

#include <array>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/sqlite/sqlite_connection.h"
#include "storage/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace tollgate {
namespace {

constexpr std::string_view kCountTable =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1";
constexpr std::string_view kCountSchemaVersions = "SELECT COUNT(*) FROM schema_version";

int LatestVersion() { return SchemaMigrations().back().version; }

// A second connection to a database, for looking behind the store's back. Aborts if the file
// cannot be opened: nothing after that could mean anything.
SqliteConnection MustOpen(const std::string& path) {
  auto connection = SqliteConnection::Open(path);
  if (!connection) {
    ADD_FAILURE() << connection.error().detail;
    std::abort();
  }
  return std::move(*connection);
}

bool HasTable(SqliteConnection& connection, const std::string& table) {
  auto statement = connection.Prepare(kCountTable);
  if (!statement) {
    ADD_FAILURE() << statement.error().detail;
    return false;
  }
  auto row = statement->Bind(1, table).Step();
  if (!row || !*row) {
    ADD_FAILURE() << "counting tables failed";
    return false;
  }
  return statement->ColumnInt64(0) == 1;
}

TEST(MigrationsTest, FreshFileDatabaseGetsLatestVersionAndTables) {
  TempDir dir;
  const auto path = (dir.Path() / "missing" / "parents" / "tollgate.db").string();
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.has_value()) << store.error().detail;
  auto version = (*store)->SchemaVersion();
  ASSERT_TRUE(version.has_value()) << version.error().detail;
  EXPECT_EQ(*version, LatestVersion());

  SqliteConnection connection = MustOpen(path);
  for (const char* table : {"schema_version", "apis", "identities", "keys", "root_keys"}) {
    EXPECT_TRUE(HasTable(connection, table)) << table;
  }
  auto recorded = connection.QueryInt64(kCountSchemaVersions);
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(*recorded, static_cast<std::int64_t>(SchemaMigrations().size()));
}

TEST(MigrationsTest, ReopeningKeepsDataAndAppliesNothingNew) {
  TempDir dir;
  const auto path = (dir.Path() / "tollgate.db").string();
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    ASSERT_TRUE((*store)->InsertApi(Api{.id = "api_1", .name = "kept", .created_at = 1}));
  }
  auto reopened = SqliteStore::Open(path);
  ASSERT_TRUE(reopened.has_value()) << reopened.error().detail;
  auto api = (*reopened)->GetApi("api_1");
  ASSERT_TRUE(api.has_value()) << api.error().detail;
  ASSERT_TRUE(api->has_value());
  EXPECT_EQ((*api)->name, "kept");
  auto version = (*reopened)->SchemaVersion();
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(*version, LatestVersion());

  SqliteConnection connection = MustOpen(path);
  auto recorded = connection.QueryInt64(kCountSchemaVersions);
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(*recorded, static_cast<std::int64_t>(SchemaMigrations().size()));
}

TEST(MigrationsTest, DatabaseFromNewerTollgateIsRefused) {
  TempDir dir;
  const auto path = (dir.Path() / "tollgate.db").string();
  ASSERT_TRUE(SqliteStore::Open(path).has_value());
  {
    SqliteConnection connection = MustOpen(path);
    auto insert =
        connection.Prepare("INSERT INTO schema_version (version, applied_at) VALUES (?1, 0)");
    ASSERT_TRUE(insert.has_value());
    ASSERT_TRUE(insert->Bind(1, std::int64_t{999}).Run().has_value());
  }

  auto store = SqliteStore::Open(path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(store.error().detail, "database schema version 999 is newer than this tollgate (max " +
                                      std::to_string(LatestVersion()) + "); upgrade tollgate");
}

TEST(MigrationsTest, AppliesOnlyUnappliedMigrations) {
  SqliteConnection connection = MustOpen(":memory:");
  // Re-running v1 would fail (the table exists), so success on the second call proves it was skipped.
  const std::array<Migration, 2> migrations = {
      Migration{1, "CREATE TABLE first (x INTEGER)"},
      Migration{2, "CREATE TABLE second (x INTEGER)"},
  };
  ASSERT_TRUE(ApplyMigrations(connection, std::span(migrations).first(1), 10).has_value());
  EXPECT_EQ(ReadSchemaVersion(connection).value(), 1);
  EXPECT_FALSE(HasTable(connection, "second"));

  auto both = ApplyMigrations(connection, migrations, 20);
  ASSERT_TRUE(both.has_value()) << both.error().detail;
  EXPECT_EQ(ReadSchemaVersion(connection).value(), 2);
  EXPECT_TRUE(HasTable(connection, "second"));
  EXPECT_EQ(connection.QueryInt64("SELECT applied_at FROM schema_version WHERE version = 1").value(),
            10);
  EXPECT_EQ(connection.QueryInt64("SELECT applied_at FROM schema_version WHERE version = 2").value(),
            20);

  ASSERT_TRUE(ApplyMigrations(connection, migrations, 30).has_value());
  EXPECT_EQ(connection.QueryInt64(kCountSchemaVersions).value(), 2);
}

TEST(MigrationsTest, FailedMigrationLeavesNoTrace) {
  SqliteConnection connection = MustOpen(":memory:");
  const std::array<Migration, 2> migrations = {
      Migration{1, "CREATE TABLE first (x INTEGER)"},
      Migration{2, "CREATE TABLE half (x INTEGER); THIS IS NOT SQL"},
  };
  auto applied = ApplyMigrations(connection, migrations, 10);
  ASSERT_FALSE(applied.has_value());
  EXPECT_NE(applied.error().detail.find("applying schema migration 2"), std::string::npos)
      << applied.error().detail;
  EXPECT_EQ(ReadSchemaVersion(connection).value(), 1);
  EXPECT_TRUE(HasTable(connection, "first"));
  EXPECT_FALSE(HasTable(connection, "half"));  // rolled back with the failed statement
}

TEST(MigrationsTest, MigrationsOutOfOrderAreRejected) {
  SqliteConnection connection = MustOpen(":memory:");
  const std::array<Migration, 2> migrations = {
      Migration{2, "CREATE TABLE b (x INTEGER)"},
      Migration{1, "CREATE TABLE a (x INTEGER)"},
  };
  auto applied = ApplyMigrations(connection, migrations, 10);
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().code, ErrorCode::kInternal);
}

// A database as tollgate 0.1 left it (migration 1 only), upgraded by opening it with this one.
TEST(MigrationsTest, VersionOneDatabaseUpgradesToLatestKeepingItsData) {
  TempDir dir;
  const auto path = (dir.Path() / "tollgate.db").string();
  {
    SqliteConnection v1 = MustOpen(path);
    ASSERT_TRUE(ApplyMigrations(v1, SchemaMigrations().first(1), 10).has_value());
    ASSERT_EQ(ReadSchemaVersion(v1).value(), 1);
    // Rows exactly as the v1 store wrote them: rate limits without "algorithm".
    for (const char* sql : {
             "INSERT INTO apis (id, name, created_at) VALUES ('api_1', 'old api', 1)",
             "INSERT INTO identities (id, external_id, meta, created_at) "
             "VALUES ('id_1', 'cust_1', '{\"plan\":\"old\"}', 2)",
             "INSERT INTO keys (id, api_id, hash, start, name, external_id, enabled, "
             "credits_remaining, ratelimits, permissions, roles, created_at, updated_at) "
             "VALUES ('key_1', 'api_1', 'hash-1', 'tg_abcd', 'old key', 'cust_1', 1, 5, "
             "'[{\"id\":\"rl_1\",\"name\":\"requests\",\"limit\":10,\"duration\":1000,\"autoApply\":true}]', "
             "'[\"read\"]', '[]', 3, 4)",
             "INSERT INTO root_keys (id, hash, start, name, permissions, created_at) "
             "VALUES ('rk_1', 'root-hash', 'tg_root', 'ci', '[\"*\"]', 5)",
         }) {
      ASSERT_TRUE(v1.Exec(sql).has_value()) << sql;
    }
  }

  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.has_value()) << store.error().detail;
  EXPECT_EQ((*store)->SchemaVersion().value(), SchemaMigrations().back().version);

  auto key = (*store)->GetKey("key_1");
  ASSERT_TRUE(key.has_value()) << key.error().detail;
  ASSERT_TRUE(key->has_value());
  EXPECT_EQ((*key)->name, "old key");
  EXPECT_EQ((*key)->external_id, "cust_1");
  EXPECT_EQ((*key)->tier, "");
  ASSERT_TRUE((*key)->credits.has_value());
  EXPECT_EQ((*key)->credits->remaining, 5);
  ASSERT_EQ((*key)->ratelimits.size(), 1u);
  EXPECT_EQ((*key)->ratelimits[0].limit, 10);
  EXPECT_EQ((*key)->ratelimits[0].algorithm, RateLimitAlgorithm::kSlidingWindow);
  EXPECT_EQ((*key)->permissions, std::vector<std::string>{"read"});

  auto identity = (*store)->GetIdentityByExternalId("cust_1");
  ASSERT_TRUE(identity.has_value()) << identity.error().detail;
  ASSERT_TRUE(identity->has_value());
  EXPECT_EQ((*identity)->id, "id_1");
  EXPECT_EQ((*identity)->meta_json, R"({"plan":"old"})");
  EXPECT_EQ((*identity)->created_at, 2);
  EXPECT_TRUE((*identity)->ratelimits.empty());
  EXPECT_EQ((*identity)->tier, "");

  auto root_keys = (*store)->ListRootKeys();
  ASSERT_TRUE(root_keys.has_value());
  ASSERT_EQ(root_keys->size(), 1u);
  EXPECT_EQ((*root_keys)[0].id, "rk_1");
  auto api = (*store)->GetApi("api_1");
  ASSERT_TRUE(api.has_value());
  EXPECT_TRUE(api->has_value());

  // The new parts work on the upgraded file: tiers, and external ids unique among live rows.
  auto tiers = (*store)->ListTiers();
  ASSERT_TRUE(tiers.has_value()) << tiers.error().detail;
  EXPECT_TRUE(tiers->empty());  // TierService seeds the built-ins, not the migration
  ASSERT_TRUE((*store)->DeleteIdentity("id_1", 6).has_value());
  auto reused = (*store)->UpsertIdentity("cust_1", 7);
  ASSERT_TRUE(reused.has_value()) << reused.error().detail;
  EXPECT_NE(reused->id, "id_1");

  SqliteConnection connection = MustOpen(path);
  EXPECT_TRUE(HasTable(connection, "tiers"));
  EXPECT_FALSE(HasTable(connection, "identities_v2"));
  EXPECT_EQ(connection.QueryInt64("SELECT applied_at FROM schema_version WHERE version = 1").value(), 10);
}

// A database as the quota release left it (migrations 1-3), upgraded to the rate limit tables of
// migration 4 by opening it.
TEST(MigrationsTest, VersionThreeDatabaseGainsRatelimitTablesKeepingItsData) {
  TempDir dir;
  const auto path = (dir.Path() / "tollgate.db").string();
  {
    SqliteConnection v3 = MustOpen(path);
    ASSERT_TRUE(ApplyMigrations(v3, SchemaMigrations().first(3), 10).has_value());
    ASSERT_EQ(ReadSchemaVersion(v3).value(), 3);
    EXPECT_FALSE(HasTable(v3, "ratelimit_namespaces"));
    for (const char* sql : {
             "INSERT INTO apis (id, name, created_at) VALUES ('api_1', 'old api', 1)",
             "INSERT INTO quota_usage (subject, period, used) VALUES ('i:id_1', 202611, 42)",
         }) {
      ASSERT_TRUE(v3.Exec(sql).has_value()) << sql;
    }
  }

  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.has_value()) << store.error().detail;
  EXPECT_EQ((*store)->SchemaVersion().value(), LatestVersion());
  auto api = (*store)->GetApi("api_1");
  ASSERT_TRUE(api.has_value() && api->has_value());
  auto quota = (*store)->LoadQuotaUsage(202611);
  ASSERT_TRUE(quota.has_value()) << quota.error().detail;
  ASSERT_EQ(quota->size(), 1u);
  EXPECT_EQ((*quota)[0].used, 42);

  EXPECT_TRUE((*store)->LoadAllRatelimitNamespaces().value().empty());
  auto ns = (*store)->UpsertRatelimitNamespace({.id = "rlns_1", .name = "api", .created_at = 20});
  ASSERT_TRUE(ns.has_value()) << ns.error().detail;
  auto row = (*store)->UpsertRatelimitOverride(RatelimitOverride{.id = "rlor_1",
                                                                 .namespace_id = "rlns_1",
                                                                 .identifier = "vip_*",
                                                                 .limit = 5,
                                                                 .duration_ms = 1000,
                                                                 .created_at = 20,
                                                                 .updated_at = 20});
  ASSERT_TRUE(row.has_value()) << row.error().detail;

  SqliteConnection connection = MustOpen(path);
  EXPECT_TRUE(HasTable(connection, "ratelimit_namespaces"));
  EXPECT_TRUE(HasTable(connection, "ratelimit_overrides"));
  EXPECT_EQ(connection.QueryInt64("SELECT applied_at FROM schema_version WHERE version = 3").value(), 10);
}

TEST(ConnectionSetupTest, FileDatabaseUsesWalAndForeignKeys) {
  TempDir dir;
  auto connection = OpenSqliteDatabase((dir.Path() / "tollgate.db").string());
  ASSERT_TRUE(connection.has_value()) << connection.error().detail;
  EXPECT_EQ(connection->QueryText("PRAGMA journal_mode").value(), "wal");
  EXPECT_EQ(connection->QueryInt64("PRAGMA foreign_keys").value(), 1);
  EXPECT_EQ(connection->QueryInt64("PRAGMA synchronous").value(), 1);  // NORMAL
  EXPECT_EQ(connection->QueryInt64("PRAGMA busy_timeout").value(), 5000);
}

TEST(ConnectionSetupTest, ForeignKeysAreEnforced) {
  auto connection = OpenSqliteDatabase(kSqliteInMemoryPath);
  ASSERT_TRUE(connection.has_value()) << connection.error().detail;
  EXPECT_EQ(connection->QueryInt64("PRAGMA foreign_keys").value(), 1);
  // Bypasses the store's own API check to reach the REFERENCES clause.
  auto orphan = connection->Exec(
      "INSERT INTO keys (id, api_id, hash, start, enabled, created_at, updated_at) "
      "VALUES ('key_1', 'api_missing', 'h', 's', 1, 0, 0)");
  ASSERT_FALSE(orphan.has_value());
  EXPECT_EQ(orphan.error().code, ErrorCode::kConflict) << orphan.error().detail;
}

TEST(ConnectionSetupTest, UncreatableDirectoryIsUnavailable) {
  TempDir dir;
  const auto blocker = dir.Path() / "not-a-directory";
  std::ofstream(blocker) << "a file where a directory should be";
  auto store = SqliteStore::Open((blocker / "tollgate.db").string());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable) << store.error().detail;
}

TEST(ConnectionSetupTest, EmptyPathIsInvalid) {
  auto store = SqliteStore::Open("");
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidInput);
}

TEST(MigrationsTest, VersionFourDatabaseGainsUsageTablesKeepingItsData) {
  TempDir dir;
  const auto path = (dir.Path() / "tollgate.db").string();
  {
    SqliteConnection v4 = MustOpen(path);
    ASSERT_TRUE(ApplyMigrations(v4, SchemaMigrations().first(4), 10).has_value());
    EXPECT_FALSE(HasTable(v4, "usage_events"));
    ASSERT_TRUE(v4.Exec("INSERT INTO apis (id, name, created_at) VALUES ('api_1', 'old api', 1)").has_value());
  }
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.has_value()) << store.error().detail;
  EXPECT_EQ((*store)->SchemaVersion().value(), LatestVersion());
  EXPECT_TRUE((*store)->GetApi("api_1").value().has_value());
  const UsageEvent event{1, "api_1", "key_1", "", "VALID", 1, {}, "", "verify"};
  ASSERT_TRUE((*store)->WriteUsage(std::span(&event, 1)).has_value());
  SqliteConnection connection = MustOpen(path);
  EXPECT_TRUE(HasTable(connection, "usage_events"));
  EXPECT_TRUE(HasTable(connection, "usage_rollups"));
  // The schema refuses a source tollgate never writes.
  EXPECT_FALSE(connection
                   .Exec("INSERT INTO usage_events (at, api_id, key_id, external_id, code, credits_spent, denied_by, "
                         "source) VALUES (1, '', '', '', 'VALID', 0, '', 'elsewhere')")
                   .has_value());
}

TEST(MigrationsTest, UsageEventsRebuiltWithTheirRowsIdsAndIndexes) {
  TempDir dir;
  const auto path = (dir.Path() / "tollgate.db").string();
  {
    SqliteConnection v10 = MustOpen(path);
    ASSERT_TRUE(ApplyMigrations(v10, SchemaMigrations().first(10), 10).has_value());
    ASSERT_TRUE(v10.Exec("INSERT INTO usage_events (id, at, api_id, key_id, external_id, code, credits_spent, tags, "
                         "denied_by, source) VALUES (7, 1000, 'api_1', 'key_1', 'acme', 'VALID', 2, '[\"a\"]', '', "
                         "'authorize')")
                    .has_value());
  }
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.has_value()) << store.error().detail;
  SqliteConnection connection = MustOpen(path);
  auto row = connection.Prepare("SELECT id, at, key_id, external_id, credits_spent, tags, source FROM usage_events");
  ASSERT_TRUE(row.has_value());
  ASSERT_TRUE(row->Step().value());
  EXPECT_EQ(row->ColumnInt64(0), 7);
  EXPECT_EQ(row->ColumnInt64(1), 1000);
  EXPECT_EQ(row->ColumnText(2), "key_1");
  EXPECT_EQ(row->ColumnText(3), "acme");
  EXPECT_EQ(row->ColumnInt64(4), 2);
  EXPECT_EQ(row->ColumnText(5), "[\"a\"]");
  EXPECT_EQ(row->ColumnText(6), "authorize");
  auto indexes = connection.Prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_events' "
                                    "AND name LIKE 'usage_events_by_%'");
  ASSERT_TRUE(indexes.has_value());
  ASSERT_TRUE(indexes->Step().value());
  EXPECT_EQ(indexes->ColumnInt64(0), 3);
  // New rows continue after the old ids, and the CHECK still refuses an unknown source.
  const UsageEvent event{2000, "api_1", "key_1", "", "VALID", 1, {}, "", "verify"};
  ASSERT_TRUE((*store)->WriteUsage(std::span(&event, 1)).has_value());
  EXPECT_FALSE(connection
                   .Exec("INSERT INTO usage_events (at, api_id, key_id, external_id, code, credits_spent, denied_by, "
                         "source) VALUES (1, '', '', '', 'VALID', 0, '', 'elsewhere')")
                   .has_value());
}

}  // namespace
}  // namespace tollgate
