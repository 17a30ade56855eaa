// Versioned schema migrations for the SQLite store. The database records every applied version
// in schema_version; at open, each migration newer than the recorded maximum runs in its own
// transaction together with the row that records it, so a crash leaves the schema at a version
// boundary, never in between.
#pragma once

#include <span>

#include "common/clock.h"
#include "common/result.h"
#include "storage/sqlite/sqlite_connection.h"

namespace tollgate {

struct Migration {
  int version;      // strictly increasing through the list, starting at 1
  const char* sql;  // one or more statements, run as one script
};

// Every migration tollgate knows, oldest first. Append only: an applied migration is never edited.
std::span<const Migration> SchemaMigrations();

// Creates schema_version if missing, refuses a database newer than `migrations` knows, then
// applies the missing migrations in order. `now` is recorded as applied_at.
Status ApplyMigrations(SqliteConnection& connection, std::span<const Migration> migrations,
                       UnixMillis now);

// MAX(version) in schema_version; 0 for a database no migration has touched.
Result<int> ReadSchemaVersion(SqliteConnection& connection);

}  // namespace tollgate
