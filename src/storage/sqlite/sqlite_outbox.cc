// SqliteStore's OutboxStore (events/outbox_store.h) and the event write that every change with an
// event shares.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "storage/sqlite/sqlite_internal.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

using sqlite_internal::During;

constexpr std::string_view kInsertEvent = "INSERT INTO outbox (id, type, payload, at, origin) VALUES (?1, ?2, ?3, ?4, ?5)";
// One statement claims: the IMMEDIATE transaction of the caller is not needed because SQLite
// runs a single UPDATE atomically, and RETURNING hands back exactly the rows it claimed.
constexpr std::string_view kClaimEvents =
    "UPDATE outbox SET claimed_by = ?1, claimed_until = ?2 WHERE seq IN ("
    "SELECT seq FROM outbox WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?3) "
    "ORDER BY seq LIMIT ?4) RETURNING seq, id, type, payload, at, origin";
// A read first: in WAL mode it never waits for the write lock, so a relay polling an empty outbox
// never queues behind (or in front of) real writes, and does not sit out a busy timeout while an
// outage holds the lock.
constexpr std::string_view kAnyClaimable =
    "SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?1))";
constexpr std::string_view kMarkSent = "UPDATE outbox SET sent_at = ?2 WHERE seq = ?1 AND sent_at IS NULL";
constexpr std::string_view kEventsAfter =
    "SELECT seq, id, type, payload, at, origin FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2";
constexpr std::string_view kLatestSeq = "SELECT COALESCE(MAX(seq), 0) FROM outbox";
constexpr std::string_view kOldestPending = "SELECT MIN(at) FROM outbox WHERE sent_at IS NULL";
constexpr std::string_view kPrune = "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?1";

Result<std::vector<OutboxEvent>> ReadEvents(SqliteStatement& statement, std::string_view what) {
  std::vector<OutboxEvent> events;
  while (true) {
    auto row = statement.Step();
    if (!row) return Fail(During(what, std::move(row.error())));
    if (!*row) break;
    events.push_back({statement.ColumnInt64(0),
                      Event{.id = statement.ColumnText(1),
                            .type = statement.ColumnText(2),
                            .payload_json = statement.ColumnText(3),
                            .at = statement.ColumnInt64(4),
                            .origin = statement.ColumnText(5)}});
  }
  return events;
}

}  // namespace

namespace sqlite_internal {

Status WriteEvent(SqliteConnection& connection, const Event& event) {
  auto statement = connection.Prepare(kInsertEvent);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, event.id).Bind(2, event.type).Bind(3, event.payload_json).Bind(4, event.at).Bind(5, event.origin);
  if (auto ran = statement->Run(); !ran) return Fail(During("writing event " + event.type, ran.error()));
  return {};
}

Status WriteWithEvent(SqliteConnection& connection, const Event& event, const std::function<Status()>& write) {
  auto transaction = SqliteTransaction::Begin(connection);
  if (!transaction) return Fail(std::move(transaction.error()));
  if (auto written = write(); !written) return written;  // rolls back
  if (auto recorded = WriteEvent(connection, event); !recorded) return recorded;
  return transaction->Commit();
}

}  // namespace sqlite_internal

Result<std::vector<OutboxEvent>> SqliteStore::ClaimOutboxEvents(const std::string& relay, std::size_t limit,
                                                                UnixMillis now, std::int64_t lease_ms) {
  std::lock_guard lock(mutex_);
  auto any = connection_.Prepare(kAnyClaimable);
  if (!any) return Fail(std::move(any.error()));
  any->Bind(1, now);
  auto found = any->Step();
  if (!found) return Fail(During("reading the outbox", std::move(found.error())));
  if (!*found || any->ColumnInt64(0) == 0) return std::vector<OutboxEvent>{};
  auto statement = connection_.Prepare(kClaimEvents);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, relay).Bind(2, now + lease_ms).Bind(3, now).Bind(4, static_cast<std::int64_t>(limit));
  auto events = ReadEvents(*statement, "claiming outbox events");
  // RETURNING comes in no particular order.
  if (events) std::sort(events->begin(), events->end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return events;
}

Status SqliteStore::MarkOutboxSent(std::span<const std::int64_t> seqs, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(std::move(transaction.error()));
  auto statement = connection_.Prepare(kMarkSent);
  if (!statement) return Fail(std::move(statement.error()));
  for (const auto seq : seqs) {
    statement->Bind(1, seq).Bind(2, now);
    if (auto ran = statement->Run(); !ran) return Fail(During("marking outbox events sent", ran.error()));
    statement->Reset();
  }
  return transaction->Commit();
}

Result<std::vector<OutboxEvent>> SqliteStore::OutboxEventsAfter(std::int64_t after, std::size_t limit) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kEventsAfter);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, after).Bind(2, static_cast<std::int64_t>(limit));
  return ReadEvents(*statement, "reading the outbox");
}

Result<std::int64_t> SqliteStore::LatestOutboxSeq() {
  std::lock_guard lock(mutex_);
  return connection_.QueryInt64(kLatestSeq);
}

Result<std::optional<UnixMillis>> SqliteStore::OldestPendingOutboxAt() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kOldestPending);
  if (!statement) return Fail(std::move(statement.error()));
  auto row = statement->Step();
  if (!row) return Fail(During("reading the outbox", std::move(row.error())));
  return statement->ColumnOptionalInt64(0);
}

Status SqliteStore::PruneOutbox(UnixMillis sent_before) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kPrune);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, sent_before);
  if (auto ran = statement->Run(); !ran) return Fail(During("pruning the outbox", ran.error()));
  return {};
}

}  // namespace tollgate
