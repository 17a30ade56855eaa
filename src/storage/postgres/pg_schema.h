// The PostgreSQL schema, as versioned migrations like the SQLite store's (storage/sqlite/
// migrations.h). PostgreSQL started at the SQLite schema's version 8, so its version 1 is the whole
// schema at once; later changes append migrations to both lists.
//
// Several nodes may start at the same time against one database: migrations run under a
// transaction-scoped advisory lock, so exactly one of them applies each version and the others
// find it applied.
#pragma once

#include "common/clock.h"
#include "common/result.h"
#include "storage/postgres/pg_connection.h"

namespace tollgate {

// The newest schema version this binary knows.
int PgLatestSchemaVersion();

// Creates schema_version if missing, refuses a database newer than this binary, then applies the
// missing migrations, each in its own transaction with the row that records it.
Status ApplyPgMigrations(PgConnection& connection, UnixMillis now);

// MAX(version) in schema_version (0 when none).
Result<int> ReadPgSchemaVersion(PgConnection& connection);

}  // namespace tollgate
