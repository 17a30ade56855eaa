#include "storage/sqlite/migrations.h"

#include <array>
#include <string>
#include <utility>

namespace tollgate {
namespace {

// Timestamps are Unix milliseconds. "" in the model is NULL here (name, external_id, meta).
// JSON columns hold arrays: ratelimits [{id,name,limit,duration,autoApply}], permissions and
// roles [string]. A key has credits iff credits_remaining IS NOT NULL, and a refill iff
// refill_interval IS NOT NULL: one source of truth each, no separate has_* flags to disagree.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE apis (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER
);

CREATE TABLE identities (
  id          TEXT PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,
  meta        TEXT,
  created_at  INTEGER NOT NULL
);

CREATE TABLE keys (
  id                TEXT PRIMARY KEY,
  api_id            TEXT NOT NULL REFERENCES apis (id),
  hash              TEXT NOT NULL UNIQUE,
  start             TEXT NOT NULL,
  name              TEXT,
  external_id       TEXT,
  meta              TEXT,
  enabled           INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  expires           INTEGER,
  credits_remaining INTEGER,
  refill_interval   TEXT CHECK (refill_interval IN ('daily', 'monthly')),
  refill_amount     INTEGER,
  refill_day        INTEGER,
  last_refill_at    INTEGER,
  ratelimits        TEXT NOT NULL DEFAULT '[]',
  permissions       TEXT NOT NULL DEFAULT '[]',
  roles             TEXT NOT NULL DEFAULT '[]',
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  deleted_at        INTEGER
);
-- Serves ListKeys: equality on api_id, range and order on id.
CREATE INDEX keys_by_api ON keys (api_id, id);
-- Serves lookups by identity, and ListKeys filtered by externalId in id order.
CREATE INDEX keys_by_external_id ON keys (external_id, api_id, id);

CREATE TABLE root_keys (
  id          TEXT PRIMARY KEY,
  hash        TEXT NOT NULL UNIQUE,
  start       TEXT NOT NULL,
  name        TEXT,
  permissions TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
)sql";

// Tiers and identities (issue 3).
//
// tiers: one column per scalar, so that the schema itself refuses what tollgate would never
// write (a policy it does not know, a throttle without a target, a grace over 100 %), and the
// billing issue can read prices with plain SQL; the rate limits are a JSON array like
// keys.ratelimits, because nothing queries inside them. included_quota NULL = unlimited.
//
// identities is rebuilt rather than altered: v1 made external_id UNIQUE over all rows, but
// deleting an identity is now a soft delete that frees its external id for reuse (Unkey v2), so
// uniqueness must hold among live rows only, a partial index SQLite cannot add to a constraint.
// Nothing references identities by foreign key, so the copy-drop-rename is safe.
//
// Rate limit objects in every ratelimits column may carry "algorithm" from now on; absent means
// "sliding_window", so v1 rows read unchanged.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE tiers (
  name                      TEXT PRIMARY KEY,
  description               TEXT NOT NULL DEFAULT '',
  ratelimits                TEXT NOT NULL DEFAULT '[]',
  included_quota            INTEGER CHECK (included_quota IS NULL OR included_quota >= 0),
  overage_policy            TEXT NOT NULL CHECK (overage_policy IN ('block', 'allow', 'throttle')),
  throttle_to               TEXT CHECK ((overage_policy = 'throttle') = (throttle_to IS NOT NULL)),
  grace_percent             INTEGER NOT NULL CHECK (grace_percent BETWEEN 0 AND 100),
  currency                  TEXT NOT NULL,
  base_fee_minor            INTEGER NOT NULL CHECK (base_fee_minor >= 0),
  overage_unit_price_micros INTEGER NOT NULL CHECK (overage_unit_price_micros >= 0),
  builtin                   INTEGER NOT NULL CHECK (builtin IN (0, 1)),
  created_at                INTEGER NOT NULL,
  updated_at                INTEGER NOT NULL
);

CREATE TABLE identities_v2 (
  id          TEXT PRIMARY KEY,
  external_id TEXT NOT NULL,
  meta        TEXT,
  ratelimits  TEXT NOT NULL DEFAULT '[]',
  tier        TEXT,
  created_at  INTEGER NOT NULL,
  deleted_at  INTEGER
);
INSERT INTO identities_v2 (id, external_id, meta, created_at)
  SELECT id, external_id, meta, created_at FROM identities;
DROP TABLE identities;
ALTER TABLE identities_v2 RENAME TO identities;
CREATE UNIQUE INDEX identities_live_external_id ON identities (external_id) WHERE deleted_at IS NULL;
-- Serves the "is this tier still in use" count of a tier delete.
CREATE INDEX identities_by_tier ON identities (tier) WHERE tier IS NOT NULL;

ALTER TABLE keys ADD COLUMN tier TEXT;
CREATE INDEX keys_by_tier ON keys (tier) WHERE tier IS NOT NULL;
)sql";

// v3: monthly quota counters per customer (verify/quota_tracker.h writes them back).
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE quota_usage (
  subject TEXT NOT NULL,
  period  INTEGER NOT NULL,
  used    INTEGER NOT NULL CHECK (used >= 0),
  PRIMARY KEY (period, subject)
);
)sql";

// v4: identifier rate limiting (ratelimit.*). Namespaces are created on first use and never
// deleted, so a name is unique over all rows. Overrides are soft-deleted like keys: a pair
// (namespace, identifier) has at most one live override, and deleting it frees the pair. The limit
// column is not called "limit" (an SQL keyword); 0 is a valid limit that denies every request.
constexpr const char* kSchemaV4 = R"sql(
CREATE TABLE ratelimit_namespaces (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

CREATE TABLE ratelimit_overrides (
  id           TEXT PRIMARY KEY,
  namespace_id TEXT NOT NULL REFERENCES ratelimit_namespaces (id),
  identifier   TEXT NOT NULL CHECK (length(identifier) BETWEEN 1 AND 255),
  limit_value  INTEGER NOT NULL CHECK (limit_value >= 0),
  duration_ms  INTEGER NOT NULL CHECK (duration_ms >= 1),
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  deleted_at   INTEGER
);
-- The conflict target of the override upsert, and getOverride/deleteOverride's look-up.
CREATE UNIQUE INDEX ratelimit_overrides_live ON ratelimit_overrides (namespace_id, identifier)
  WHERE deleted_at IS NULL;
-- Serves listOverrides: equality on namespace_id, range and order on id.
CREATE INDEX ratelimit_overrides_by_namespace ON ratelimit_overrides (namespace_id, id)
  WHERE deleted_at IS NULL;
)sql";

// Usage (issue 4). Text dimensions are '' for "none", not NULL: they are part of the rollups'
// primary key, where NULLs would never conflict and the upsert would insert duplicates.
//
// usage_events: one row per event, pruned after the retention period; tags a JSON array.
// usage_rollups: counts and credits per UTC bucket; the upsert of WriteUsage adds to them.
// WITHOUT ROWID: the primary key is the only access path, so the table is the index.
constexpr const char* kSchemaV5 = R"sql(
CREATE TABLE usage_events (
  id            INTEGER PRIMARY KEY,
  at            INTEGER NOT NULL,
  api_id        TEXT NOT NULL,
  key_id        TEXT NOT NULL,
  external_id   TEXT NOT NULL,
  code          TEXT NOT NULL,
  credits_spent INTEGER NOT NULL,
  tags          TEXT NOT NULL DEFAULT '[]',
  denied_by     TEXT NOT NULL,
  source        TEXT NOT NULL CHECK (source IN ('verify', 'authorize', 'ratelimit'))
);
-- Pruning and time-range scans; per key and per identity over a range.
CREATE INDEX usage_events_by_at ON usage_events (at);
CREATE INDEX usage_events_by_key ON usage_events (key_id, at);
CREATE INDEX usage_events_by_external_id ON usage_events (external_id, at);

CREATE TABLE usage_rollups (
  granularity  TEXT NOT NULL CHECK (granularity IN ('minute', 'hour', 'day', 'month')),
  bucket_start INTEGER NOT NULL,
  key_id       TEXT NOT NULL,
  external_id  TEXT NOT NULL,
  code         TEXT NOT NULL,
  count        INTEGER NOT NULL,
  credits      INTEGER NOT NULL,
  PRIMARY KEY (granularity, bucket_start, key_id, external_id, code)
) WITHOUT ROWID;
)sql";

// Metered usage from usage.ingest (issue 4): the provider's own events (tokens, requests, ...).
//
// meter_events: one row per accepted event. event_id is the provider's idempotency key; the
// primary key makes a second copy an ignored insert. Rows are kept for the dedup window (pruned
// by received_at, the time tollgate accepted them), so a late copy is recognised; the rollups
// keep the sums for good. received_at also tells billing which events arrived after a period
// was closed.
// meter_rollups: event count and quantity per UTC bucket, like usage_rollups.
constexpr const char* kSchemaV6 = R"sql(
CREATE TABLE meter_events (
  event_id    TEXT PRIMARY KEY,
  at          INTEGER NOT NULL,
  external_id TEXT NOT NULL,
  key_id      TEXT NOT NULL,
  meter       TEXT NOT NULL,
  quantity    INTEGER NOT NULL CHECK (quantity >= 0),
  received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX meter_events_by_received_at ON meter_events (received_at);
CREATE INDEX meter_events_by_external_id ON meter_events (external_id, at);

CREATE TABLE meter_rollups (
  granularity  TEXT NOT NULL CHECK (granularity IN ('minute', 'hour', 'day', 'month')),
  bucket_start INTEGER NOT NULL,
  key_id       TEXT NOT NULL,
  external_id  TEXT NOT NULL,
  meter        TEXT NOT NULL,
  count        INTEGER NOT NULL,
  quantity     INTEGER NOT NULL,
  PRIMARY KEY (granularity, bucket_start, key_id, external_id, meter)
) WITHOUT ROWID;
)sql";

// Billing (issue 5).
//
// tiers.meter_prices: what each meter costs in the tier, as the JSON array of
// tiers/meter_pricing.h (nothing queries inside it; billing reads whole tiers).
// identities.billing_cycle: 'calendar' months, or 'anniversary' months from created_at.
// identity_tier_history: every change of a customer's tier with the time it took effect ('' = no
// tier), so usage is priced under the tier in force when it happened. Seeded with the tiers
// identities have now, as in force since forever.
// invoices: finalized documents. Lines are a JSON array (billing/invoice_json.h): an invoice is
// read and written whole and never changes after it is finalized, except to become void. At most
// one finalized invoice per customer and period; numbers come from invoice_sequence in the
// transaction that finalizes, so they are gapless and in order.
constexpr const char* kSchemaV7 = R"sql(
ALTER TABLE tiers ADD COLUMN meter_prices TEXT NOT NULL DEFAULT '[]';
ALTER TABLE identities ADD COLUMN billing_cycle TEXT NOT NULL DEFAULT 'calendar'
  CHECK (billing_cycle IN ('calendar', 'anniversary'));

CREATE TABLE identity_tier_history (
  external_id  TEXT NOT NULL,
  effective_at INTEGER NOT NULL,
  tier         TEXT NOT NULL,
  PRIMARY KEY (external_id, effective_at)
) WITHOUT ROWID;
INSERT INTO identity_tier_history (external_id, effective_at, tier)
  SELECT external_id, 0, tier FROM identities WHERE deleted_at IS NULL AND tier IS NOT NULL;

CREATE TABLE invoices (
  id           TEXT PRIMARY KEY,
  number       TEXT NOT NULL UNIQUE,
  external_id  TEXT NOT NULL,
  period       TEXT NOT NULL,
  period_start INTEGER NOT NULL,
  period_end   INTEGER NOT NULL,
  currency     TEXT NOT NULL,
  lines        TEXT NOT NULL,
  total_minor  INTEGER NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('finalized', 'void')),
  created_at   INTEGER NOT NULL,
  voided_at    INTEGER,
  void_reason  TEXT
);
CREATE UNIQUE INDEX invoices_finalized ON invoices (external_id, period) WHERE status = 'finalized';
CREATE INDEX invoices_by_period ON invoices (period, number);

CREATE TABLE invoice_sequence (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO invoice_sequence (name, value) VALUES ('invoice', 0);
)sql";

// The transactional outbox (issue 6, events/outbox_store.h): every change other nodes must hear
// of writes its event here in the same transaction. seq orders the events; origin names the node
// that made the change; claimed_by and
// claimed_until let one relay at a time publish a pending event; sent_at is set once the bus
// confirmed it, and sent rows are pruned after a day.
constexpr const char* kSchemaV8 = R"sql(
CREATE TABLE outbox (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  id            TEXT NOT NULL UNIQUE,
  type          TEXT NOT NULL,
  payload       TEXT NOT NULL,
  at            INTEGER NOT NULL,
  origin        TEXT NOT NULL DEFAULT '',
  claimed_by    TEXT,
  claimed_until INTEGER,
  sent_at       INTEGER
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
)sql";

// Customer alerts (issue 8, alerts/alert_store.h).
//
// alert_rules: soft-deleted, so that the history of a deleted rule still names it. A rule's scope
// is one identity (identity_id and its external_id), one tier, or neither (every customer); ''
// for "none", like the usage tables' dimensions.
// alerts: the history. subject is the rule's unit of evaluation ("i:<identityId>" or
// "k:<keyId>"); the partial unique index allows one open (firing) alert per rule and subject,
// which is how nodes that see the same crossing fire it once. seq orders the history.
// webhooks: secret is kept in full (every delivery is signed with it); soft-deleted like rules.
// webhook_deliveries: one per event and webhook (unique), with the body fixed at write time;
// claimed_by / claimed_until let one dispatcher at a time attempt a pending delivery.
constexpr const char* kSchemaV9 = R"sql(
CREATE TABLE alert_rules (
  id                TEXT PRIMARY KEY,
  name              TEXT NOT NULL DEFAULT '',
  kind              TEXT NOT NULL CHECK (kind IN ('quota_percent', 'credits_below', 'ratelimit_breaches')),
  threshold         INTEGER NOT NULL,
  resolve_threshold INTEGER NOT NULL,
  window_seconds    INTEGER NOT NULL DEFAULT 0 CHECK (window_seconds BETWEEN 0 AND 86400),
  identity_id       TEXT NOT NULL DEFAULT '',
  external_id       TEXT NOT NULL DEFAULT '',
  tier              TEXT NOT NULL DEFAULT '',
  created_at        INTEGER NOT NULL,
  deleted_at        INTEGER
);

CREATE TABLE alerts (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  rule_id        TEXT NOT NULL REFERENCES alert_rules (id),
  kind           TEXT NOT NULL,
  subject        TEXT NOT NULL,
  identity_id    TEXT NOT NULL DEFAULT '',
  external_id    TEXT NOT NULL DEFAULT '',
  key_id         TEXT NOT NULL DEFAULT '',
  tier           TEXT NOT NULL DEFAULT '',
  value          INTEGER NOT NULL,
  threshold      INTEGER NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
  origin         TEXT NOT NULL DEFAULT '',
  fired_at       INTEGER NOT NULL,
  resolved_at    INTEGER,
  resolved_value INTEGER,
  CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_open ON alerts (rule_id, subject) WHERE state = 'firing';
-- alerts.list filtered by rule or identity, newest first.
CREATE INDEX alerts_by_rule ON alerts (rule_id, seq);
CREATE INDEX alerts_by_identity ON alerts (identity_id, seq);

CREATE TABLE webhooks (
  id          TEXT PRIMARY KEY,
  url         TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  format      TEXT NOT NULL CHECK (format IN ('tollgate', 'alertmanager')),
  events      TEXT NOT NULL,
  secret      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  deleted_at  INTEGER
);

CREATE TABLE webhook_deliveries (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT NOT NULL UNIQUE,
  webhook_id       TEXT NOT NULL REFERENCES webhooks (id),
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  payload          TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_status_code INTEGER,
  last_error       TEXT NOT NULL DEFAULT '',
  next_attempt_at  INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  delivered_at     INTEGER,
  claimed_by       TEXT,
  claimed_until    INTEGER,
  UNIQUE (webhook_id, event_id)
);
-- The dispatcher's look-up of due deliveries, and webhooks.listDeliveries by webhook.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
)sql";

// alert_nodes: each node's heartbeat, written by its alert evaluation every few seconds. Alerts
// that only their origin node may resolve (credits, rate-limit breaches: per-node facts) are
// taken over by a live node once their origin's last_seen is old: a node renamed by a restart
// (a container's new hostname) leaves none firing for good. Rows of gone nodes are deleted then.
constexpr const char* kSchemaV10 = R"sql(
CREATE TABLE alert_nodes (
  node      TEXT PRIMARY KEY,
  last_seen INTEGER NOT NULL
);
)sql";

// usage_events again, with the same columns and rows: its CHECK on source was `IN (...)`, which
// SQLite evaluates by building a throw-away b-tree for every inserted row (OpenEphemeral), 5.8 µs
// of a 7.6 µs insert (bench/README, callgrind of the usage flusher). Comparisons cost nothing.
// SQLite cannot change a CHECK in place: the table is rebuilt (the documented 12-step way).
constexpr const char* kSchemaV11 = R"sql(
CREATE TABLE usage_events_v11 (
  id            INTEGER PRIMARY KEY,
  at            INTEGER NOT NULL,
  api_id        TEXT NOT NULL,
  key_id        TEXT NOT NULL,
  external_id   TEXT NOT NULL,
  code          TEXT NOT NULL,
  credits_spent INTEGER NOT NULL,
  tags          TEXT NOT NULL DEFAULT '[]',
  denied_by     TEXT NOT NULL,
  source        TEXT NOT NULL CHECK (source = 'verify' OR source = 'authorize' OR source = 'ratelimit')
);
INSERT INTO usage_events_v11 (id, at, api_id, key_id, external_id, code, credits_spent, tags, denied_by, source)
  SELECT id, at, api_id, key_id, external_id, code, credits_spent, tags, denied_by, source FROM usage_events;
DROP TABLE usage_events;
ALTER TABLE usage_events_v11 RENAME TO usage_events;
CREATE INDEX usage_events_by_at ON usage_events (at);
CREATE INDEX usage_events_by_key ON usage_events (key_id, at);
CREATE INDEX usage_events_by_external_id ON usage_events (external_id, at);
)sql";

constexpr std::array kMigrations = {
    Migration{1, kSchemaV1},
    Migration{2, kSchemaV2},
    Migration{3, kSchemaV3},
    Migration{4, kSchemaV4},
    Migration{5, kSchemaV5},
    Migration{6, kSchemaV6},
    Migration{7, kSchemaV7},
    Migration{8, kSchemaV8},
    Migration{9, kSchemaV9},
    Migration{10, kSchemaV10},
    Migration{11, kSchemaV11},
};

constexpr bool IsStrictlyIncreasing(std::span<const Migration> migrations) {
  int previous = 0;
  for (const auto& migration : migrations) {
    if (migration.version <= previous) return false;
    previous = migration.version;
  }
  return true;
}
static_assert(IsStrictlyIncreasing(kMigrations), "migration versions must increase");

// Bootstraps the bookkeeping itself; every later schema change is a migration.
constexpr const char* kCreateSchemaVersion =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";
constexpr std::string_view kSelectSchemaVersion =
    "SELECT COALESCE(MAX(version), 0) FROM schema_version";
constexpr std::string_view kInsertSchemaVersion =
    "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)";

Error InMigration(int version, Error error) {
  error.detail = "applying schema migration " + std::to_string(version) + ": " + error.detail;
  return error;
}

// Runs one migration and records it, inside the caller's transaction.
Status ApplyOne(SqliteConnection& connection, const Migration& migration, UnixMillis now) {
  if (auto ran = connection.Exec(migration.sql); !ran) return ran;
  auto insert = connection.Prepare(kInsertSchemaVersion);
  if (!insert) return Fail(std::move(insert.error()));
  return insert->Bind(1, std::int64_t{migration.version}).Bind(2, now).Run();
}

}  // namespace

std::span<const Migration> SchemaMigrations() { return kMigrations; }

Result<int> ReadSchemaVersion(SqliteConnection& connection) {
  auto version = connection.QueryInt64(kSelectSchemaVersion);
  if (!version) return Fail(std::move(version.error()));
  return static_cast<int>(*version);
}

Status ApplyMigrations(SqliteConnection& connection, std::span<const Migration> migrations,
                       UnixMillis now) {
  if (!IsStrictlyIncreasing(migrations)) {
    return Fail(Error::Internal("schema migrations are not in strictly increasing order"));
  }
  if (auto created = connection.Exec(kCreateSchemaVersion); !created) return created;
  auto current = ReadSchemaVersion(connection);
  if (!current) return Fail(std::move(current.error()));
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  if (*current > latest) {
    return Fail(Error::Unavailable("database schema version " + std::to_string(*current) +
                                   " is newer than this tollgate (max " + std::to_string(latest) +
                                   "); upgrade tollgate"));
  }

  for (const auto& migration : migrations) {
    if (migration.version <= *current) continue;
    auto transaction = SqliteTransaction::Begin(connection);
    if (!transaction) return Fail(InMigration(migration.version, std::move(transaction.error())));
    // Another process opening the same file may have migrated while we waited for the lock.
    current = ReadSchemaVersion(connection);
    if (!current) return Fail(std::move(current.error()));
    if (migration.version <= *current) continue;  // the transaction rolls back: nothing written

    if (auto applied = ApplyOne(connection, migration, now); !applied) {
      return Fail(InMigration(migration.version, std::move(applied.error())));
    }
    if (auto committed = transaction->Commit(); !committed) {
      return Fail(InMigration(migration.version, std::move(committed.error())));
    }
    *current = migration.version;
  }
  return {};
}

}  // namespace tollgate
