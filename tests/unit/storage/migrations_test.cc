// Schema migrations and connection set-up of the SQLite store, checked on real files.
#include "storage/sqlite/migrations.h"

#include <array>
#include <cstdlib>
#include <fstream>
#include <string>

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

}  // namespace
}  // namespace tollgate
