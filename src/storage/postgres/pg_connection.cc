#include "storage/postgres/pg_connection.h"

#include <charconv>
#include <functional>
#include <string>
#include <utility>

#include <libpq-fe.h>
#include <poll.h>

namespace tollgate {
namespace {

// libpq's messages end with a newline; ours do not.
std::string Trimmed(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Adds connect_timeout (seconds) unless the caller chose one: libpq's default is to wait for
// the operating system, minutes for an unreachable host.
// Adds connect_timeout (seconds) and TCP keepalives unless the caller chose them: libpq's default
// is to wait for the operating system, minutes for an unreachable host or a silent peer.
std::string WithTimeouts(const std::string& conninfo) {
  std::string result = conninfo;
  const bool uri = conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://");
  for (const char* setting : {"connect_timeout=5", "keepalives_idle=10", "keepalives_interval=5", "keepalives_count=3"}) {
    const std::string_view name(setting, std::string_view(setting).find('='));
    if (conninfo.find(name) != std::string::npos) continue;
    if (!uri) {
      result += std::string(" ") + setting;
    } else {
      result += (result.find('?') == std::string::npos ? "?" : "&");
      result += setting;
    }
  }
  return result;
}

// Quotes one element of an array literal: "…" with \ and " escaped.
void AppendArrayElement(std::string& out, std::string_view value) {
  out.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

Error PgError(std::string_view sqlstate, std::string_view context, std::string_view message) {
  std::string detail = std::string(context) + ": " + std::string(message);
  if (sqlstate.starts_with("23")) return Error::Conflict(std::move(detail));
  if (sqlstate.empty() || sqlstate.starts_with("08") || sqlstate.starts_with("57P") || sqlstate == "40001" ||
      sqlstate == "40P01" || sqlstate == "53300" || sqlstate == "53100" || sqlstate == "55P03" ||
      sqlstate == "57014") {
    // No SQLSTATE at all means the connection itself failed before the server said anything.
    return Error::Unavailable("postgres: " + detail);
  }
  return Error::Internal("postgres: " + detail + " (SQLSTATE " + std::string(sqlstate) + ")");
}

// ---- PgParams ----

PgParams& PgParams::Add(std::int64_t value) {
  values_.emplace_back(std::to_string(value));
  return *this;
}
PgParams& PgParams::Add(std::string_view value) {
  values_.emplace_back(std::string(value));
  return *this;
}
PgParams& PgParams::Add(const std::optional<std::int64_t>& value) {
  if (!value) return AddNull();
  return Add(*value);
}
PgParams& PgParams::Add(bool value) {
  values_.emplace_back(value ? "true" : "false");
  return *this;
}
PgParams& PgParams::AddNull() {
  values_.emplace_back(std::nullopt);
  return *this;
}
PgParams& PgParams::AddTextOrNull(std::string_view value) {
  if (value.empty()) return AddNull();
  return Add(value);
}
PgParams& PgParams::AddTextArray(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal.push_back(',');
    AppendArrayElement(literal, values[i]);
  }
  literal.push_back('}');
  values_.emplace_back(std::move(literal));
  return *this;
}
PgParams& PgParams::AddInt64Array(const std::vector<std::int64_t>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal.push_back(',');
    literal += std::to_string(values[i]);
  }
  literal.push_back('}');
  values_.emplace_back(std::move(literal));
  return *this;
}

std::vector<const char*> PgParams::Pointers() const {
  std::vector<const char*> pointers;
  pointers.reserve(values_.size());
  for (const auto& value : values_) pointers.push_back(value ? value->c_str() : nullptr);
  return pointers;
}

// ---- PgResult ----

PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}
PgResult::PgResult(PgResult&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

int PgResult::Rows() const { return PQntuples(result_); }

std::int64_t PgResult::Affected() const {
  const char* text = PQcmdTuples(result_);
  std::int64_t value = 0;
  if (text != nullptr) std::from_chars(text, text + std::char_traits<char>::length(text), value);
  return value;
}

bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::string PgResult::Text(int row, int column) const {
  if (IsNull(row, column)) return {};
  return std::string(PQgetvalue(result_, row, column), static_cast<std::size_t>(PQgetlength(result_, row, column)));
}

std::int64_t PgResult::Int64(int row, int column) const {
  if (IsNull(row, column)) return 0;
  const char* text = PQgetvalue(result_, row, column);
  std::int64_t value = 0;
  std::from_chars(text, text + PQgetlength(result_, row, column), value);
  return value;
}

std::optional<std::int64_t> PgResult::OptionalInt64(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Int64(row, column);
}

bool PgResult::Bool(int row, int column) const {
  return !IsNull(row, column) && PQgetvalue(result_, row, column)[0] == 't';
}

// ---- PgConnection ----

Result<PgConnection> PgConnection::Open(const std::string& conninfo) {
  // Parsed first, so that a malformed URL is reported in our words: libpq's parse errors quote the
  // offending text, which may be the password.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (parsed == nullptr) {
    PQfreemem(parse_error);
    return Fail(Error::InvalidInput("postgres: the store URL is malformed; use postgres://user:password@host:5432/db "
                                    "and percent-encode special characters in the password (% as %25, @ as %40)"));
  }
  PQconninfoFree(parsed);
  pg_conn* conn = PQconnectdb(WithTimeouts(conninfo).c_str());
  if (conn == nullptr) return Fail(Error::Unavailable("postgres: out of memory opening a connection"));
  PgConnection connection(conn);
  if (PQstatus(conn) != CONNECTION_OK) {
    return Fail(Error::Unavailable("postgres: cannot connect: " + Trimmed(PQerrorMessage(conn))));
  }
  // Timestamps are Unix milliseconds in BIGINT columns, so the zone matters only to date
  // functions; fixing it keeps any of them independent of the server's configuration. Notices
  // (e.g. "relation already exists, skipping") would go to stderr otherwise.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  if (auto set = connection.Exec("SET TIME ZONE 'UTC'"); !set) return Fail(set.error());
  // No statement may hold a request (or a lock another node waits for) indefinitely: a hung
  // server or a stuck lock becomes a 503 the caller can retry.
  if (auto set = connection.Exec("SET statement_timeout = 10000; SET lock_timeout = 5000"); !set) return Fail(set.error());
  return connection;
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}
PgConnection::PgConnection(PgConnection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), prepared_(std::move(other.prepared_)) {}
PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    prepared_ = std::move(other.prepared_);
  }
  return *this;
}

Error PgConnection::LastError(std::string_view context, pg_result* result) const {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* message = result != nullptr ? PQresultErrorMessage(result) : nullptr;
  if (message == nullptr || *message == '\0') message = PQerrorMessage(conn_);
  // A connection that broke mid-statement reports no SQLSTATE: PgError treats that as unavailable.
  return PgError(state != nullptr && PQstatus(conn_) == CONNECTION_OK ? state : "", context, Trimmed(message));
}

Status PgConnection::Exec(const char* sql) {
  PgResult result(PQexec(conn_, sql));
  const auto status = PQresultStatus(result.result_);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return {};
  return Fail(LastError("running SQL", result.result_));
}

Result<PgResult> PgConnection::Query(std::string_view sql, const PgParams& params) {
  // One name per distinct text; a collision of 64-bit hashes among a few hundred statements is
  // not a practical concern, and would surface as a parameter-count error, not wrong data.
  const std::string name = "s" + std::to_string(std::hash<std::string_view>{}(sql));
  if (!prepared_.contains(name)) {
    PgResult prepared(PQprepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr));
    if (PQresultStatus(prepared.result_) != PGRES_COMMAND_OK) {
      return Fail(LastError("preparing '" + std::string(sql.substr(0, 60)) + "…'", prepared.result_));
    }
    prepared_.insert(name);
  }
  const auto pointers = params.Pointers();
  PgResult result(PQexecPrepared(conn_, name.c_str(), static_cast<int>(pointers.size()), pointers.data(), nullptr,
                                 nullptr, 0));
  const auto status = PQresultStatus(result.result_);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  return Fail(LastError("running '" + std::string(sql.substr(0, 60)) + "…'", result.result_));
}

Result<std::int64_t> PgConnection::Run(std::string_view sql, const PgParams& params) {
  auto result = Query(sql, params);
  if (!result) return Fail(std::move(result.error()));
  return result->Affected();
}

bool PgConnection::Healthy() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

// Between statements the server sends nothing on its own (tollgate never LISTENs). What it does
// send is its last word before closing the session: a shutdown's or a terminate's FATAL, then
// end of file. So anything readable, or a hang-up, means the session is over. Cost: one poll(2)
// that does not wait, per lease; the alternative, a round trip to test the connection, costs a
// query's latency on every call.
bool PgConnection::ClosedByServer() const {
  if (!Healthy()) return true;
  pollfd socket{.fd = PQsocket(conn_), .events = POLLIN, .revents = 0};
  return ::poll(&socket, 1, 0) > 0;
}

// ---- PgTransaction ----

Result<PgTransaction> PgTransaction::Begin(PgConnection& connection) {
  if (auto begun = connection.Exec("BEGIN"); !begun) return Fail(begun.error());
  return PgTransaction(connection);
}

PgTransaction::~PgTransaction() {
  if (connection_ != nullptr) (void)connection_->Exec("ROLLBACK");
}
PgTransaction::PgTransaction(PgTransaction&& other) noexcept
    : connection_(std::exchange(other.connection_, nullptr)) {}

Status PgTransaction::Commit() {
  auto committed = connection_->Exec("COMMIT");
  if (committed) connection_ = nullptr;
  return committed;
}

// ---- PgPool ----

PgLease::~PgLease() {
  if (pool_ != nullptr && connection_) pool_->Release(std::move(connection_));
}

Result<PgLease> PgPool::Acquire() {
  std::vector<std::unique_ptr<PgConnection>> closed;  // declared first: closed after mu_ is released
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + wait_;
  while (idle_.empty() && open_ >= size_) {
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= size_) {
      return Fail(Error::Unavailable("postgres: all " + std::to_string(size_) +
                                     " connections are busy; try again shortly"));
    }
  }
  while (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    if (!connection->ClosedByServer()) return PgLease(this, std::move(connection));
    closed.push_back(std::move(connection));
    --open_;  // its slot is free again: try the next idle one, or open a fresh one below
  }
  if (!closed.empty()) freed_.notify_all();  // the freed slots beyond the one taken below
  ++open_;  // reserve the slot, then connect without holding the lock
  lock.unlock();
  auto opened = PgConnection::Open(conninfo_);
  if (!opened) {
    lock.lock();
    --open_;
    freed_.notify_one();
    return Fail(std::move(opened.error()));
  }
  return PgLease(this, std::make_unique<PgConnection>(std::move(*opened)));
}

void PgPool::Release(std::unique_ptr<PgConnection> connection) {
  std::lock_guard lock(mu_);
  if (connection->Healthy()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;  // dropped: the next Acquire opens a fresh one
  }
  freed_.notify_one();
}

}  // namespace tollgate
