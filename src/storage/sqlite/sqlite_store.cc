#include "storage/sqlite/sqlite_store.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <tuple>
#include <limits>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/calendar.h"
#include "common/ids.h"
#include "storage/sqlite/migrations.h"
#include "storage/domain_events.h"
#include "storage/row_json.h"
#include "storage/sqlite/sqlite_internal.h"
#include "tiers/meter_pricing.h"

namespace tollgate {
namespace {

using sqlite_internal::During;
using sqlite_internal::kUsageGranularities;
using sqlite_internal::RunOnOne;
using sqlite_internal::UsageBucketStart;
using sqlite_internal::WriteEvent;
using sqlite_internal::WriteWithEvent;
using storage::DecodeRateLimits;
using storage::DecodeStrings;
using storage::DumpJson;
using storage::EncodeRateLimits;
using storage::EncodeStrings;
using storage::ParseRefillInterval;
using storage::RefillIntervalText;

// ---- Connection set-up ----

// Set first, so that the journal-mode switch below already waits for other processes' locks
// instead of failing at once with SQLITE_BUSY.
constexpr const char* kPragmaBusyTimeout = "PRAGMA busy_timeout = 5000";
// WAL: readers and the writer do not block each other. Answers with the mode now in effect.
constexpr std::string_view kPragmaJournalModeWal = "PRAGMA journal_mode = WAL";
// With WAL, NORMAL syncs only at checkpoints, not at every commit: a crash of the process loses
// nothing, a power loss may lose the last commits but cannot corrupt the file. Without WAL the
// same setting could corrupt, which is why a file database that refuses WAL is refused.
constexpr const char* kPragmaSynchronousNormal = "PRAGMA synchronous = NORMAL";
// Off by default in SQLite, per connection, and a no-op inside a transaction: set before migrating.
constexpr const char* kPragmaForeignKeysOn = "PRAGMA foreign_keys = ON";

Status ConfigureConnection(SqliteConnection& connection, const std::string& path, bool in_memory) {
  if (auto set = connection.Exec(kPragmaBusyTimeout); !set) return set;
  if (!in_memory) {
    auto mode = connection.QueryText(kPragmaJournalModeWal);
    if (!mode) return Fail(std::move(mode.error()));
    if (*mode != "wal") {
      return Fail(Error::Unavailable("sqlite: cannot switch '" + path +
                                     "' to WAL journal mode (still '" + *mode +
                                     "'); network filesystems do not support it"));
    }
  }
  if (auto set = connection.Exec(kPragmaSynchronousNormal); !set) return set;
  return connection.Exec(kPragmaForeignKeysOn);
}

// ---- Keys: one numbering for columns and parameters ----

// A key's fields in the order of kKeySelect's columns (0-based, for reading) and of the
// parameters of the insert and update statements (1-based via Param: ?1 is the id). Sharing the
// numbering lets one binder serve both writes; parameters a statement does not mention are bound
// and ignored (SQLite allows any index up to the highest ?N used).
enum KeyField : int {
  kKeyId,
  kKeyApiId,
  kKeyHash,
  kKeyStart,
  kKeyName,
  kKeyExternalId,
  kKeyMeta,
  kKeyEnabled,
  kKeyExpires,
  kKeyCreditsRemaining,
  kKeyRefillInterval,
  kKeyRefillAmount,
  kKeyRefillDay,
  kKeyLastRefillAt,
  kKeyRatelimits,
  kKeyPermissions,
  kKeyRoles,
  kKeyCreatedAt,
  kKeyUpdatedAt,
  kKeyTier,
};
constexpr int Param(KeyField field) { return static_cast<int>(field) + 1; }

// A key is live when neither it nor its API is deleted. DeleteApi soft-deletes the keys too, so
// the API check is a guard, not the only line of defence; it costs one primary-key probe per row.
#define TOLLGATE_KEY_SELECT                                                                  \
  "SELECT k.id, k.api_id, k.hash, k.start, k.name, k.external_id, k.meta, k.enabled, "      \
  "k.expires, k.credits_remaining, k.refill_interval, k.refill_amount, k.refill_day, "      \
  "k.last_refill_at, k.ratelimits, k.permissions, k.roles, k.created_at, k.updated_at, "    \
  "k.tier "                                                                                  \
  "FROM keys AS k JOIN apis AS a ON a.id = k.api_id "                                        \
  "WHERE k.deleted_at IS NULL AND a.deleted_at IS NULL "
#define TOLLGATE_KEY_IS_LIVE                                                                 \
  " deleted_at IS NULL AND EXISTS (SELECT 1 FROM apis "                                      \
  "WHERE apis.id = keys.api_id AND apis.deleted_at IS NULL)"

constexpr std::string_view kSelectKeyById = TOLLGATE_KEY_SELECT "AND k.id = ?1";
// Ids are never "", so binding "" as the cursor of the first page selects every key while the
// query keeps the plain range `k.id > ?2` that the (api_id, id) index serves.
constexpr std::string_view kSelectKeyPage =
    TOLLGATE_KEY_SELECT "AND k.api_id = ?1 AND k.id > ?2 ORDER BY k.id LIMIT ?3";
constexpr std::string_view kSelectKeyPageByExternalId =
    TOLLGATE_KEY_SELECT
    "AND k.external_id = ?4 AND k.api_id = ?1 AND k.id > ?2 ORDER BY k.id LIMIT ?3";
constexpr std::string_view kSelectAllKeys = TOLLGATE_KEY_SELECT "ORDER BY k.id";

// The INSERT ... SELECT ... WHERE EXISTS checks the API and inserts in one statement, so no
// transaction is needed: zero rows changed means the API is missing or deleted.
constexpr std::string_view kInsertKey =
    "INSERT INTO keys (id, api_id, hash, start, name, external_id, meta, enabled, expires, "
    "credits_remaining, refill_interval, refill_amount, refill_day, last_refill_at, "
    "ratelimits, permissions, roles, created_at, updated_at, tier) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
    "?20 "
    "WHERE EXISTS (SELECT 1 FROM apis WHERE id = ?2 AND deleted_at IS NULL)";
// api_id, hash, start and created_at are immutable.
constexpr std::string_view kUpdateKey =
    "UPDATE keys SET name = ?5, external_id = ?6, meta = ?7, enabled = ?8, expires = ?9, "
    "credits_remaining = ?10, refill_interval = ?11, refill_amount = ?12, refill_day = ?13, "
    "last_refill_at = ?14, ratelimits = ?15, permissions = ?16, roles = ?17, updated_at = ?19, "
    "tier = ?20 "
    "WHERE id = ?1 AND" TOLLGATE_KEY_IS_LIVE;
constexpr std::string_view kUpdateCredits =
    "UPDATE keys SET credits_remaining = ?10, refill_interval = ?11, refill_amount = ?12, "
    "refill_day = ?13, last_refill_at = ?14 WHERE id = ?1 AND" TOLLGATE_KEY_IS_LIVE;
constexpr std::string_view kSoftDeleteKey =
    "UPDATE keys SET deleted_at = ?2 WHERE id = ?1 AND" TOLLGATE_KEY_IS_LIVE;
constexpr std::string_view kSelectApiOfKey = "SELECT api_id FROM keys WHERE id = ?1";
constexpr std::string_view kHardDeleteKey = "DELETE FROM keys WHERE id = ?1 AND" TOLLGATE_KEY_IS_LIVE;

#undef TOLLGATE_KEY_SELECT
#undef TOLLGATE_KEY_IS_LIVE

constexpr std::string_view kInsertApi =
    "INSERT INTO apis (id, name, created_at) VALUES (?1, ?2, ?3)";
constexpr std::string_view kSelectApi =
    "SELECT id, name, created_at FROM apis WHERE id = ?1 AND deleted_at IS NULL";
constexpr std::string_view kSoftDeleteApi =
    "UPDATE apis SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL";
constexpr std::string_view kSoftDeleteKeysOfApi =
    "UPDATE keys SET deleted_at = ?2 WHERE api_id = ?1 AND deleted_at IS NULL";

// ---- Identities: columns in this order, parameters numbered alike (?1 is the id) ----
enum IdentityField : int {
  kIdentityId,
  kIdentityExternalId,
  kIdentityMeta,
  kIdentityRatelimits,
  kIdentityTier,
  kIdentityCreatedAt,
  kIdentityBillingCycle,
};
constexpr int Param(IdentityField field) { return static_cast<int>(field) + 1; }
std::string_view BillingCycleName(const Identity& identity) {
  return identity.anniversary_billing ? "anniversary" : "calendar";
}

#define TOLLGATE_IDENTITY_SELECT                                                             \
  "SELECT id, external_id, meta, ratelimits, tier, created_at, billing_cycle FROM identities " \
  "WHERE deleted_at IS NULL "
constexpr std::string_view kSelectIdentityByExternalId =
    TOLLGATE_IDENTITY_SELECT "AND external_id = ?1";
constexpr std::string_view kSelectIdentityById = TOLLGATE_IDENTITY_SELECT "AND id = ?1";
// As for keys, "" as the first page's cursor keeps the plain primary-key range.
constexpr std::string_view kSelectIdentityPage =
    TOLLGATE_IDENTITY_SELECT "AND id > ?1 ORDER BY id LIMIT ?2";
// instr rather than LIKE: the search text needs no escaping of % and _. lower() folds ASCII only.
// A scan of the live identities; fine for an admin listing, an index cannot serve "contains".
constexpr std::string_view kSelectIdentityPageSearch =
    TOLLGATE_IDENTITY_SELECT
    "AND id > ?1 AND (instr(lower(id), lower(?3)) > 0 OR instr(lower(external_id), lower(?3)) > 0) "
    "ORDER BY id LIMIT ?2";
constexpr std::string_view kSelectAllIdentities = TOLLGATE_IDENTITY_SELECT "ORDER BY id";
#undef TOLLGATE_IDENTITY_SELECT

constexpr std::string_view kInsertIdentity =
    "INSERT INTO identities (id, external_id, meta, ratelimits, tier, created_at, billing_cycle) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
// DO NOTHING: another process may create the same identity between our read and this insert.
// The conflict target names the partial unique index over live identities.
constexpr std::string_view kUpsertIdentity =
    "INSERT INTO identities (id, external_id, meta, ratelimits, tier, created_at) "
    "VALUES (?1, ?2, NULL, '[]', NULL, ?6) "
    "ON CONFLICT (external_id) WHERE deleted_at IS NULL DO NOTHING";
constexpr std::string_view kUpdateIdentity =
    "UPDATE identities SET meta = ?3, ratelimits = ?4, tier = ?5, billing_cycle = ?7 "
    "WHERE id = ?1 AND deleted_at IS NULL";
constexpr std::string_view kSelectExternalIdOfIdentity = "SELECT external_id FROM identities WHERE id = ?1";
constexpr std::string_view kSoftDeleteIdentity =
    "UPDATE identities SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL";
// Run after the soft delete, in the same transaction: the subquery still finds the row.
constexpr std::string_view kDetachKeysOfIdentity =
    "UPDATE keys SET external_id = NULL WHERE deleted_at IS NULL "
    "AND external_id = (SELECT external_id FROM identities WHERE id = ?1)";

// ---- Tiers: columns in this order, parameters numbered alike (?1 is the name) ----
enum TierField : int {
  kTierName,
  kTierDescription,
  kTierRatelimits,
  kTierIncludedQuota,
  kTierOveragePolicy,
  kTierThrottleTo,
  kTierGracePercent,
  kTierCurrency,
  kTierBaseFeeMinor,
  kTierOverageUnitPriceMicros,
  kTierBuiltin,
  kTierCreatedAt,
  kTierUpdatedAt,
  kTierMeterPrices,
};
constexpr int Param(TierField field) { return static_cast<int>(field) + 1; }

#define TOLLGATE_TIER_SELECT                                                                 \
  "SELECT name, description, ratelimits, included_quota, overage_policy, throttle_to, "     \
  "grace_percent, currency, base_fee_minor, overage_unit_price_micros, builtin, created_at, " \
  "updated_at, meter_prices FROM tiers "
constexpr std::string_view kSelectTier = TOLLGATE_TIER_SELECT "WHERE name = ?1";
constexpr std::string_view kSelectTiers = TOLLGATE_TIER_SELECT "ORDER BY name";
#undef TOLLGATE_TIER_SELECT
constexpr std::string_view kInsertTier =
    "INSERT INTO tiers (name, description, ratelimits, included_quota, overage_policy, "
    "throttle_to, grace_percent, currency, base_fee_minor, overage_unit_price_micros, builtin, "
    "created_at, updated_at, meter_prices) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
// name, builtin and created_at are immutable.
constexpr std::string_view kUpdateTier =
    "UPDATE tiers SET description = ?2, ratelimits = ?3, included_quota = ?4, "
    "overage_policy = ?5, throttle_to = ?6, grace_percent = ?7, currency = ?8, "
    "base_fee_minor = ?9, overage_unit_price_micros = ?10, updated_at = ?13, meter_prices = ?14 WHERE name = ?1";
constexpr std::string_view kTierExists = "SELECT COUNT(*) FROM tiers WHERE name = ?1";
// The three counts of TierUsage; served by identities_by_tier, keys_by_tier and a scan of the
// (few) tiers.
constexpr std::string_view kCountTierUsage =
    "SELECT (SELECT COUNT(*) FROM identities WHERE tier = ?1 AND deleted_at IS NULL), "
    "(SELECT COUNT(*) FROM keys WHERE tier = ?1 AND deleted_at IS NULL AND EXISTS "
    "(SELECT 1 FROM apis WHERE apis.id = keys.api_id AND apis.deleted_at IS NULL)), "
    "(SELECT COUNT(*) FROM tiers WHERE throttle_to = ?1 AND name <> ?1)";
constexpr std::string_view kDeleteTier = "DELETE FROM tiers WHERE name = ?1";

constexpr std::string_view kInsertRootKey =
    "INSERT INTO root_keys (id, hash, start, name, permissions, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr std::string_view kDeleteRootKey = "DELETE FROM root_keys WHERE id = ?1";
constexpr std::string_view kSelectRootKeys =
    "SELECT id, hash, start, name, permissions, created_at FROM root_keys "
    "ORDER BY created_at, id";

// ---- Rate limit namespaces and overrides ----

constexpr std::string_view kInsertRatelimitNamespace =
    "INSERT INTO ratelimit_namespaces (id, name, created_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (name) DO NOTHING";
constexpr std::string_view kSelectRatelimitNamespaceByName =
    "SELECT id, name, created_at FROM ratelimit_namespaces WHERE name = ?1";
constexpr std::string_view kSelectAllRatelimitNamespaces =
    "SELECT id, name, created_at FROM ratelimit_namespaces ORDER BY name";

// Columns in the order ReadOverrides reads them.
#define TOLLGATE_OVERRIDE_SELECT                                                             \
  "SELECT id, namespace_id, identifier, limit_value, duration_ms, created_at, updated_at "  \
  "FROM ratelimit_overrides WHERE deleted_at IS NULL "
constexpr std::string_view kSelectLiveOverride =
    TOLLGATE_OVERRIDE_SELECT "AND namespace_id = ?1 AND identifier = ?2";
// As for keys, "" as the first page's cursor keeps the plain range the index serves.
constexpr std::string_view kSelectOverridePage =
    TOLLGATE_OVERRIDE_SELECT "AND namespace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
constexpr std::string_view kSelectAllOverrides = TOLLGATE_OVERRIDE_SELECT "ORDER BY namespace_id, id";
#undef TOLLGATE_OVERRIDE_SELECT
// The conflict target names the partial unique index over live overrides; a replaced override
// keeps its id and created_at.
constexpr std::string_view kUpsertOverride =
    "INSERT INTO ratelimit_overrides "
    "(id, namespace_id, identifier, limit_value, duration_ms, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (namespace_id, identifier) WHERE deleted_at IS NULL DO UPDATE SET "
    "limit_value = excluded.limit_value, duration_ms = excluded.duration_ms, "
    "updated_at = excluded.updated_at";
constexpr std::string_view kSoftDeleteOverride =
    "UPDATE ratelimit_overrides SET deleted_at = ?3, updated_at = ?3 "
    "WHERE namespace_id = ?1 AND identifier = ?2 AND deleted_at IS NULL";

constexpr std::string_view kPing = "SELECT 1";

// ---- Errors ----

Error CorruptColumn(std::string_view column, std::string_view row_id) {
  return Error::Internal("sqlite: column " + std::string(column) + " of " + std::string(row_id) +
                         " holds a value tollgate did not write");
}

// ---- Key rows ----

// NULL in every credit column means unlimited; NULL refill columns mean no refill.
void BindCredits(SqliteStatement& statement, const std::optional<Credits>& credits) {
  const int refill_columns[] = {Param(kKeyRefillInterval), Param(kKeyRefillAmount),
                                Param(kKeyRefillDay)};
  if (!credits) {
    statement.BindNull(Param(kKeyCreditsRemaining)).BindNull(Param(kKeyLastRefillAt));
    for (int column : refill_columns) statement.BindNull(column);
    return;
  }
  statement.Bind(Param(kKeyCreditsRemaining), credits->remaining)
      .Bind(Param(kKeyLastRefillAt), credits->last_refill_at);
  if (!credits->refill) {
    for (int column : refill_columns) statement.BindNull(column);
    return;
  }
  statement.Bind(Param(kKeyRefillInterval), RefillIntervalText(credits->refill->interval))
      .Bind(Param(kKeyRefillAmount), credits->refill->amount)
      .Bind(Param(kKeyRefillDay), std::int64_t{credits->refill->refill_day});
}

void BindKey(SqliteStatement& statement, const Key& key) {
  statement.Bind(Param(kKeyId), key.id)
      .Bind(Param(kKeyApiId), key.api_id)
      .Bind(Param(kKeyHash), key.hash)
      .Bind(Param(kKeyStart), key.start)
      .BindTextOrNull(Param(kKeyName), key.name)
      .BindTextOrNull(Param(kKeyExternalId), key.external_id)
      .BindTextOrNull(Param(kKeyMeta), key.meta_json)
      .Bind(Param(kKeyEnabled), std::int64_t{key.enabled ? 1 : 0})
      .Bind(Param(kKeyExpires), key.expires)
      .Bind(Param(kKeyRatelimits), EncodeRateLimits(key.ratelimits))
      .Bind(Param(kKeyPermissions), EncodeStrings(key.permissions))
      .Bind(Param(kKeyRoles), EncodeStrings(key.roles))
      .Bind(Param(kKeyCreatedAt), key.created_at)
      .Bind(Param(kKeyUpdatedAt), key.updated_at)
      .BindTextOrNull(Param(kKeyTier), key.tier);
  BindCredits(statement, key.credits);
}

Result<Key> ReadKey(const SqliteStatement& row) {
  Key key;
  key.id = row.ColumnText(kKeyId);
  key.api_id = row.ColumnText(kKeyApiId);
  key.hash = row.ColumnText(kKeyHash);
  key.start = row.ColumnText(kKeyStart);
  key.name = row.ColumnText(kKeyName);
  key.external_id = row.ColumnText(kKeyExternalId);
  key.meta_json = row.ColumnText(kKeyMeta);
  key.enabled = row.ColumnInt64(kKeyEnabled) != 0;
  key.expires = row.ColumnOptionalInt64(kKeyExpires);
  if (const auto remaining = row.ColumnOptionalInt64(kKeyCreditsRemaining)) {
    Credits credits;
    credits.remaining = *remaining;
    credits.last_refill_at = row.ColumnOptionalInt64(kKeyLastRefillAt).value_or(0);
    if (!row.ColumnIsNull(kKeyRefillInterval)) {
      const auto interval = ParseRefillInterval(row.ColumnText(kKeyRefillInterval));
      const auto day = row.ColumnInt64(kKeyRefillDay);
      if (!interval) return Fail(CorruptColumn("keys.refill_interval", key.id));
      if (day < 0 || day > std::int64_t{std::numeric_limits<unsigned>::max()}) {
        return Fail(CorruptColumn("keys.refill_day", key.id));
      }
      credits.refill = CreditRefill{.interval = *interval,
                                    .amount = row.ColumnInt64(kKeyRefillAmount),
                                    .refill_day = static_cast<unsigned>(day)};
    }
    key.credits = std::move(credits);
  }
  auto ratelimits = DecodeRateLimits(row.ColumnText(kKeyRatelimits));
  if (!ratelimits) return Fail(CorruptColumn("keys.ratelimits", key.id));
  key.ratelimits = std::move(*ratelimits);
  auto permissions = DecodeStrings(row.ColumnText(kKeyPermissions));
  if (!permissions) return Fail(CorruptColumn("keys.permissions", key.id));
  key.permissions = std::move(*permissions);
  auto roles = DecodeStrings(row.ColumnText(kKeyRoles));
  if (!roles) return Fail(CorruptColumn("keys.roles", key.id));
  key.roles = std::move(*roles);
  key.created_at = row.ColumnInt64(kKeyCreatedAt);
  key.updated_at = row.ColumnInt64(kKeyUpdatedAt);
  key.tier = row.ColumnText(kKeyTier);
  return key;
}

// Steps through every row of a key query.
Result<std::vector<Key>> ReadKeys(SqliteStatement& statement) {
  std::vector<Key> keys;
  for (;;) {
    auto row = statement.Step();
    if (!row) return Fail(std::move(row.error()));
    if (!*row) return keys;
    auto key = ReadKey(statement);
    if (!key) return Fail(std::move(key.error()));
    keys.push_back(std::move(*key));
  }
}

// ---- Identity rows ----

void BindIdentity(SqliteStatement& statement, const Identity& identity) {
  statement.Bind(Param(kIdentityId), identity.id)
      .Bind(Param(kIdentityExternalId), identity.external_id)
      .BindTextOrNull(Param(kIdentityMeta), identity.meta_json)
      .Bind(Param(kIdentityRatelimits), EncodeRateLimits(identity.ratelimits))
      .BindTextOrNull(Param(kIdentityTier), identity.tier)
      .Bind(Param(kIdentityCreatedAt), identity.created_at)
      .Bind(Param(kIdentityBillingCycle), BillingCycleName(identity));
}

Result<std::vector<Identity>> ReadIdentities(SqliteStatement& statement) {
  std::vector<Identity> identities;
  for (;;) {
    auto row = statement.Step();
    if (!row) return Fail(std::move(row.error()));
    if (!*row) return identities;
    Identity identity;
    identity.id = statement.ColumnText(kIdentityId);
    identity.external_id = statement.ColumnText(kIdentityExternalId);
    identity.meta_json = statement.ColumnText(kIdentityMeta);
    auto ratelimits = DecodeRateLimits(statement.ColumnText(kIdentityRatelimits));
    if (!ratelimits) return Fail(CorruptColumn("identities.ratelimits", identity.id));
    identity.ratelimits = std::move(*ratelimits);
    identity.tier = statement.ColumnText(kIdentityTier);
    identity.created_at = statement.ColumnInt64(kIdentityCreatedAt);
    identity.anniversary_billing = statement.ColumnText(kIdentityBillingCycle) == "anniversary";
    identities.push_back(std::move(identity));
  }
}

// ---- Tier rows ----

void BindTier(SqliteStatement& statement, const Tier& tier) {
  statement.Bind(Param(kTierName), tier.name)
      .Bind(Param(kTierDescription), tier.description)
      .Bind(Param(kTierRatelimits), EncodeRateLimits(tier.ratelimits))
      .Bind(Param(kTierIncludedQuota), tier.included_quota)
      .Bind(Param(kTierOveragePolicy), OveragePolicyName(tier.overage_policy))
      .BindTextOrNull(Param(kTierThrottleTo), tier.throttle_to)
      .Bind(Param(kTierGracePercent), std::int64_t{tier.grace_percent})
      .Bind(Param(kTierCurrency), tier.pricing.currency)
      .Bind(Param(kTierBaseFeeMinor), tier.pricing.base_fee_minor)
      .Bind(Param(kTierOverageUnitPriceMicros), tier.pricing.overage_unit_price_micros)
      .Bind(Param(kTierBuiltin), std::int64_t{tier.builtin ? 1 : 0})
      .Bind(Param(kTierCreatedAt), tier.created_at)
      .Bind(Param(kTierUpdatedAt), tier.updated_at)
      .Bind(Param(kTierMeterPrices), MeterPricingsToJson(tier.pricing.meters).dump());
}

Result<std::vector<Tier>> ReadTiers(SqliteStatement& statement) {
  std::vector<Tier> tiers;
  for (;;) {
    auto row = statement.Step();
    if (!row) return Fail(std::move(row.error()));
    if (!*row) return tiers;
    Tier tier;
    tier.name = statement.ColumnText(kTierName);
    tier.description = statement.ColumnText(kTierDescription);
    auto ratelimits = DecodeRateLimits(statement.ColumnText(kTierRatelimits));
    if (!ratelimits) return Fail(CorruptColumn("tiers.ratelimits", tier.name));
    tier.ratelimits = std::move(*ratelimits);
    tier.included_quota = statement.ColumnOptionalInt64(kTierIncludedQuota);
    const auto policy = ParseOveragePolicy(statement.ColumnText(kTierOveragePolicy));
    if (!policy) return Fail(CorruptColumn("tiers.overage_policy", tier.name));
    tier.overage_policy = *policy;
    tier.throttle_to = statement.ColumnText(kTierThrottleTo);
    tier.grace_percent = static_cast<int>(statement.ColumnInt64(kTierGracePercent));
    tier.pricing.currency = statement.ColumnText(kTierCurrency);
    tier.pricing.base_fee_minor = statement.ColumnInt64(kTierBaseFeeMinor);
    tier.pricing.overage_unit_price_micros = statement.ColumnInt64(kTierOverageUnitPriceMicros);
    auto meters = MeterPricingsFromJson(nlohmann::json::parse(statement.ColumnText(kTierMeterPrices), nullptr, false));
    if (!meters) return Fail(CorruptColumn("tiers.meter_prices", tier.name));
    tier.pricing.meters = std::move(*meters);
    tier.builtin = statement.ColumnInt64(kTierBuiltin) != 0;
    tier.created_at = statement.ColumnInt64(kTierCreatedAt);
    tier.updated_at = statement.ColumnInt64(kTierUpdatedAt);
    tiers.push_back(std::move(tier));
  }
}

// ---- Rate limit rows ----

Result<std::vector<RatelimitNamespace>> ReadNamespaces(SqliteStatement& statement) {
  std::vector<RatelimitNamespace> namespaces;
  for (;;) {
    auto row = statement.Step();
    if (!row) return Fail(std::move(row.error()));
    if (!*row) return namespaces;
    namespaces.push_back(RatelimitNamespace{.id = statement.ColumnText(0),
                                            .name = statement.ColumnText(1),
                                            .created_at = statement.ColumnInt64(2)});
  }
}

Result<std::vector<RatelimitOverride>> ReadOverrides(SqliteStatement& statement) {
  std::vector<RatelimitOverride> overrides;
  for (;;) {
    auto row = statement.Step();
    if (!row) return Fail(std::move(row.error()));
    if (!*row) return overrides;
    overrides.push_back(RatelimitOverride{.id = statement.ColumnText(0),
                                          .namespace_id = statement.ColumnText(1),
                                          .identifier = statement.ColumnText(2),
                                          .limit = statement.ColumnInt64(3),
                                          .duration_ms = statement.ColumnInt64(4),
                                          .created_at = statement.ColumnInt64(5),
                                          .updated_at = statement.ColumnInt64(6)});
  }
}

}  // namespace

// ---- Opening ----

Result<SqliteConnection> OpenSqliteDatabase(const std::string& path) {
  if (path.empty()) return Fail(Error::InvalidInput("sqlite database path is empty"));
  const bool in_memory = path == kSqliteInMemoryPath;
  if (!in_memory) {
    const auto parent = std::filesystem::path(path).parent_path();
    std::error_code error;
    if (!parent.empty()) std::filesystem::create_directories(parent, error);
    if (error) {
      return Fail(Error::Unavailable("cannot create directory '" + parent.string() +
                                     "' for the sqlite database: " + error.message()));
    }
  }
  auto connection = SqliteConnection::Open(path);
  if (!connection) return connection;
  if (auto configured = ConfigureConnection(*connection, path, in_memory); !configured) {
    return Fail(std::move(configured.error()));
  }
  // applied_at is informational only, so the system clock is read here rather than injected.
  if (auto migrated = ApplyMigrations(*connection, SchemaMigrations(), SystemClock().NowMillis());
      !migrated) {
    return Fail(std::move(migrated.error()));
  }
  return connection;
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  auto connection = OpenSqliteDatabase(path);
  if (!connection) return Fail(std::move(connection.error()));
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(*connection)));
}

// ---- APIs ----

Status SqliteStore::InsertApi(const Api& api) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kInsertApi);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, api.id).Bind(2, api.name).Bind(3, api.created_at);
  if (auto ran = statement->Run(); !ran) {
    return Fail(During("inserting api " + api.id, std::move(ran.error())));
  }
  return {};
}

Result<std::optional<Api>> SqliteStore::GetApi(const std::string& api_id) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectApi);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, api_id);
  auto row = statement->Step();
  if (!row) return Fail(During("reading api " + api_id, std::move(row.error())));
  if (!*row) return std::optional<Api>();
  return Api{.id = statement->ColumnText(0),
             .name = statement->ColumnText(1),
             .created_at = statement->ColumnInt64(2)};
}

Status SqliteStore::DeleteApi(const std::string& api_id, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During("deleting api " + api_id, std::move(transaction.error())));
  auto api = connection_.Prepare(kSoftDeleteApi);
  if (!api) return Fail(std::move(api.error()));
  api->Bind(1, api_id).Bind(2, now);
  if (auto deleted = RunOnOne(connection_, *api, "deleting api " + api_id,
                              "api " + api_id + " not found");
      !deleted) {
    return deleted;  // the transaction rolls back
  }
  auto keys = connection_.Prepare(kSoftDeleteKeysOfApi);
  if (!keys) return Fail(std::move(keys.error()));
  keys->Bind(1, api_id).Bind(2, now);
  if (auto deleted = keys->Run(); !deleted) {
    return Fail(During("deleting the keys of api " + api_id, std::move(deleted.error())));
  }
  if (auto recorded = WriteEvent(connection_, storage::ApiDeletedEvent(api_id, now)); !recorded) return recorded;
  return transaction->Commit();
}

// ---- Keys ----

Status SqliteStore::InsertKey(const Key& key) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kInsertKey);
  if (!statement) return Fail(std::move(statement.error()));
  BindKey(*statement, key);
  return WriteWithEvent(connection_, storage::KeyEvent("key.created", key, key.created_at), [&] {
    return RunOnOne(connection_, *statement, "inserting key " + key.id, "api " + key.api_id + " not found");
  });
}

Status SqliteStore::UpdateKey(const Key& key) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kUpdateKey);
  if (!statement) return Fail(std::move(statement.error()));
  BindKey(*statement, key);
  return WriteWithEvent(connection_, storage::KeyEvent("key.updated", key, key.updated_at), [&] {
    return RunOnOne(connection_, *statement, "updating key " + key.id, "key " + key.id + " not found");
  });
}

Status SqliteStore::DeleteKey(const std::string& key_id, bool permanent, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(permanent ? kHardDeleteKey : kSoftDeleteKey);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, key_id);
  if (!permanent) statement->Bind(2, now);
  // The event names the key's API, read before a permanent delete removes the row.
  auto api = connection_.Prepare(kSelectApiOfKey);
  if (!api) return Fail(std::move(api.error()));
  api->Bind(1, key_id);
  auto found = api->Step();
  if (!found) return Fail(During("deleting key " + key_id, std::move(found.error())));
  if (!*found) return Fail(Error::NotFound("key " + key_id + " not found"));
  return WriteWithEvent(connection_, storage::KeyDeletedEvent(key_id, api->ColumnText(0), now), [&] {
    return RunOnOne(connection_, *statement, "deleting key " + key_id, "key " + key_id + " not found");
  });
}

Result<std::optional<Key>> SqliteStore::GetKey(const std::string& key_id) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectKeyById);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, key_id);
  auto keys = ReadKeys(*statement);
  if (!keys) return Fail(During("reading key " + key_id, std::move(keys.error())));
  if (keys->empty()) return std::optional<Key>();
  return std::optional<Key>(std::move(keys->front()));
}

Result<KeyPage> SqliteStore::ListKeys(const std::string& api_id,
                                      const std::optional<std::string>& cursor, std::size_t limit,
                                      const std::optional<std::string>& external_id) {
  if (limit == 0) return Fail(Error::InvalidInput("limit must be at least 1"));
  // One row more than asked says whether another page follows, without a COUNT.
  const std::size_t page_size =
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max() - 1);
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(external_id ? kSelectKeyPageByExternalId : kSelectKeyPage);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, api_id)
      .Bind(2, cursor.value_or(""))
      .Bind(3, static_cast<std::int64_t>(page_size) + 1);
  if (external_id) statement->Bind(4, *external_id);
  auto keys = ReadKeys(*statement);
  if (!keys) return Fail(During("listing keys of api " + api_id, std::move(keys.error())));

  KeyPage page;
  page.keys = std::move(*keys);
  if (page.keys.size() > page_size) {
    page.keys.pop_back();
    page.next_cursor = page.keys.back().id;
  }
  return page;
}

Result<std::vector<Key>> SqliteStore::LoadAllKeys() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectAllKeys);
  if (!statement) return Fail(std::move(statement.error()));
  auto keys = ReadKeys(*statement);
  if (!keys) return Fail(During("loading all keys", std::move(keys.error())));
  return keys;
}

Status SqliteStore::UpdateCredits(const std::string& key_id, const std::optional<Credits>& credits) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kUpdateCredits);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(Param(kKeyId), key_id);
  BindCredits(*statement, credits);
  return RunOnOne(connection_, *statement, "updating credits of key " + key_id,
                  "key " + key_id + " not found");
}

// ---- Quota counters ----

constexpr std::string_view kSelectQuotaUsage = "SELECT subject, used FROM quota_usage WHERE period = ?1";
constexpr std::string_view kUpsertQuotaUsage =
    "INSERT INTO quota_usage (subject, period, used) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (period, subject) DO UPDATE SET used = max(used, excluded.used)";

Result<std::vector<QuotaRow>> SqliteStore::LoadQuotaUsage(int period) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectQuotaUsage);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, std::int64_t{period});
  std::vector<QuotaRow> rows;
  while (true) {
    auto row = statement->Step();
    if (!row) return Fail(During("loading quota counters", std::move(row.error())));
    if (!*row) break;
    rows.push_back({statement->ColumnText(0), period, statement->ColumnInt64(1)});
  }
  return rows;
}

Status SqliteStore::SaveQuotaUsage(std::span<const QuotaRow> rows) {
  std::lock_guard lock(mutex_);
  // One transaction for the batch: one fsync-equivalent instead of one per counter.
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(std::move(transaction.error()));
  for (const QuotaRow& row : rows) {
    auto statement = connection_.Prepare(kUpsertQuotaUsage);
    if (!statement) return Fail(std::move(statement.error()));
    statement->Bind(1, row.subject).Bind(2, std::int64_t{row.period}).Bind(3, row.used);
    if (auto status = statement->Run(); !status) return Fail(During("saving quota counters", std::move(status.error())));
  }
  return transaction->Commit();
}

// ---- Usage ----

constexpr std::string_view kInsertUsageEvent =
    "INSERT INTO usage_events (at, api_id, key_id, external_id, code, credits_spent, tags, denied_by, source) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr std::string_view kUpsertUsageRollup =
    "INSERT INTO usage_rollups (granularity, bucket_start, key_id, external_id, code, count, credits) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (granularity, bucket_start, key_id, external_id, code) DO UPDATE SET "
    "count = count + excluded.count, credits = credits + excluded.credits";
constexpr std::string_view kPruneUsageEvents = "DELETE FROM usage_events WHERE at < ?1";

Status SqliteStore::WriteUsage(std::span<const UsageEvent> events) {
  if (events.empty()) return {};
  // Sum the batch per rollup row first: a batch of 10k events from a few busy keys becomes a few
  // dozen upserts instead of 40k. The views point into `events`, alive for the whole call.
  using RollupKey = std::tuple<std::size_t, UnixMillis, std::string_view, std::string_view, std::string_view>;
  std::map<RollupKey, std::pair<std::int64_t, std::int64_t>> rollups;
  for (const UsageEvent& event : events) {
    for (std::size_t g = 0; g < kUsageGranularities.size(); ++g) {
      auto& [count, credits] = rollups[{g, UsageBucketStart(g, event.at), event.key_id, event.external_id, event.code}];
      ++count;
      credits += event.credits_spent;
    }
  }
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During("writing usage", std::move(transaction.error())));
  auto insert = connection_.Prepare(kInsertUsageEvent);
  if (!insert) return Fail(std::move(insert.error()));
  for (const UsageEvent& event : events) {
    // `events` outlives each row's step: its text is bound without copies.
    insert->Bind(1, event.at).BindUncopied(2, event.api_id).BindUncopied(3, event.key_id)
        .BindUncopied(4, event.external_id).BindUncopied(5, event.code).Bind(6, event.credits_spent)
        .Bind(7, event.tags.empty() ? "[]" : DumpJson(event.tags)).BindUncopied(8, event.denied_by)
        .BindUncopied(9, event.source);
    if (auto ran = insert->Run(); !ran) return Fail(During("inserting usage events", std::move(ran.error())));
    insert->Reset();
  }
  auto upsert = connection_.Prepare(kUpsertUsageRollup);
  if (!upsert) return Fail(std::move(upsert.error()));
  for (const auto& [key, sums] : rollups) {
    const auto& [granularity, bucket, key_id, external_id, code] = key;
    upsert->Bind(1, kUsageGranularities[granularity]).Bind(2, bucket).Bind(3, key_id).Bind(4, external_id)
        .Bind(5, code).Bind(6, sums.first).Bind(7, sums.second);
    if (auto ran = upsert->Run(); !ran) return Fail(During("updating usage rollups", std::move(ran.error())));
    upsert->Reset();
  }
  const UnixMillis latest = std::max_element(events.begin(), events.end(), [](const auto& a, const auto& b) {
                              return a.at < b.at;
                            })->at;
  if (auto recorded = WriteEvent(connection_, storage::UsageBatchEvent(events, latest)); !recorded) return recorded;
  return transaction->Commit();
}

Status SqliteStore::PruneRawUsage(UnixMillis older_than) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kPruneUsageEvents);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, older_than);
  if (auto ran = statement->Run(); !ran) return Fail(During("pruning usage events", std::move(ran.error())));
  return {};
}

// ---- Usage queries ----
//
// One statement per shape; optional filters are "(?n = '' OR column = ?n)". Rollup statements
// take ?1 granularity, ?2 from (floored to the bucket), ?3 to, ?4 key_id, ?5 external_id. Raw
// statements take ?1 from, ?2 to, ?3 key_id, ?4 external_id, ?5 api_id.

#define TOLLGATE_ROLLUP_WHERE                                                            \
  " FROM usage_rollups WHERE granularity = ?1 AND bucket_start >= ?2 AND bucket_start < ?3" \
  " AND (?4 = '' OR key_id = ?4) AND (?5 = '' OR external_id = ?5)"
#define TOLLGATE_RAW_WHERE                                                                    \
  " FROM usage_events WHERE at >= ?1 AND at < ?2 AND (?3 = '' OR key_id = ?3)"                \
  " AND (?4 = '' OR external_id = ?4) AND (?5 = '' OR api_id = ?5)"
// ?6: the group column, by name ('' = no group).
#define TOLLGATE_GROUP_COLUMN                                                                  \
  "CASE ?6 WHEN 'outcome' THEN code WHEN 'key' THEN key_id WHEN 'identity' THEN external_id " \
  "ELSE '' END"

constexpr std::string_view kUsageSummaryFromRollups =
    "SELECT code, SUM(count), SUM(credits)" TOLLGATE_ROLLUP_WHERE " GROUP BY code";
constexpr std::string_view kUsageSummaryFromEvents =
    "SELECT code, COUNT(*), SUM(credits_spent)" TOLLGATE_RAW_WHERE " GROUP BY code";
constexpr std::string_view kUsageTimeseriesFromRollups =
    "SELECT bucket_start, " TOLLGATE_GROUP_COLUMN " AS grp, SUM(count), SUM(credits)" TOLLGATE_ROLLUP_WHERE
    " GROUP BY bucket_start, grp ORDER BY bucket_start, grp";
// ?7 granularity; the month bucket is the UTC first of the month.
constexpr std::string_view kUsageTimeseriesFromEvents =
    "SELECT CASE ?7 WHEN 'minute' THEN at - at % 60000 WHEN 'hour' THEN at - at % 3600000 "
    "WHEN 'day' THEN at - at % 86400000 "
    "ELSE CAST(strftime('%s', at / 1000, 'unixepoch', 'start of month') AS INTEGER) * 1000 END AS bucket, "
    TOLLGATE_GROUP_COLUMN " AS grp, COUNT(*), SUM(credits_spent)" TOLLGATE_RAW_WHERE
    " GROUP BY bucket, grp ORDER BY bucket, grp";
// One row per (event, tag); ?6 is 'tag' (bound like the group name of the other statements).
constexpr std::string_view kUsageTimeseriesByTagFromEvents =
    "SELECT CASE ?7 WHEN 'minute' THEN at - at % 60000 WHEN 'hour' THEN at - at % 3600000 "
    "WHEN 'day' THEN at - at % 86400000 "
    "ELSE CAST(strftime('%s', at / 1000, 'unixepoch', 'start of month') AS INTEGER) * 1000 END AS bucket, "
    "tag.value AS grp, COUNT(*), SUM(credits_spent) FROM usage_events, json_each(usage_events.tags) AS tag "
    "WHERE at >= ?1 AND at < ?2 AND (?3 = '' OR key_id = ?3) AND (?4 = '' OR external_id = ?4) "
    "AND (?5 = '' OR api_id = ?5) AND ?6 = 'tag' GROUP BY bucket, grp ORDER BY bucket, grp";
// ?6 limit.
constexpr std::string_view kUsageTopKeysFromRollups =
    "SELECT key_id, SUM(count), SUM(CASE WHEN code = 'VALID' THEN count ELSE 0 END), SUM(credits)"
    TOLLGATE_ROLLUP_WHERE " AND key_id != '' GROUP BY key_id ORDER BY 2 DESC, 1 LIMIT ?6";
constexpr std::string_view kUsageTopIdentitiesFromRollups =
    "SELECT external_id, SUM(count), SUM(CASE WHEN code = 'VALID' THEN count ELSE 0 END), SUM(credits)"
    TOLLGATE_ROLLUP_WHERE " AND external_id != '' GROUP BY external_id ORDER BY 2 DESC, 1 LIMIT ?6";
constexpr std::string_view kUsageTopKeysFromEvents =
    "SELECT key_id, COUNT(*), SUM(CASE WHEN code = 'VALID' THEN 1 ELSE 0 END), SUM(credits_spent)"
    TOLLGATE_RAW_WHERE " AND key_id != '' GROUP BY key_id ORDER BY 2 DESC, 1 LIMIT ?6";
constexpr std::string_view kUsageTopIdentitiesFromEvents =
    "SELECT external_id, COUNT(*), SUM(CASE WHEN code = 'VALID' THEN 1 ELSE 0 END), SUM(credits_spent)"
    TOLLGATE_RAW_WHERE " AND external_id != '' GROUP BY external_id ORDER BY 2 DESC, 1 LIMIT ?6";

#undef TOLLGATE_ROLLUP_WHERE
#undef TOLLGATE_RAW_WHERE
#undef TOLLGATE_GROUP_COLUMN

std::string_view GroupByName(UsageGroupBy group_by) {
  switch (group_by) {
    case UsageGroupBy::kOutcome: return "outcome";
    case UsageGroupBy::kKey: return "key";
    case UsageGroupBy::kIdentity: return "identity";
    case UsageGroupBy::kTag: return "tag";
    default: return "";
  }
}

// The coarsest of minute / hour / day whose buckets both ends of the range fall on, so long
// aligned ranges read few rollup rows; minute otherwise (the first minute is counted whole).
std::size_t SummaryGranularity(const UsageFilter& filter) {
  return storage::UsageSummaryGranularity(filter.from, filter.to);
}

// Binds the shared filter parameters of a rollup (granularity g) or raw statement.
void BindUsageFilter(SqliteStatement& statement, const UsageFilter& filter, bool raw, std::size_t g) {
  if (raw) {
    statement.Bind(1, filter.from).Bind(2, filter.to).Bind(3, filter.key_id).Bind(4, filter.external_id)
        .Bind(5, filter.api_id);
  } else {
    statement.Bind(1, kUsageGranularities[g]).Bind(2, UsageBucketStart(g, filter.from)).Bind(3, filter.to)
        .Bind(4, filter.key_id).Bind(5, filter.external_id);
  }
}

Result<UsageSummary> SqliteStore::Summary(const UsageFilter& filter) {
  const bool raw = !filter.api_id.empty();
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(raw ? kUsageSummaryFromEvents : kUsageSummaryFromRollups);
  if (!statement) return Fail(std::move(statement.error()));
  BindUsageFilter(*statement, filter, raw, SummaryGranularity(filter));
  UsageSummary summary;
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("reading usage summary", std::move(row.error())));
    if (!*row) break;
    const std::int64_t count = statement->ColumnInt64(1);
    summary.by_code[statement->ColumnText(0)] += count;
    summary.total += count;
    summary.credits_spent += statement->ColumnInt64(2);
  }
  if (!raw) {
    if (auto meters = ReadMeterTotals(filter, SummaryGranularity(filter), summary); !meters) return Fail(meters.error());
  }
  return summary;
}

Result<std::vector<UsagePoint>> SqliteStore::Timeseries(const UsageFilter& filter, UsageGranularity granularity,
                                                        UsageGroupBy group_by) {
  const bool by_tag = group_by == UsageGroupBy::kTag;
  const bool raw = by_tag || !filter.api_id.empty();
  const auto g = static_cast<std::size_t>(granularity);
  std::lock_guard lock(mutex_);
  if (group_by == UsageGroupBy::kMeter) return MeterTimeseries(filter, g);
  auto statement = connection_.Prepare(by_tag ? kUsageTimeseriesByTagFromEvents
                                       : raw  ? kUsageTimeseriesFromEvents
                                              : kUsageTimeseriesFromRollups);
  if (!statement) return Fail(std::move(statement.error()));
  BindUsageFilter(*statement, filter, raw, g);
  statement->Bind(6, GroupByName(group_by));
  if (raw) statement->Bind(7, kUsageGranularities[g]);
  std::vector<UsagePoint> points;
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("reading usage timeseries", std::move(row.error())));
    if (!*row) break;
    points.push_back({statement->ColumnInt64(0), statement->ColumnText(1), statement->ColumnInt64(2),
                      statement->ColumnInt64(3)});
  }
  return points;
}

Result<std::vector<UsageTopEntry>> SqliteStore::Top(const UsageFilter& filter, bool by_identity, std::size_t limit) {
  const bool raw = !filter.api_id.empty();
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(
      raw ? (by_identity ? kUsageTopIdentitiesFromEvents : kUsageTopKeysFromEvents)
          : (by_identity ? kUsageTopIdentitiesFromRollups : kUsageTopKeysFromRollups));
  if (!statement) return Fail(std::move(statement.error()));
  BindUsageFilter(*statement, filter, raw, SummaryGranularity(filter));
  statement->Bind(6, static_cast<std::int64_t>(limit));
  std::vector<UsageTopEntry> entries;
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("reading top usage", std::move(row.error())));
    if (!*row) break;
    entries.push_back({statement->ColumnText(0), statement->ColumnInt64(1), statement->ColumnInt64(2),
                       statement->ColumnInt64(3)});
  }
  return entries;
}

// ---- Identities ----

Result<std::optional<Identity>> SqliteStore::SelectIdentity(std::string_view query,
                                                            const std::string& value) {
  auto statement = connection_.Prepare(query);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, value);
  auto identities = ReadIdentities(*statement);
  if (!identities) return Fail(During("reading identity " + value, std::move(identities.error())));
  if (identities->empty()) return std::optional<Identity>();
  return std::optional<Identity>(std::move(identities->front()));
}

Status SqliteStore::InsertIdentity(const Identity& identity) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During("inserting identity " + identity.external_id, std::move(transaction.error())));
  auto statement = connection_.Prepare(kInsertIdentity);
  if (!statement) return Fail(std::move(statement.error()));
  BindIdentity(*statement, identity);
  if (auto ran = statement->Run(); !ran) {
    return Fail(During("inserting identity " + identity.external_id, std::move(ran.error())));
  }
  if (auto recorded = RecordTierChange(identity.external_id, identity.tier, identity.created_at); !recorded) return recorded;
  const auto event = storage::IdentityEvent("identity.created", identity.id, identity.external_id, identity.created_at);
  if (auto recorded = WriteEvent(connection_, event); !recorded) return recorded;
  return transaction->Commit();
}

Result<Identity> SqliteStore::UpsertIdentity(const std::string& external_id, UnixMillis now) {
  std::lock_guard lock(mutex_);
  // Read first: the identity usually exists, and a read takes no write lock.
  auto existing = SelectIdentity(kSelectIdentityByExternalId, external_id);
  if (!existing) return Fail(std::move(existing.error()));
  if (*existing) return std::move(**existing);

  auto statement = connection_.Prepare(kUpsertIdentity);
  if (!statement) return Fail(std::move(statement.error()));
  const std::string id = NewId("id");
  statement->Bind(Param(kIdentityId), id).Bind(Param(kIdentityExternalId), external_id).Bind(Param(kIdentityCreatedAt), now);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(std::move(transaction.error()));
  if (auto inserted = statement->Run(); !inserted) {
    return Fail(During("inserting identity " + external_id, std::move(inserted.error())));
  }
  // Another process may have created it meanwhile: then the insert was ignored, and so is the event.
  if (connection_.Changes() > 0) {
    if (auto recorded = WriteEvent(connection_, storage::IdentityEvent("identity.created", id, external_id, now));
        !recorded) {
      return Fail(std::move(recorded.error()));
    }
  }
  if (auto committed = transaction->Commit(); !committed) return Fail(std::move(committed.error()));
  auto created = SelectIdentity(kSelectIdentityByExternalId, external_id);
  if (!created) return Fail(std::move(created.error()));
  if (!*created) return Fail(Error::Internal("identity " + external_id + " vanished after insert"));
  return std::move(**created);
}

Status SqliteStore::UpdateIdentity(const Identity& identity, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During("updating identity " + identity.id, std::move(transaction.error())));
  auto statement = connection_.Prepare(kUpdateIdentity);
  if (!statement) return Fail(std::move(statement.error()));
  // Not BindIdentity: the statement has no ?2 or ?6.
  statement->Bind(Param(kIdentityId), identity.id)
      .BindTextOrNull(Param(kIdentityMeta), identity.meta_json)
      .Bind(Param(kIdentityRatelimits), EncodeRateLimits(identity.ratelimits))
      .BindTextOrNull(Param(kIdentityTier), identity.tier)
      .Bind(Param(kIdentityBillingCycle), BillingCycleName(identity));
  if (auto updated = RunOnOne(connection_, *statement, "updating identity " + identity.id,
                              "identity " + identity.id + " not found");
      !updated) {
    return updated;
  }
  // The history is keyed by external id, which an update never changes.
  if (auto recorded = RecordTierChange(identity.external_id, identity.tier, now); !recorded) return recorded;
  const auto event = storage::IdentityEvent("identity.updated", identity.id, identity.external_id, now);
  if (auto recorded = WriteEvent(connection_, event); !recorded) return recorded;
  return transaction->Commit();
}

Result<std::string> SqliteStore::ExternalIdOfIdentity(const std::string& identity_id) {
  auto statement = connection_.Prepare(kSelectExternalIdOfIdentity);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, identity_id);
  auto row = statement->Step();
  if (!row) return Fail(During("reading identity " + identity_id, std::move(row.error())));
  if (!*row) return Fail(Error::NotFound("identity " + identity_id + " not found"));
  return statement->ColumnText(0);
}

Status SqliteStore::DeleteIdentity(const std::string& identity_id, UnixMillis now) {
  std::lock_guard lock(mutex_);
  const std::string what = "deleting identity " + identity_id;
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During(what, std::move(transaction.error())));
  auto identity = connection_.Prepare(kSoftDeleteIdentity);
  if (!identity) return Fail(std::move(identity.error()));
  identity->Bind(1, identity_id).Bind(2, now);
  if (auto deleted = RunOnOne(connection_, *identity, what, "identity " + identity_id + " not found");
      !deleted) {
    return deleted;  // the transaction rolls back
  }
  auto keys = connection_.Prepare(kDetachKeysOfIdentity);
  if (!keys) return Fail(std::move(keys.error()));
  keys->Bind(1, identity_id);
  if (auto detached = keys->Run(); !detached) {
    return Fail(During("detaching the keys of identity " + identity_id, std::move(detached.error())));
  }
  // A deleted customer has no tier (and no base fee) from now on.
  auto external_id = ExternalIdOfIdentity(identity_id);
  if (!external_id) return Fail(std::move(external_id.error()));
  if (auto recorded = RecordTierChange(*external_id, "", now); !recorded) return recorded;
  if (auto recorded = WriteEvent(connection_, storage::IdentityEvent("identity.deleted", identity_id, *external_id, now));
      !recorded) {
    return recorded;
  }
  return transaction->Commit();
}

Result<std::optional<Identity>> SqliteStore::GetIdentityById(const std::string& identity_id) {
  std::lock_guard lock(mutex_);
  return SelectIdentity(kSelectIdentityById, identity_id);
}

Result<std::optional<Identity>> SqliteStore::GetIdentityByExternalId(
    const std::string& external_id) {
  std::lock_guard lock(mutex_);
  return SelectIdentity(kSelectIdentityByExternalId, external_id);
}

Result<IdentityPage> SqliteStore::ListIdentities(const std::optional<std::string>& cursor,
                                                 std::size_t limit,
                                                 const std::optional<std::string>& search) {
  if (limit == 0) return Fail(Error::InvalidInput("limit must be at least 1"));
  const std::size_t page_size =
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max() - 1);
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(search ? kSelectIdentityPageSearch : kSelectIdentityPage);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, cursor.value_or("")).Bind(2, static_cast<std::int64_t>(page_size) + 1);
  if (search) statement->Bind(3, *search);
  auto identities = ReadIdentities(*statement);
  if (!identities) return Fail(During("listing identities", std::move(identities.error())));

  IdentityPage page;
  page.identities = std::move(*identities);
  if (page.identities.size() > page_size) {
    page.identities.pop_back();
    page.next_cursor = page.identities.back().id;
  }
  return page;
}

Result<std::vector<Identity>> SqliteStore::LoadAllIdentities() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectAllIdentities);
  if (!statement) return Fail(std::move(statement.error()));
  auto identities = ReadIdentities(*statement);
  if (!identities) return Fail(During("loading all identities", std::move(identities.error())));
  return identities;
}

// ---- Tiers ----

Status SqliteStore::InsertTier(const Tier& tier) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kInsertTier);
  if (!statement) return Fail(std::move(statement.error()));
  BindTier(*statement, tier);
  return WriteWithEvent(connection_, storage::TierEvent("tier.created", tier.name, tier.created_at), [&]() -> Status {
    if (auto ran = statement->Run(); !ran) return Fail(During("inserting tier " + tier.name, std::move(ran.error())));
    return {};
  });
}

Status SqliteStore::UpdateTier(const Tier& tier) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kUpdateTier);
  if (!statement) return Fail(std::move(statement.error()));
  BindTier(*statement, tier);
  return WriteWithEvent(connection_, storage::TierEvent("tier.updated", tier.name, tier.updated_at), [&] {
    return RunOnOne(connection_, *statement, "updating tier " + tier.name, "tier " + tier.name + " not found");
  });
}

Result<TierUsage> SqliteStore::DeleteTierIfUnused(const std::string& name, UnixMillis now) {
  std::lock_guard lock(mutex_);
  const std::string what = "deleting tier " + name;
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During(what, std::move(transaction.error())));

  auto exists = connection_.Prepare(kTierExists);
  if (!exists) return Fail(std::move(exists.error()));
  auto found = exists->Bind(1, name).Step();
  if (!found) return Fail(During(what, std::move(found.error())));
  if (!*found || exists->ColumnInt64(0) == 0) return Fail(Error::NotFound("tier " + name + " not found"));

  auto count = connection_.Prepare(kCountTierUsage);
  if (!count) return Fail(std::move(count.error()));
  auto counted = count->Bind(1, name).Step();
  if (!counted) return Fail(During(what, std::move(counted.error())));
  if (!*counted) return Fail(Error::Internal("sqlite: counting the users of tier " + name + " gave no row"));
  const TierUsage usage{.identities = count->ColumnInt64(0),
                        .keys = count->ColumnInt64(1),
                        .throttling_tiers = count->ColumnInt64(2)};
  if (!usage.unused()) return usage;  // the transaction rolls back: nothing written

  auto statement = connection_.Prepare(kDeleteTier);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, name);
  if (auto deleted = RunOnOne(connection_, *statement, what, "tier " + name + " not found"); !deleted) {
    return Fail(std::move(deleted.error()));
  }
  if (auto recorded = WriteEvent(connection_, storage::TierEvent("tier.deleted", name, now)); !recorded) {
    return Fail(std::move(recorded.error()));
  }
  if (auto committed = transaction->Commit(); !committed) return Fail(std::move(committed.error()));
  return usage;
}

Result<std::optional<Tier>> SqliteStore::GetTier(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectTier);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, name);
  auto tiers = ReadTiers(*statement);
  if (!tiers) return Fail(During("reading tier " + name, std::move(tiers.error())));
  if (tiers->empty()) return std::optional<Tier>();
  return std::optional<Tier>(std::move(tiers->front()));
}

Result<std::vector<Tier>> SqliteStore::ListTiers() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectTiers);
  if (!statement) return Fail(std::move(statement.error()));
  auto tiers = ReadTiers(*statement);
  if (!tiers) return Fail(During("listing tiers", std::move(tiers.error())));
  return tiers;
}

// ---- Rate limit namespaces and overrides ----

Result<RatelimitNamespace> SqliteStore::UpsertRatelimitNamespace(const RatelimitNamespace& candidate) {
  std::lock_guard lock(mutex_);
  const std::string what = "creating ratelimit namespace " + candidate.name;
  // DO NOTHING when the name exists, then read back whichever row holds it: ours or an older one.
  auto insert = connection_.Prepare(kInsertRatelimitNamespace);
  if (!insert) return Fail(std::move(insert.error()));
  insert->Bind(1, candidate.id).Bind(2, candidate.name).Bind(3, candidate.created_at);
  if (auto inserted = insert->Run(); !inserted) return Fail(During(what, std::move(inserted.error())));
  auto select = connection_.Prepare(kSelectRatelimitNamespaceByName);
  if (!select) return Fail(std::move(select.error()));
  select->Bind(1, candidate.name);
  auto namespaces = ReadNamespaces(*select);
  if (!namespaces) return Fail(During(what, std::move(namespaces.error())));
  if (namespaces->empty()) return Fail(Error::Internal("ratelimit namespace " + candidate.name + " vanished after insert"));
  return std::move(namespaces->front());
}

Result<std::vector<RatelimitNamespace>> SqliteStore::LoadAllRatelimitNamespaces() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectAllRatelimitNamespaces);
  if (!statement) return Fail(std::move(statement.error()));
  auto namespaces = ReadNamespaces(*statement);
  if (!namespaces) return Fail(During("loading ratelimit namespaces", std::move(namespaces.error())));
  return namespaces;
}

Result<RatelimitOverride> SqliteStore::UpsertRatelimitOverride(const RatelimitOverride& row) {
  std::lock_guard lock(mutex_);
  const std::string what = "setting the ratelimit override of " + row.identifier;
  // One transaction, so the row read back is the one this upsert wrote.
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During(what, std::move(transaction.error())));
  auto upsert = connection_.Prepare(kUpsertOverride);
  if (!upsert) return Fail(std::move(upsert.error()));
  upsert->Bind(1, row.id)
      .Bind(2, row.namespace_id)
      .Bind(3, row.identifier)
      .Bind(4, row.limit)
      .Bind(5, row.duration_ms)
      .Bind(6, row.created_at)
      .Bind(7, row.updated_at);
  if (auto ran = upsert->Run(); !ran) return Fail(During(what, std::move(ran.error())));
  auto select = connection_.Prepare(kSelectLiveOverride);
  if (!select) return Fail(std::move(select.error()));
  select->Bind(1, row.namespace_id).Bind(2, row.identifier);
  auto overrides = ReadOverrides(*select);
  if (!overrides) return Fail(During(what, std::move(overrides.error())));
  if (overrides->empty()) return Fail(Error::Internal("ratelimit override " + row.identifier + " vanished after upsert"));
  const auto event =
      storage::RatelimitOverrideEvent("ratelimit.override_set", row.namespace_id, row.identifier, row.updated_at);
  if (auto recorded = WriteEvent(connection_, event); !recorded) return Fail(std::move(recorded.error()));
  if (auto committed = transaction->Commit(); !committed) return Fail(During(what, std::move(committed.error())));
  return std::move(overrides->front());
}

Status SqliteStore::DeleteRatelimitOverride(const std::string& namespace_id, const std::string& identifier,
                                            UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSoftDeleteOverride);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, namespace_id).Bind(2, identifier).Bind(3, now);
  const auto event = storage::RatelimitOverrideEvent("ratelimit.override_deleted", namespace_id, identifier, now);
  return WriteWithEvent(connection_, event, [&] {
    return RunOnOne(connection_, *statement, "deleting the ratelimit override of " + identifier,
                    "no ratelimit override for " + identifier + " in namespace " + namespace_id);
  });
}

Result<RatelimitOverridePage> SqliteStore::ListRatelimitOverrides(const std::string& namespace_id,
                                                                  const std::optional<std::string>& cursor,
                                                                  std::size_t limit) {
  if (limit == 0) return Fail(Error::InvalidInput("limit must be at least 1"));
  // One row more than asked says whether another page follows, without a COUNT.
  const std::size_t page_size = std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max() - 1);
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectOverridePage);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, namespace_id)
      .Bind(2, cursor.value_or(""))
      .Bind(3, static_cast<std::int64_t>(page_size) + 1);
  auto overrides = ReadOverrides(*statement);
  if (!overrides) {
    return Fail(During("listing the ratelimit overrides of " + namespace_id, std::move(overrides.error())));
  }
  RatelimitOverridePage page;
  page.overrides = std::move(*overrides);
  if (page.overrides.size() > page_size) {
    page.overrides.pop_back();
    page.next_cursor = page.overrides.back().id;
  }
  return page;
}

Result<std::vector<RatelimitOverride>> SqliteStore::LoadAllRatelimitOverrides() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectAllOverrides);
  if (!statement) return Fail(std::move(statement.error()));
  auto overrides = ReadOverrides(*statement);
  if (!overrides) return Fail(During("loading ratelimit overrides", std::move(overrides.error())));
  return overrides;
}

// ---- Root keys ----

Status SqliteStore::InsertRootKey(const RootKey& key) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kInsertRootKey);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, key.id)
      .Bind(2, key.hash)
      .Bind(3, key.start)
      .BindTextOrNull(4, key.name)
      .Bind(5, EncodeStrings(key.permissions))
      .Bind(6, key.created_at);
  return WriteWithEvent(connection_, storage::RootKeyEvent("rootkey.created", key.id, key.created_at), [&]() -> Status {
    if (auto ran = statement->Run(); !ran) return Fail(During("inserting root key " + key.id, std::move(ran.error())));
    return {};
  });
}

Status SqliteStore::DeleteRootKey(const std::string& id, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kDeleteRootKey);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, id);
  return WriteWithEvent(connection_, storage::RootKeyEvent("rootkey.deleted", id, now), [&] {
    return RunOnOne(connection_, *statement, "deleting root key " + id, "root key " + id + " not found");
  });
}

Result<std::vector<RootKey>> SqliteStore::ListRootKeys() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectRootKeys);
  if (!statement) return Fail(std::move(statement.error()));
  std::vector<RootKey> keys;
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("listing root keys", std::move(row.error())));
    if (!*row) return keys;
    RootKey key{.id = statement->ColumnText(0),
                .hash = statement->ColumnText(1),
                .start = statement->ColumnText(2),
                .name = statement->ColumnText(3),
                .permissions = {},
                .created_at = statement->ColumnInt64(5)};
    auto permissions = DecodeStrings(statement->ColumnText(4));
    if (!permissions) return Fail(CorruptColumn("root_keys.permissions", key.id));
    key.permissions = std::move(*permissions);
    keys.push_back(std::move(key));
  }
}

// ---- Health ----

Status SqliteStore::Ping() {
  std::lock_guard lock(mutex_);
  auto one = connection_.QueryInt64(kPing);
  if (!one) return Fail(During("ping", std::move(one.error())));
  return {};
}

Result<int> SqliteStore::SchemaVersion() {
  std::lock_guard lock(mutex_);
  return ReadSchemaVersion(connection_);
}

}  // namespace tollgate
