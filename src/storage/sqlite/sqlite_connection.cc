#include "storage/sqlite/sqlite_connection.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include <sqlite3.h>

namespace tollgate {
namespace {

// The errno of the last failed write to the database's files, as SQLite's unix VFS kept it: the
// main file's, else its journal's (in WAL mode the -wal file, where commits are written). 0 if
// none. sqlite3_system_errno() is no help here: SQLite reads errno for it too late, when it is 0.
int LastFileErrno(sqlite3* db) {
  int cause = 0;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO, &cause) == SQLITE_OK && cause != 0) return cause;
  sqlite3_file* journal = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &journal) == SQLITE_OK && journal != nullptr &&
      journal->pMethods != nullptr && journal->pMethods->xFileControl(journal, SQLITE_FCNTL_LAST_ERRNO, &cause) == SQLITE_OK) {
    return cause;
  }
  return 0;
}

// SQLite's message for a failure of the disk ("disk I/O error", "database or disk is full",
// "attempt to write a readonly database") does not say what is wrong with the disk; the operator
// needs that: "Read-only file system", "No space left on device". The failed write's errno when
// SQLite kept one; else the database's filesystem (SQLITE_FULL keeps no errno), else SQLite's
// own record. Only on a failure, so it costs nothing on the way of a query.
std::string WithSystemCause(sqlite3* db, int rc, std::string_view message) {
  std::string text(message);
  switch (rc & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
      break;
    default:
      return text;
  }
  int cause = LastFileErrno(db);
  const char* file = sqlite3_db_filename(db, "main");
  struct statvfs disk {};
  if (cause == 0 && file != nullptr && *file != '\0' && ::statvfs(file, &disk) == 0) {
    if ((disk.f_flag & ST_RDONLY) != 0) {
      cause = EROFS;
    } else if (disk.f_bavail == 0) {
      cause = ENOSPC;
    }
  }
  if (cause == 0) cause = sqlite3_system_errno(db);
  if (cause != 0) text.append(" (").append(std::strerror(cause)).append(")");
  return text;
}

}  // namespace

Error SqliteError(int rc, std::string_view context, std::string_view message) {
  std::string detail = "sqlite: ";
  detail.append(context).append(": ").append(message);
  switch (rc & 0xff) {  // the primary code; the extended code only refines it
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOTADB:
      return Error::Unavailable(std::move(detail));
    case SQLITE_CONSTRAINT:
      return Error::Conflict(std::move(detail));
    default:
      return Error::Internal(std::move(detail));
  }
}

// ---- SqliteStatement ----

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }  // no-op on nullptr

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      bind_rc_(other.bind_rc_),
      bind_index_(other.bind_index_) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_rc_ = other.bind_rc_;
    bind_index_ = other.bind_index_;
  }
  return *this;
}

namespace {

// Remembers the first failed bind; later binds are still attempted but cannot hide it.
void NoteBind(int rc, int index, int& bind_rc, int& bind_index) {
  if (rc != SQLITE_OK && bind_rc == SQLITE_OK) {
    bind_rc = rc;
    bind_index = index;
  }
}

}  // namespace

SqliteStatement& SqliteStatement::Bind(int index, std::int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value), index, bind_rc_, bind_index_);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, std::string_view value) {
  return BindText(index, value, SQLITE_TRANSIENT);
}

SqliteStatement& SqliteStatement::BindUncopied(int index, std::string_view value) {
  return BindText(index, value, SQLITE_STATIC);
}

SqliteStatement& SqliteStatement::BindText(int index, std::string_view value, void (*destructor)(void*)) {
  if (value.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    NoteBind(SQLITE_TOOBIG, index, bind_rc_, bind_index_);
    return *this;
  }
  NoteBind(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), destructor), index,
           bind_rc_, bind_index_);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, const std::optional<std::int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

SqliteStatement& SqliteStatement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index), index, bind_rc_, bind_index_);
  return *this;
}

SqliteStatement& SqliteStatement::BindTextOrNull(int index, std::string_view value) {
  return value.empty() ? BindNull(index) : Bind(index, value);
}

Result<bool> SqliteStatement::Step() {
  sqlite3* db = sqlite3_db_handle(stmt_);
  if (bind_rc_ != SQLITE_OK) {
    return Fail(SqliteError(bind_rc_, "binding parameter ?" + std::to_string(bind_index_),
                            sqlite3_errstr(bind_rc_)));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error = SqliteError(rc, "step", WithSystemCause(db, rc, sqlite3_errmsg(db)));
  if (error.code == ErrorCode::kInternal) {
    // A bug in our SQL: name the statement so the log points at it.
    error.detail.append(" [in: ").append(sqlite3_sql(stmt_)).append("]");
  }
  // Reset so the statement releases its read/write locks now, not when it is finalized.
  sqlite3_reset(stmt_);
  return Fail(std::move(error));
}

Status SqliteStatement::Run() {
  for (;;) {
    auto row = Step();
    if (!row) return Fail(std::move(row.error()));
    if (!*row) return {};
  }
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  bind_rc_ = SQLITE_OK;
  bind_index_ = 0;
}

bool SqliteStatement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t SqliteStatement::ColumnInt64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::optional<std::int64_t> SqliteStatement::ColumnOptionalInt64(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return sqlite3_column_int64(stmt_, column);
}

std::string SqliteStatement::ColumnText(int column) const {
  // column_text before column_bytes, as the SQLite docs require for a correct length.
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

// ---- SqliteConnection ----

Result<SqliteConnection> SqliteConnection::Open(const std::string& path) {
  sqlite3* db = nullptr;
  // NOMUTEX: the owner serialises every call, so SQLite's own per-call mutex would be pure cost.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  // sqlite3_open_v2 may hand back a handle even on failure; the wrapper closes it either way.
  SqliteConnection connection(db);
  if (rc != SQLITE_OK) {
    return Fail(SqliteError(rc, "cannot open database '" + path + "'",
                            db != nullptr ? WithSystemCause(db, rc, sqlite3_errmsg(db)) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db, 1);
  // Where the file cannot be opened for writing (a read-only filesystem, no write permission),
  // SQLite quietly opens it read-only, and the first statement fails with "unable to open
  // database file" or "locking protocol". The store must write: say so now, with the reason.
  if (sqlite3_db_readonly(db, "main") == 1) {
    const std::string reason = ::access(path.c_str(), W_OK) != 0 ? std::strerror(errno) : "SQLite opened it read-only";
    return Fail(Error::Unavailable("sqlite: cannot open database '" + path + "' for writing: " + reason));
  }
  return connection;
}

SqliteConnection::~SqliteConnection() {
  // close_v2 never fails for a valid handle: with statements still open it defers the close
  // until they are finalized. All our statements are RAII, so in practice it closes here.
  sqlite3_close_v2(db_);
}

SqliteConnection::SqliteConnection(SqliteConnection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)) {}

SqliteConnection& SqliteConnection::operator=(SqliteConnection&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Status SqliteConnection::Exec(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  const int code = sqlite3_extended_errcode(db_);
  Error error = SqliteError(code, "exec", WithSystemCause(db_, code, message != nullptr ? message : sqlite3_errstr(rc)));
  sqlite3_free(message);
  return Fail(std::move(error));
}

Result<SqliteStatement> SqliteConnection::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  SqliteStatement statement(stmt);
  if (rc != SQLITE_OK) {
    Error error = SqliteError(rc, "prepare", WithSystemCause(db_, rc, sqlite3_errmsg(db_)));
    error.detail.append(" [in: ").append(sql).append("]");
    return Fail(std::move(error));
  }
  if (stmt == nullptr) return Fail(Error::Internal("sqlite: prepare: empty statement"));
  return statement;
}

Result<std::string> SqliteConnection::QueryText(std::string_view sql) {
  auto statement = Prepare(sql);
  if (!statement) return Fail(std::move(statement.error()));
  auto row = statement->Step();
  if (!row) return Fail(std::move(row.error()));
  if (!*row) return Fail(Error::Internal("sqlite: no row from: " + std::string(sql)));
  return statement->ColumnText(0);
}

Result<std::int64_t> SqliteConnection::QueryInt64(std::string_view sql) {
  auto statement = Prepare(sql);
  if (!statement) return Fail(std::move(statement.error()));
  auto row = statement->Step();
  if (!row) return Fail(std::move(row.error()));
  if (!*row) return Fail(Error::Internal("sqlite: no row from: " + std::string(sql)));
  return statement->ColumnInt64(0);
}

std::int64_t SqliteConnection::Changes() const { return sqlite3_changes64(db_); }

// ---- SqliteTransaction ----

Result<SqliteTransaction> SqliteTransaction::Begin(SqliteConnection& connection) {
  if (auto begun = connection.Exec("BEGIN IMMEDIATE"); !begun) return Fail(std::move(begun.error()));
  return SqliteTransaction(connection);
}

SqliteTransaction::~SqliteTransaction() {
  // A failed rollback cannot be reported from here; it only happens when SQLite already rolled
  // back on its own (e.g. after SQLITE_FULL), which leaves the connection usable either way.
  if (connection_ != nullptr) (void)connection_->Exec("ROLLBACK");
}

SqliteTransaction::SqliteTransaction(SqliteTransaction&& other) noexcept
    : connection_(std::exchange(other.connection_, nullptr)) {}

Status SqliteTransaction::Commit() {
  // On failure the transaction stays open and the destructor rolls it back.
  if (auto committed = connection_->Exec("COMMIT"); !committed) return committed;
  connection_ = nullptr;
  return {};
}

}  // namespace tollgate
