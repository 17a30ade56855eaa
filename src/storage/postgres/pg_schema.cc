#include "storage/postgres/pg_schema.h"

#include <array>
#include <string>

namespace tollgate {
namespace {

// Mirrors the SQLite schema at its version 8 (storage/sqlite/migrations.cc has the reasons for
// each table and column); the differences are PostgreSQL's types: BIGINT for Unix milliseconds and
// counts, BOOLEAN for flags, BIGSERIAL for insertion sequences. Text dimensions of the rollups
// are '' for "none", never NULL, because they are part of the primary keys.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE apis (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  deleted_at BIGINT
);

CREATE TABLE identities (
  id            TEXT PRIMARY KEY,
  external_id   TEXT NOT NULL,
  meta          TEXT,
  ratelimits    TEXT NOT NULL DEFAULT '[]',
  tier          TEXT,
  billing_cycle TEXT NOT NULL DEFAULT 'calendar' CHECK (billing_cycle IN ('calendar', 'anniversary')),
  created_at    BIGINT NOT NULL,
  deleted_at    BIGINT
);
CREATE UNIQUE INDEX identities_live_external_id ON identities (external_id) WHERE deleted_at IS NULL;
CREATE INDEX identities_by_tier ON identities (tier) WHERE tier IS NOT NULL;

CREATE TABLE keys (
  id                TEXT PRIMARY KEY,
  api_id            TEXT NOT NULL REFERENCES apis (id),
  hash              TEXT NOT NULL UNIQUE,
  start             TEXT NOT NULL,
  name              TEXT,
  external_id       TEXT,
  meta              TEXT,
  enabled           BOOLEAN NOT NULL,
  expires           BIGINT,
  credits_remaining BIGINT,
  refill_interval   TEXT CHECK (refill_interval IN ('daily', 'monthly')),
  refill_amount     BIGINT,
  refill_day        BIGINT,
  last_refill_at    BIGINT,
  ratelimits        TEXT NOT NULL DEFAULT '[]',
  permissions       TEXT NOT NULL DEFAULT '[]',
  roles             TEXT NOT NULL DEFAULT '[]',
  tier              TEXT,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL,
  deleted_at        BIGINT
);
CREATE INDEX keys_by_api ON keys (api_id, id);
CREATE INDEX keys_by_external_id ON keys (external_id, api_id, id);
CREATE INDEX keys_by_tier ON keys (tier) WHERE tier IS NOT NULL;

CREATE TABLE root_keys (
  id          TEXT PRIMARY KEY,
  hash        TEXT NOT NULL UNIQUE,
  start       TEXT NOT NULL,
  name        TEXT,
  permissions TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);

CREATE TABLE tiers (
  name                      TEXT PRIMARY KEY,
  description               TEXT NOT NULL DEFAULT '',
  ratelimits                TEXT NOT NULL DEFAULT '[]',
  included_quota            BIGINT CHECK (included_quota IS NULL OR included_quota >= 0),
  overage_policy            TEXT NOT NULL CHECK (overage_policy IN ('block', 'allow', 'throttle')),
  throttle_to               TEXT CHECK ((overage_policy = 'throttle') = (throttle_to IS NOT NULL)),
  grace_percent             BIGINT NOT NULL CHECK (grace_percent BETWEEN 0 AND 100),
  currency                  TEXT NOT NULL,
  base_fee_minor            BIGINT NOT NULL CHECK (base_fee_minor >= 0),
  overage_unit_price_micros BIGINT NOT NULL CHECK (overage_unit_price_micros >= 0),
  meter_prices              TEXT NOT NULL DEFAULT '[]',
  builtin                   BOOLEAN NOT NULL,
  created_at                BIGINT NOT NULL,
  updated_at                BIGINT NOT NULL
);

CREATE TABLE quota_usage (
  subject TEXT NOT NULL,
  period  BIGINT NOT NULL,
  used    BIGINT NOT NULL CHECK (used >= 0),
  PRIMARY KEY (period, subject)
);

CREATE TABLE ratelimit_namespaces (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);

CREATE TABLE ratelimit_overrides (
  id           TEXT PRIMARY KEY,
  namespace_id TEXT NOT NULL REFERENCES ratelimit_namespaces (id),
  identifier   TEXT NOT NULL CHECK (length(identifier) BETWEEN 1 AND 255),
  limit_value  BIGINT NOT NULL CHECK (limit_value >= 0),
  duration_ms  BIGINT NOT NULL CHECK (duration_ms >= 1),
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  deleted_at   BIGINT
);
CREATE UNIQUE INDEX ratelimit_overrides_live ON ratelimit_overrides (namespace_id, identifier)
  WHERE deleted_at IS NULL;
CREATE INDEX ratelimit_overrides_by_namespace ON ratelimit_overrides (namespace_id, id)
  WHERE deleted_at IS NULL;

CREATE TABLE usage_events (
  id            BIGSERIAL PRIMARY KEY,
  at            BIGINT NOT NULL,
  api_id        TEXT NOT NULL,
  key_id        TEXT NOT NULL,
  external_id   TEXT NOT NULL,
  code          TEXT NOT NULL,
  credits_spent BIGINT NOT NULL,
  tags          TEXT NOT NULL DEFAULT '[]',
  denied_by     TEXT NOT NULL,
  source        TEXT NOT NULL CHECK (source IN ('verify', 'authorize', 'ratelimit'))
);
CREATE INDEX usage_events_by_at ON usage_events (at, id);
CREATE INDEX usage_events_by_key ON usage_events (key_id, at);
CREATE INDEX usage_events_by_external_id ON usage_events (external_id, at);

CREATE TABLE usage_rollups (
  granularity  TEXT NOT NULL CHECK (granularity IN ('minute', 'hour', 'day', 'month')),
  bucket_start BIGINT NOT NULL,
  key_id       TEXT NOT NULL,
  external_id  TEXT NOT NULL,
  code         TEXT NOT NULL,
  count        BIGINT NOT NULL,
  credits      BIGINT NOT NULL,
  PRIMARY KEY (granularity, bucket_start, key_id, external_id, code)
);

CREATE TABLE meter_events (
  event_id    TEXT PRIMARY KEY,
  at          BIGINT NOT NULL,
  external_id TEXT NOT NULL,
  key_id      TEXT NOT NULL,
  meter       TEXT NOT NULL,
  quantity    BIGINT NOT NULL CHECK (quantity >= 0),
  received_at BIGINT NOT NULL
);
CREATE INDEX meter_events_by_received_at ON meter_events (received_at);
CREATE INDEX meter_events_by_external_id ON meter_events (external_id, at);

CREATE TABLE meter_rollups (
  granularity  TEXT NOT NULL CHECK (granularity IN ('minute', 'hour', 'day', 'month')),
  bucket_start BIGINT NOT NULL,
  key_id       TEXT NOT NULL,
  external_id  TEXT NOT NULL,
  meter        TEXT NOT NULL,
  count        BIGINT NOT NULL,
  quantity     BIGINT NOT NULL,
  PRIMARY KEY (granularity, bucket_start, key_id, external_id, meter)
);

CREATE TABLE identity_tier_history (
  external_id  TEXT NOT NULL,
  effective_at BIGINT NOT NULL,
  tier         TEXT NOT NULL,
  PRIMARY KEY (external_id, effective_at)
);

CREATE TABLE invoices (
  id           TEXT PRIMARY KEY,
  number       TEXT NOT NULL UNIQUE,
  external_id  TEXT NOT NULL,
  period       TEXT NOT NULL,
  period_start BIGINT NOT NULL,
  period_end   BIGINT NOT NULL,
  currency     TEXT NOT NULL,
  lines        TEXT NOT NULL,
  total_minor  BIGINT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('finalized', 'void')),
  created_at   BIGINT NOT NULL,
  voided_at    BIGINT,
  void_reason  TEXT
);
CREATE UNIQUE INDEX invoices_finalized ON invoices (external_id, period) WHERE status = 'finalized';
CREATE INDEX invoices_by_period ON invoices (period, number);

CREATE TABLE invoice_sequence (
  name  TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO invoice_sequence (name, value) VALUES ('invoice', 0);

CREATE TABLE outbox (
  seq           BIGSERIAL PRIMARY KEY,
  id            TEXT NOT NULL UNIQUE,
  type          TEXT NOT NULL,
  payload       TEXT NOT NULL,
  at            BIGINT NOT NULL,
  origin        TEXT NOT NULL DEFAULT '',
  claimed_by    TEXT,
  claimed_until BIGINT,
  sent_at       BIGINT
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
)sql";

// Customer alerts (issue 8): the SQLite schema's version 9 (storage/sqlite/migrations.cc has the
// reasons), with PostgreSQL's types.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE alert_rules (
  id                TEXT PRIMARY KEY,
  name              TEXT NOT NULL DEFAULT '',
  kind              TEXT NOT NULL CHECK (kind IN ('quota_percent', 'credits_below', 'ratelimit_breaches')),
  threshold         BIGINT NOT NULL,
  resolve_threshold BIGINT NOT NULL,
  window_seconds    BIGINT NOT NULL DEFAULT 0 CHECK (window_seconds BETWEEN 0 AND 86400),
  identity_id       TEXT NOT NULL DEFAULT '',
  external_id       TEXT NOT NULL DEFAULT '',
  tier              TEXT NOT NULL DEFAULT '',
  created_at        BIGINT NOT NULL,
  deleted_at        BIGINT
);

CREATE TABLE alerts (
  seq            BIGSERIAL PRIMARY KEY,
  id             TEXT NOT NULL UNIQUE,
  rule_id        TEXT NOT NULL REFERENCES alert_rules (id),
  kind           TEXT NOT NULL,
  subject        TEXT NOT NULL,
  identity_id    TEXT NOT NULL DEFAULT '',
  external_id    TEXT NOT NULL DEFAULT '',
  key_id         TEXT NOT NULL DEFAULT '',
  tier           TEXT NOT NULL DEFAULT '',
  value          BIGINT NOT NULL,
  threshold      BIGINT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
  origin         TEXT NOT NULL DEFAULT '',
  fired_at       BIGINT NOT NULL,
  resolved_at    BIGINT,
  resolved_value BIGINT,
  CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_open ON alerts (rule_id, subject) WHERE state = 'firing';
CREATE INDEX alerts_by_rule ON alerts (rule_id, seq);
CREATE INDEX alerts_by_identity ON alerts (identity_id, seq);

CREATE TABLE webhooks (
  id          TEXT PRIMARY KEY,
  url         TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  format      TEXT NOT NULL CHECK (format IN ('tollgate', 'alertmanager')),
  events      TEXT NOT NULL,
  secret      TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  deleted_at  BIGINT
);

CREATE TABLE webhook_deliveries (
  seq              BIGSERIAL PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  webhook_id       TEXT NOT NULL REFERENCES webhooks (id),
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  payload          TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_status_code BIGINT,
  last_error       TEXT NOT NULL DEFAULT '',
  next_attempt_at  BIGINT NOT NULL,
  created_at       BIGINT NOT NULL,
  delivered_at     BIGINT,
  claimed_by       TEXT,
  claimed_until    BIGINT,
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
)sql";

// Alert nodes' heartbeats: the SQLite schema's version 10 (storage/sqlite/migrations.cc).
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE alert_nodes (
  node      TEXT PRIMARY KEY,
  last_seen BIGINT NOT NULL
);
)sql";

struct PgMigration {
  int version;
  const char* sql;
};

constexpr std::array kPgMigrations = {
    PgMigration{1, kSchemaV1},
    PgMigration{2, kSchemaV2},
    PgMigration{3, kSchemaV3},
};

// Any constant will do as long as nothing else in the database uses it: "tollgate" in ASCII.
constexpr const char* kTakeMigrationLock = "SELECT pg_advisory_xact_lock(7957386921386861669)";
constexpr const char* kCreateSchemaVersion =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)";
constexpr std::string_view kSelectSchemaVersion = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
constexpr std::string_view kInsertSchemaVersion = "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)";

Error InMigration(int version, Error error) {
  error.detail = "applying PostgreSQL schema migration " + std::to_string(version) + ": " + error.detail;
  return error;
}

}  // namespace

int PgLatestSchemaVersion() { return kPgMigrations.back().version; }

Result<int> ReadPgSchemaVersion(PgConnection& connection) {
  auto rows = connection.Query(kSelectSchemaVersion);
  if (!rows) return Fail(std::move(rows.error()));
  return static_cast<int>(rows->Int64(0, 0));
}

Status ApplyPgMigrations(PgConnection& connection, UnixMillis now) {
  // CREATE TABLE IF NOT EXISTS can still race with itself on a fresh database (a unique
  // violation on the catalog), so even the bookkeeping runs under the lock.
  {
    auto transaction = PgTransaction::Begin(connection);
    if (!transaction) return Fail(std::move(transaction.error()));
    if (auto locked = connection.Exec(kTakeMigrationLock); !locked) return locked;
    if (auto created = connection.Exec(kCreateSchemaVersion); !created) return created;
    if (auto committed = transaction->Commit(); !committed) return committed;
  }
  for (const auto& migration : kPgMigrations) {
    auto transaction = PgTransaction::Begin(connection);
    if (!transaction) return Fail(InMigration(migration.version, std::move(transaction.error())));
    if (auto locked = connection.Exec(kTakeMigrationLock); !locked) return Fail(InMigration(migration.version, locked.error()));
    auto current = ReadPgSchemaVersion(connection);
    if (!current) return Fail(std::move(current.error()));
    if (*current > PgLatestSchemaVersion()) {
      return Fail(Error::Unavailable("database schema version " + std::to_string(*current) +
                                     " is newer than this tollgate (max " + std::to_string(PgLatestSchemaVersion()) +
                                     "); upgrade tollgate"));
    }
    if (migration.version <= *current) continue;  // rolls back: nothing written
    if (auto ran = connection.Exec(migration.sql); !ran) return Fail(InMigration(migration.version, ran.error()));
    auto recorded = connection.Run(kInsertSchemaVersion, PgParams().Add(std::int64_t{migration.version}).Add(now));
    if (!recorded) return Fail(InMigration(migration.version, recorded.error()));
    if (auto committed = transaction->Commit(); !committed) return Fail(InMigration(migration.version, committed.error()));
  }
  return {};
}

}  // namespace tollgate
