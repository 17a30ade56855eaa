// PostgresStore's OutboxStore (events/outbox_store.h) and the event write that every change with
// an event shares.
//
// Order of events across nodes: seq comes from a sequence, which hands out numbers when a
// transaction inserts, not when it commits. Left alone, two writers could commit seq 11 before
// seq 10, and a node catching up with OutboxEventsAfter(9) would read 11, move its cursor past
// 10, and never see 10 (say, a key revocation). So WriteEvent first takes one transaction-scoped
// advisory lock: event writers then allocate and commit in the same order, and whatever a reader
// sees at seq N, it also sees everything below N. The cost is that writes with events serialise
// from their first event to their commit; callers write their events last, just before
// Commit(), which keeps that window to one insert and the commit, and keeps them from waiting
// for a row lock while holding it (which could deadlock with a writer that holds that row and
// waits for this lock; PostgreSQL would break the tie by failing one with 40P01, a 503).
#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "storage/postgres/postgres_store.h"
#include "storage/store_internal.h"

namespace tollgate {
namespace {

using storage::During;

// "outbox" in ASCII: distinct from the migration lock, and held until the writer's commit.
constexpr std::string_view kLockEventOrder = "SELECT pg_advisory_xact_lock(122550254464888)";
constexpr std::string_view kInsertEvent = "INSERT INTO outbox (id, type, payload, at, origin) VALUES ($1, $2, $3, $4, $5)";
// One statement claims: FOR UPDATE SKIP LOCKED lets relays on several nodes claim at the same
// moment without waiting for each other or taking the same rows, and re-checks the WHERE clause
// on rows another relay claimed and committed meanwhile, so a live lease is never taken over.
constexpr std::string_view kClaimEvents =
    "UPDATE outbox SET claimed_by = $1, claimed_until = $2 WHERE seq IN ("
    "SELECT seq FROM outbox WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $3) "
    "ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING seq, id, type, payload, at, origin";
constexpr std::string_view kMarkSent =
    "UPDATE outbox SET sent_at = $2 WHERE seq = ANY($1::bigint[]) AND sent_at IS NULL";
constexpr std::string_view kEventsAfter =
    "SELECT seq, id, type, payload, at, origin FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2";
constexpr std::string_view kLatestSeq = "SELECT COALESCE(MAX(seq), 0) FROM outbox";
constexpr std::string_view kOldestPending = "SELECT MIN(at) FROM outbox WHERE sent_at IS NULL";
constexpr std::string_view kPrune = "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1";

// Rows of (seq, id, type, payload, at).
std::vector<OutboxEvent> ReadEvents(const PgResult& rows) {
  std::vector<OutboxEvent> events;
  events.reserve(static_cast<std::size_t>(rows.Rows()));
  for (int row = 0; row < rows.Rows(); ++row) {
    events.push_back({rows.Int64(row, 0),
                      Event{.id = rows.Text(row, 1),
                            .type = rows.Text(row, 2),
                            .payload_json = rows.Text(row, 3),
                            .at = rows.Int64(row, 4),
                            .origin = rows.Text(row, 5)}});
  }
  return events;
}

// A limit as a BIGINT parameter; larger than any table, never negative.
std::int64_t AsLimit(std::size_t limit) {
  return static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
}

}  // namespace

Status PostgresStore::WriteEvent(PgConnection& connection, const Event& event) {
  const std::string what = "writing event " + event.type;
  if (auto locked = connection.Run(kLockEventOrder); !locked) return Fail(During(what, std::move(locked.error())));
  auto inserted =
      connection.Run(kInsertEvent, PgParams().Add(event.id).Add(event.type).Add(event.payload_json).Add(event.at).Add(event.origin));
  if (!inserted) return Fail(During(what, std::move(inserted.error())));
  return {};
}

Result<std::vector<OutboxEvent>> PostgresStore::ClaimOutboxEvents(const std::string& relay, std::size_t limit,
                                                                  UnixMillis now, std::int64_t lease_ms) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  auto rows = (*lease)->Query(kClaimEvents, PgParams().Add(relay).Add(now + lease_ms).Add(now).Add(AsLimit(limit)));
  if (!rows) return Fail(During("claiming outbox events", std::move(rows.error())));
  auto events = ReadEvents(*rows);
  // RETURNING comes in no particular order.
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return events;
}

Status PostgresStore::MarkOutboxSent(std::span<const std::int64_t> seqs, UnixMillis now) {
  if (seqs.empty()) return {};
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  const std::vector<std::int64_t> values(seqs.begin(), seqs.end());
  auto marked = (*lease)->Run(kMarkSent, PgParams().AddInt64Array(values).Add(now));
  if (!marked) return Fail(During("marking outbox events sent", std::move(marked.error())));
  return {};
}

Result<std::vector<OutboxEvent>> PostgresStore::OutboxEventsAfter(std::int64_t after, std::size_t limit) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  auto rows = (*lease)->Query(kEventsAfter, PgParams().Add(after).Add(AsLimit(limit)));
  if (!rows) return Fail(During("reading the outbox", std::move(rows.error())));
  return ReadEvents(*rows);
}

Result<std::int64_t> PostgresStore::LatestOutboxSeq() {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  auto rows = (*lease)->Query(kLatestSeq);
  if (!rows) return Fail(During("reading the outbox", std::move(rows.error())));
  return rows->Int64(0, 0);
}

Result<std::optional<UnixMillis>> PostgresStore::OldestPendingOutboxAt() {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  auto rows = (*lease)->Query(kOldestPending);
  if (!rows) return Fail(During("reading the outbox", std::move(rows.error())));
  return rows->OptionalInt64(0, 0);
}

Status PostgresStore::PruneOutbox(UnixMillis sent_before) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  auto pruned = (*lease)->Run(kPrune, PgParams().Add(sent_before));
  if (!pruned) return Fail(During("pruning the outbox", std::move(pruned.error())));
  return {};
}

}  // namespace tollgate
