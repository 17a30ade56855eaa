// RAII owners for the SQLite C API: one non-copyable type per handle (sqlite3*, sqlite3_stmt*)
// and a guard for a write transaction. Each method is a thin wrapper over one C call that turns
// SQLite's result code into an Error, so the store above reads as SQL plus control flow.
//
// None of these types is thread-safe: the connection is opened with SQLITE_OPEN_NOMUTEX and its
// owner (SqliteStore) serialises every use behind its own mutex.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tollgate {

// Maps a SQLite (extended) result code to tollgate's categories: busy, locked, I/O, full, corrupt
// and can't-open mean the store is unavailable (503); constraint violations are conflicts (409);
// anything else (syntax, misuse, range) is a bug in our SQL (500).
Error SqliteError(int rc, std::string_view context, std::string_view message);

// A prepared statement. Parameters are numbered as in the SQL text (?1, ?2, ...).
class SqliteStatement {
 public:
  explicit SqliteStatement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  ~SqliteStatement();
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Binding cannot fail for well-formed SQL except on out-of-memory, so a failure is remembered
  // and reported by the next Step() instead of being checked at every call site. Text is copied
  // (SQLITE_TRANSIENT): one memcpy per value, cheaper than reasoning about lifetimes.
  SqliteStatement& Bind(int index, std::int64_t value);
  SqliteStatement& Bind(int index, std::string_view value);
  // Binds text without copying it (SQLITE_STATIC): the caller keeps it alive and unchanged until
  // the statement is stepped and then rebound or reset. For batch inserts, where the copy and its
  // allocation were a sixth of the usage flusher's work.
  SqliteStatement& BindUncopied(int index, std::string_view value);
  SqliteStatement& Bind(int index, const std::optional<std::int64_t>& value);
  SqliteStatement& BindNull(int index);
  // Binds NULL for "": the model uses "" for "none" where the schema uses NULL.
  SqliteStatement& BindTextOrNull(int index, std::string_view value);

  // Advances one row: true when a row is ready to read, false when the statement is done.
  Result<bool> Step();
  // Steps a statement that returns no rows (INSERT, UPDATE, DELETE, DDL) to completion.
  Status Run();
  // Rewinds the statement after Run() so it can be bound and run again: one Prepare per batch
  // instead of one per row. Bindings are kept until rebound.
  void Reset();

  // Column readers for the current row; columns are 0-based, as in SQLite.
  bool ColumnIsNull(int column) const;
  std::int64_t ColumnInt64(int column) const;
  std::optional<std::int64_t> ColumnOptionalInt64(int column) const;
  std::string ColumnText(int column) const;  // "" for NULL

 private:
  SqliteStatement& BindText(int index, std::string_view value, void (*destructor)(void*));

  sqlite3_stmt* stmt_ = nullptr;
  int bind_rc_ = 0;  // first failed bind (SQLITE_OK when none)
  int bind_index_ = 0;
};

// One open database connection.
class SqliteConnection {
 public:
  // Opens (creating if missing) the database at path; ":memory:" opens a private in-memory one.
  // Extended result codes are on, so errors distinguish e.g. a UNIQUE from a NOT NULL violation.
  static Result<SqliteConnection> Open(const std::string& path);

  ~SqliteConnection();
  SqliteConnection(SqliteConnection&& other) noexcept;
  SqliteConnection& operator=(SqliteConnection&& other) noexcept;
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs constant SQL without parameters (PRAGMAs, migration scripts); may hold several
  // statements. Never pass values in here: everything with a value goes through Prepare.
  Status Exec(const char* sql);
  Result<SqliteStatement> Prepare(std::string_view sql);
  // Runs a query whose answer is one value in one row, e.g. "PRAGMA journal_mode".
  Result<std::string> QueryText(std::string_view sql);
  Result<std::int64_t> QueryInt64(std::string_view sql);
  // Rows inserted, updated or deleted by the most recent statement.
  std::int64_t Changes() const;

 private:
  explicit SqliteConnection(sqlite3* db) noexcept : db_(db) {}

  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back on destruction unless committed. IMMEDIATE takes the
// write lock up front: a deferred transaction that reads and then writes can fail with
// SQLITE_BUSY_SNAPSHOT in WAL mode, which busy_timeout does not retry.
class SqliteTransaction {
 public:
  static Result<SqliteTransaction> Begin(SqliteConnection& connection);

  ~SqliteTransaction();
  SqliteTransaction(SqliteTransaction&& other) noexcept;
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;

  Status Commit();

 private:
  explicit SqliteTransaction(SqliteConnection& connection) noexcept : connection_(&connection) {}

  SqliteConnection* connection_;  // nullptr once committed or moved from
};

}  // namespace tollgate
