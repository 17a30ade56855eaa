// RAII owners for libpq: a connection, a result, a parameter list, a transaction, and a small
// pool. The store above reads as SQL plus control flow, as the SQLite one does.
//
// Statements are prepared once per connection (named after a hash of their text) the first time
// they run there, and executed with PQexecPrepared afterwards: the server plans them once, and
// values always travel as parameters, never spliced into SQL. Parameters and results use the
// text format; integers are written and read as decimal text.
//
// None of these types is thread-safe on its own: a PgConnection is used by one thread at a time,
// which the PgPool guarantees by lending each connection to one caller.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/result.h"

struct pg_conn;
struct pg_result;

namespace tollgate {

// Maps a failed libpq call to tollgate's categories by SQLSTATE: class 23 (integrity
// constraints: unique, foreign key, check) is kConflict (409); connection failures (class 08, a
// broken connection, admin shutdown 57P01..57P03, cannot-connect-now), serialization failures
// and deadlocks (40001, 40P01), too many connections (53300), disk full (53100), lock and statement timeouts
// (55P03, 57014) are
// kUnavailable (503); anything else (syntax, undefined column, ...) is a bug in our SQL (500).
Error PgError(std::string_view sqlstate, std::string_view context, std::string_view message);

// Positional parameters $1, $2, ... in the order added. A std::nullopt is SQL NULL.
class PgParams {
 public:
  PgParams& Add(std::int64_t value);
  PgParams& Add(std::string_view value);
  PgParams& Add(const char* value) { return Add(std::string_view(value)); }
  PgParams& Add(const std::string& value) { return Add(std::string_view(value)); }
  PgParams& Add(const std::optional<std::int64_t>& value);
  PgParams& Add(bool value);  // 'true' / 'false'
  PgParams& AddNull();
  // NULL for "": the model uses "" for "none" where the schema uses NULL.
  PgParams& AddTextOrNull(std::string_view value);
  // A PostgreSQL array literal ({"a","b"}) of the values, for `= ANY($n::text[])` and unnest().
  PgParams& AddTextArray(const std::vector<std::string>& values);
  PgParams& AddInt64Array(const std::vector<std::int64_t>& values);

  std::size_t size() const { return values_.size(); }
  // For PQexecPrepared: pointers into the stored values (nullptr for NULL).
  std::vector<const char*> Pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
};

// The rows of one statement. Columns are 0-based.
class PgResult {
 public:
  explicit PgResult(pg_result* result) noexcept : result_(result) {}
  ~PgResult();
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int Rows() const;
  // Rows inserted, updated or deleted (PQcmdTuples), 0 for a SELECT.
  std::int64_t Affected() const;
  bool IsNull(int row, int column) const;
  std::string Text(int row, int column) const;  // "" for NULL
  std::int64_t Int64(int row, int column) const;  // 0 for NULL
  std::optional<std::int64_t> OptionalInt64(int row, int column) const;
  bool Bool(int row, int column) const;  // 't' is true

 private:
  friend class PgConnection;
  pg_result* result_ = nullptr;
};

// One open connection.
class PgConnection {
 public:
  // Connects with a libpq connection string or postgres:// URI. Adds connect_timeout=5 unless
  // the string sets one, and sets the session's time zone to UTC.
  static Result<PgConnection> Open(const std::string& conninfo);

  ~PgConnection();
  PgConnection(PgConnection&& other) noexcept;
  PgConnection& operator=(PgConnection&& other) noexcept;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs constant SQL without parameters (DDL, BEGIN/COMMIT, migration scripts); may hold several
  // statements. Never pass values in here: everything with a value goes through Query.
  Status Exec(const char* sql);
  // Prepares `sql` on this connection the first time, then executes it with `params`.
  Result<PgResult> Query(std::string_view sql, const PgParams& params = {});
  // Query for statements whose rows do not matter; returns the number of rows affected.
  Result<std::int64_t> Run(std::string_view sql, const PgParams& params = {});

  // False once the server went away; the pool then reconnects instead of lending it.
  bool Healthy() const;
  // For a connection with no statement under way: true when the server has closed it or is
  // closing it (its socket has something to read). libpq notices that only when the next
  // statement fails, so the pool asks before lending an idle connection.
  bool ClosedByServer() const;

 private:
  explicit PgConnection(pg_conn* conn) noexcept : conn_(conn) {}
  Error LastError(std::string_view context, pg_result* result) const;

  pg_conn* conn_ = nullptr;
  std::unordered_set<std::string> prepared_;  // statement names prepared here
};

// BEGIN ... COMMIT, rolled back on destruction unless committed. READ COMMITTED (PostgreSQL's
// default); statements that must not interleave take row locks (SELECT ... FOR UPDATE) or rely
// on unique constraints and ON CONFLICT.
class PgTransaction {
 public:
  static Result<PgTransaction> Begin(PgConnection& connection);

  ~PgTransaction();
  PgTransaction(PgTransaction&& other) noexcept;
  PgTransaction& operator=(PgTransaction&&) = delete;
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;

  Status Commit();

 private:
  explicit PgTransaction(PgConnection& connection) noexcept : connection_(&connection) {}

  PgConnection* connection_;  // nullptr once committed or moved from
};

class PgPool;

// A connection lent by the pool; returned when the lease is destroyed.
class PgLease {
 public:
  PgLease(PgPool* pool, std::unique_ptr<PgConnection> connection) noexcept
      : pool_(pool), connection_(std::move(connection)) {}
  ~PgLease();
  PgLease(PgLease&& other) noexcept = default;
  PgLease& operator=(PgLease&&) = delete;
  PgLease(const PgLease&) = delete;
  PgLease& operator=(const PgLease&) = delete;

  PgConnection& operator*() const { return *connection_; }
  PgConnection* operator->() const { return connection_.get(); }

 private:
  PgPool* pool_;
  std::unique_ptr<PgConnection> connection_;
};

// Up to `size` connections, opened on demand. Acquire waits up to `wait` for a free one and
// fails with kUnavailable after that, or at once when a new connection cannot be opened (the
// server is down): callers get a clear 503 instead of hanging. A connection found broken when it
// comes back is dropped, so the next Acquire opens a fresh one; so is an idle one the server
// closed while it waited in the pool (a restart of PostgreSQL), so that no caller's statement
// fails on it once the server is back.
class PgPool {
 public:
  PgPool(std::string conninfo, std::size_t size, std::chrono::milliseconds wait)
      : conninfo_(std::move(conninfo)), size_(size), wait_(wait) {}

  Result<PgLease> Acquire();

 private:
  friend class PgLease;
  void Release(std::unique_ptr<PgConnection> connection);

  const std::string conninfo_;
  const std::size_t size_;
  const std::chrono::milliseconds wait_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  std::size_t open_ = 0;                             // lent + idle; guarded by mu_
};

}  // namespace tollgate
