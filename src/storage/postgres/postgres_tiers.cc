// PostgresStore's TierStore (tiers/tier_store.h) and RatelimitStore (ratelimit/ratelimit_store.h):
// few rows, written rarely, read whole at start. Every write with an event runs as one
// transaction with that event (storage/domain_events.h).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/domain_events.h"
#include "storage/postgres/postgres_internal.h"
#include "storage/postgres/postgres_store.h"
#include "storage/row_json.h"
#include "storage/store_internal.h"
#include "tiers/meter_pricing.h"

namespace tollgate {
namespace {

using storage::During;

// ---- Tiers ----

// Columns in the order ReadTier reads them.
#define TOLLGATE_TIER_SELECT                                                                   \
  "SELECT name, description, ratelimits, included_quota, overage_policy, throttle_to, "       \
  "grace_percent, currency, base_fee_minor, overage_unit_price_micros, meter_prices, builtin, " \
  "created_at, updated_at FROM tiers "
constexpr std::string_view kSelectTier = TOLLGATE_TIER_SELECT "WHERE name = $1";
constexpr std::string_view kSelectTiers = TOLLGATE_TIER_SELECT "ORDER BY name";
#undef TOLLGATE_TIER_SELECT
// $1..$12 are TierParams; name, builtin and created_at never change after the insert.
constexpr std::string_view kInsertTier =
    "INSERT INTO tiers (name, description, ratelimits, included_quota, overage_policy, throttle_to, "
    "grace_percent, currency, base_fee_minor, overage_unit_price_micros, meter_prices, updated_at, builtin, "
    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
constexpr std::string_view kUpdateTier =
    "UPDATE tiers SET description = $2, ratelimits = $3, included_quota = $4, overage_policy = $5, "
    "throttle_to = $6, grace_percent = $7, currency = $8, base_fee_minor = $9, overage_unit_price_micros = $10, "
    "meter_prices = $11, updated_at = $12 WHERE name = $1";
// Holds the tier a write throttles to until the write commits: a DeleteTierIfUnused of that tier
// (which locks it FOR UPDATE) then waits, and counts this tier among its users. KEY SHARE does not
// block updates of the target, only its deletion. A target that does not exist (yet: configured
// tiers may throttle to each other in any order) locks nothing.
constexpr std::string_view kLockThrottleTarget = "SELECT 1 FROM tiers WHERE name = $1 FOR KEY SHARE";
constexpr std::string_view kLockTier = "SELECT 1 FROM tiers WHERE name = $1 FOR UPDATE";
// The three counts of TierUsage; served by identities_by_tier, keys_by_tier and a scan of the
// (few) tiers.
constexpr std::string_view kCountTierUsage =
    "SELECT (SELECT COUNT(*) FROM identities WHERE tier = $1 AND deleted_at IS NULL), "
    "(SELECT COUNT(*) FROM keys WHERE tier = $1 AND deleted_at IS NULL AND EXISTS "
    "(SELECT 1 FROM apis WHERE apis.id = keys.api_id AND apis.deleted_at IS NULL)), "
    "(SELECT COUNT(*) FROM tiers WHERE throttle_to = $1 AND name <> $1)";
constexpr std::string_view kDeleteTier = "DELETE FROM tiers WHERE name = $1";

// ---- Rate limit namespaces and overrides ----

constexpr std::string_view kInsertRatelimitNamespace =
    "INSERT INTO ratelimit_namespaces (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
constexpr std::string_view kSelectRatelimitNamespaceByName =
    "SELECT id, name, created_at FROM ratelimit_namespaces WHERE name = $1";
constexpr std::string_view kSelectAllRatelimitNamespaces =
    "SELECT id, name, created_at FROM ratelimit_namespaces ORDER BY name";

#define TOLLGATE_OVERRIDE_COLUMNS "id, namespace_id, identifier, limit_value, duration_ms, created_at, updated_at"
// As for keys, "" as the first page's cursor keeps the plain range ratelimit_overrides_by_namespace
// serves.
constexpr std::string_view kSelectOverridePage =
    "SELECT " TOLLGATE_OVERRIDE_COLUMNS " FROM ratelimit_overrides WHERE deleted_at IS NULL "
    "AND namespace_id = $1 AND id > $2 ORDER BY id LIMIT $3";
constexpr std::string_view kSelectAllOverrides =
    "SELECT " TOLLGATE_OVERRIDE_COLUMNS " FROM ratelimit_overrides WHERE deleted_at IS NULL "
    "ORDER BY namespace_id, id";
// The conflict target is the partial unique index over live overrides (ratelimit_overrides_live),
// so a deleted override is never revived; a replaced one keeps its id and created_at. RETURNING
// gives the row as stored, whichever branch ran. A missing namespace violates the foreign key
// (kConflict, as in SQLite).
constexpr std::string_view kUpsertOverride =
    "INSERT INTO ratelimit_overrides (" TOLLGATE_OVERRIDE_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (namespace_id, identifier) WHERE deleted_at IS NULL DO UPDATE SET "
    "limit_value = excluded.limit_value, duration_ms = excluded.duration_ms, updated_at = excluded.updated_at "
    "RETURNING " TOLLGATE_OVERRIDE_COLUMNS;
#undef TOLLGATE_OVERRIDE_COLUMNS
constexpr std::string_view kSoftDeleteOverride =
    "UPDATE ratelimit_overrides SET deleted_at = $3, updated_at = $3 "
    "WHERE namespace_id = $1 AND identifier = $2 AND deleted_at IS NULL";

// ---- Rows ----

Error CorruptColumn(std::string_view column, std::string_view row_id) {
  return Error::Internal("postgres: column " + std::string(column) + " of " + std::string(row_id) +
                         " holds a value tollgate did not write");
}

// $1 name, then every field UpdateTier replaces, in kUpdateTier's order.
PgParams TierParams(const Tier& tier) {
  PgParams params;
  params.Add(tier.name)
      .Add(tier.description)
      .Add(storage::EncodeRateLimits(tier.ratelimits))
      .Add(tier.included_quota)
      .Add(OveragePolicyName(tier.overage_policy))
      .AddTextOrNull(tier.throttle_to)
      .Add(std::int64_t{tier.grace_percent})
      .Add(tier.pricing.currency)
      .Add(tier.pricing.base_fee_minor)
      .Add(tier.pricing.overage_unit_price_micros)
      .Add(storage::DumpJson(MeterPricingsToJson(tier.pricing.meters)))
      .Add(tier.updated_at);
  return params;
}

Result<Tier> ReadTier(const PgResult& rows, int row) {
  Tier tier;
  tier.name = rows.Text(row, 0);
  tier.description = rows.Text(row, 1);
  auto ratelimits = storage::DecodeRateLimits(rows.Text(row, 2));
  if (!ratelimits) return Fail(CorruptColumn("tiers.ratelimits", tier.name));
  tier.ratelimits = std::move(*ratelimits);
  tier.included_quota = rows.OptionalInt64(row, 3);
  const auto policy = ParseOveragePolicy(rows.Text(row, 4));
  if (!policy) return Fail(CorruptColumn("tiers.overage_policy", tier.name));
  tier.overage_policy = *policy;
  tier.throttle_to = rows.Text(row, 5);
  tier.grace_percent = static_cast<int>(rows.Int64(row, 6));
  tier.pricing.currency = rows.Text(row, 7);
  tier.pricing.base_fee_minor = rows.Int64(row, 8);
  tier.pricing.overage_unit_price_micros = rows.Int64(row, 9);
  auto meters = MeterPricingsFromJson(nlohmann::json::parse(rows.Text(row, 10), nullptr, false));
  if (!meters) return Fail(CorruptColumn("tiers.meter_prices", tier.name));
  tier.pricing.meters = std::move(*meters);
  tier.builtin = rows.Bool(row, 11);
  tier.created_at = rows.Int64(row, 12);
  tier.updated_at = rows.Int64(row, 13);
  return tier;
}

Result<std::vector<Tier>> ReadTiers(const PgResult& rows) {
  std::vector<Tier> tiers;
  for (int row = 0; row < rows.Rows(); ++row) {
    auto tier = ReadTier(rows, row);
    if (!tier) return Fail(std::move(tier.error()));
    tiers.push_back(std::move(*tier));
  }
  return tiers;
}

std::vector<RatelimitNamespace> ReadNamespaces(const PgResult& rows) {
  std::vector<RatelimitNamespace> namespaces;
  for (int row = 0; row < rows.Rows(); ++row) {
    namespaces.push_back(
        RatelimitNamespace{.id = rows.Text(row, 0), .name = rows.Text(row, 1), .created_at = rows.Int64(row, 2)});
  }
  return namespaces;
}

std::vector<RatelimitOverride> ReadOverrides(const PgResult& rows) {
  std::vector<RatelimitOverride> overrides;
  for (int row = 0; row < rows.Rows(); ++row) {
    overrides.push_back(RatelimitOverride{.id = rows.Text(row, 0),
                                          .namespace_id = rows.Text(row, 1),
                                          .identifier = rows.Text(row, 2),
                                          .limit = rows.Int64(row, 3),
                                          .duration_ms = rows.Int64(row, 4),
                                          .created_at = rows.Int64(row, 5),
                                          .updated_at = rows.Int64(row, 6)});
  }
  return overrides;
}

// Runs `write`, then `write_event` (PostgresStore::WriteEvent, private to the store), in one
// transaction: both or neither. The event goes last, just before the commit (postgres_outbox.cc
// says why).
template <typename Write>
Status WithEvent(PgConnection& connection, std::string_view what, Status (*write_event)(PgConnection&, const Event&),
                 const Event& event, Write&& write) {
  return postgres_internal::InTransaction(connection, what, [&](PgConnection&) -> Status {
    if (auto written = write(); !written) return written;
    return write_event(connection, event);
  });
}

// A write that must change exactly one row; none changed means `missing` (kNotFound).
Status ChangeOne(PgConnection& connection, std::string_view sql, const PgParams& params, std::string_view what,
                 std::string missing) {
  auto changed = postgres_internal::RunOnOne(connection, sql, params, what, std::move(missing));
  if (!changed) return Fail(std::move(changed.error()));
  return {};
}

Status LockThrottleTarget(PgConnection& connection, const Tier& tier, std::string_view what) {
  if (tier.throttle_to.empty()) return {};
  if (auto locked = connection.Run(kLockThrottleTarget, PgParams().Add(tier.throttle_to)); !locked) {
    return Fail(During(what, std::move(locked.error())));
  }
  return {};
}

}  // namespace

// ---- Tiers ----

Status PostgresStore::InsertTier(const Tier& tier) {
  const std::string what = "inserting tier " + tier.name;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgConnection& connection = **lease;
  return WithEvent(connection, what, &WriteEvent, storage::TierEvent("tier.created", tier.name, tier.created_at),
                   [&]() -> Status {
                     if (auto locked = LockThrottleTarget(connection, tier, what); !locked) return locked;
                     PgParams params = TierParams(tier);
                     params.Add(tier.builtin).Add(tier.created_at);
                     if (auto ran = connection.Run(kInsertTier, params); !ran) {
                       return Fail(During(what, std::move(ran.error())));
                     }
                     return {};
                   });
}

Status PostgresStore::UpdateTier(const Tier& tier) {
  const std::string what = "updating tier " + tier.name;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgConnection& connection = **lease;
  return WithEvent(connection, what, &WriteEvent, storage::TierEvent("tier.updated", tier.name, tier.updated_at),
                   [&]() -> Status {
                     if (auto locked = LockThrottleTarget(connection, tier, what); !locked) return locked;
                     return ChangeOne(connection, kUpdateTier, TierParams(tier), what,
                                     "tier " + tier.name + " not found");
                   });
}

// Locking the tier row FOR UPDATE first, and counting in a statement of its own afterwards (READ
// COMMITTED gives each statement a fresh snapshot, so the count sees everything committed before
// the lock was granted):
// * prevents: a concurrent UpdateTier or DeleteTierIfUnused of the same tier interleaving (the
//   one that comes second waits, then finds the row gone or counts afresh); a tier starting to
//   throttle to this one (InsertTier/UpdateTier hold the target FOR KEY SHARE until they commit)
//   slipping in between the count and the delete: if it locked first, the delete waits for its
//   commit and counts it.
// * does not prevent: an identity or key naming the tier being written at the same time, on this
//   or another node. identities.tier and keys.tier are plain text with no foreign key, and their
//   writers take no lock on the tier row, so a write that commits after the count still lands and
//   names a tier that is gone. The same holds for a throttling tier whose insert locks after this
//   delete: it finds no row to lock and goes ahead (configured tiers may name one that is not
//   there yet). Closing that would take those writers locking the tier row FOR KEY SHARE, or a
//   foreign key (not done: tier deletion is a rare operator action).
Result<TierUsage> PostgresStore::DeleteTierIfUnused(const std::string& name, UnixMillis now) {
  const std::string what = "deleting tier " + name;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgConnection& connection = **lease;
  auto transaction = PgTransaction::Begin(connection);
  if (!transaction) return Fail(During(what, std::move(transaction.error())));
  auto locked = connection.Query(kLockTier, PgParams().Add(name));
  if (!locked) return Fail(During(what, std::move(locked.error())));
  if (locked->Rows() == 0) return Fail(Error::NotFound("tier " + name + " not found"));
  auto counted = connection.Query(kCountTierUsage, PgParams().Add(name));
  if (!counted) return Fail(During(what, std::move(counted.error())));
  const TierUsage usage{.identities = counted->Int64(0, 0),
                        .keys = counted->Int64(0, 1),
                        .throttling_tiers = counted->Int64(0, 2)};
  if (!usage.unused()) return usage;  // the transaction rolls back: nothing written
  if (auto ran = connection.Run(kDeleteTier, PgParams().Add(name)); !ran) return Fail(During(what, std::move(ran.error())));
  if (auto recorded = WriteEvent(connection, storage::TierEvent("tier.deleted", name, now)); !recorded) {
    return Fail(std::move(recorded.error()));
  }
  if (auto committed = transaction->Commit(); !committed) return Fail(During(what, std::move(committed.error())));
  return usage;
}

Result<std::optional<Tier>> PostgresStore::GetTier(const std::string& name) {
  const std::string what = "reading tier " + name;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  auto rows = (*lease)->Query(kSelectTier, PgParams().Add(name));
  if (!rows) return Fail(During(what, std::move(rows.error())));
  if (rows->Rows() == 0) return std::optional<Tier>();
  auto tier = ReadTier(*rows, 0);
  if (!tier) return Fail(std::move(tier.error()));
  return std::optional<Tier>(std::move(*tier));
}

Result<std::vector<Tier>> PostgresStore::ListTiers() {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("listing tiers", std::move(lease.error())));
  auto rows = (*lease)->Query(kSelectTiers);
  if (!rows) return Fail(During("listing tiers", std::move(rows.error())));
  return ReadTiers(*rows);
}

// ---- Rate limit namespaces and overrides ----

Result<RatelimitNamespace> PostgresStore::UpsertRatelimitNamespace(const RatelimitNamespace& candidate) {
  const std::string what = "creating ratelimit namespace " + candidate.name;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgConnection& connection = **lease;
  // Two statements, not one: an insert racing ours on another node makes ours wait for it and then
  // do nothing, and only a statement started after that sees its row (a single statement would
  // read with the snapshot taken before the wait, and find nothing).
  auto inserted = connection.Run(kInsertRatelimitNamespace,
                                 PgParams().Add(candidate.id).Add(candidate.name).Add(candidate.created_at));
  if (!inserted) return Fail(During(what, std::move(inserted.error())));
  auto rows = connection.Query(kSelectRatelimitNamespaceByName, PgParams().Add(candidate.name));
  if (!rows) return Fail(During(what, std::move(rows.error())));
  auto namespaces = ReadNamespaces(*rows);
  if (namespaces.empty()) {
    return Fail(Error::Internal("ratelimit namespace " + candidate.name + " vanished after insert"));
  }
  return std::move(namespaces.front());
}

Result<std::vector<RatelimitNamespace>> PostgresStore::LoadAllRatelimitNamespaces() {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("loading ratelimit namespaces", std::move(lease.error())));
  auto rows = (*lease)->Query(kSelectAllRatelimitNamespaces);
  if (!rows) return Fail(During("loading ratelimit namespaces", std::move(rows.error())));
  return ReadNamespaces(*rows);
}

Result<RatelimitOverride> PostgresStore::UpsertRatelimitOverride(const RatelimitOverride& row) {
  const std::string what = "setting the ratelimit override of " + row.identifier;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgConnection& connection = **lease;
  std::vector<RatelimitOverride> stored;
  const auto event =
      storage::RatelimitOverrideEvent("ratelimit.override_set", row.namespace_id, row.identifier, row.updated_at);
  auto written = WithEvent(connection, what, &WriteEvent, event, [&]() -> Status {
    PgParams params;
    params.Add(row.id).Add(row.namespace_id).Add(row.identifier).Add(row.limit).Add(row.duration_ms)
        .Add(row.created_at).Add(row.updated_at);
    auto rows = connection.Query(kUpsertOverride, params);
    if (!rows) return Fail(During(what, std::move(rows.error())));
    stored = ReadOverrides(*rows);
    return {};
  });
  if (!written) return Fail(std::move(written.error()));
  if (stored.empty()) return Fail(Error::Internal("ratelimit override " + row.identifier + " vanished after upsert"));
  return std::move(stored.front());
}

Status PostgresStore::DeleteRatelimitOverride(const std::string& namespace_id, const std::string& identifier,
                                              UnixMillis now) {
  const std::string what = "deleting the ratelimit override of " + identifier;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgConnection& connection = **lease;
  const auto event = storage::RatelimitOverrideEvent("ratelimit.override_deleted", namespace_id, identifier, now);
  return WithEvent(connection, what, &WriteEvent, event, [&] {
    return ChangeOne(connection, kSoftDeleteOverride, PgParams().Add(namespace_id).Add(identifier).Add(now), what,
                    "no ratelimit override for " + identifier + " in namespace " + namespace_id);
  });
}

Result<RatelimitOverridePage> PostgresStore::ListRatelimitOverrides(const std::string& namespace_id,
                                                                    const std::optional<std::string>& cursor,
                                                                    std::size_t limit) {
  if (limit == 0) return Fail(Error::InvalidInput("limit must be at least 1"));
  // One row more than asked says whether another page follows, without a COUNT.
  const std::size_t page_size = std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max() - 1);
  const std::string what = "listing the ratelimit overrides of " + namespace_id;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  auto rows = (*lease)->Query(
      kSelectOverridePage,
      PgParams().Add(namespace_id).Add(cursor.value_or("")).Add(static_cast<std::int64_t>(page_size) + 1));
  if (!rows) return Fail(During(what, std::move(rows.error())));
  RatelimitOverridePage page;
  page.overrides = ReadOverrides(*rows);
  if (page.overrides.size() > page_size) {
    page.overrides.pop_back();
    page.next_cursor = page.overrides.back().id;
  }
  return page;
}

Result<std::vector<RatelimitOverride>> PostgresStore::LoadAllRatelimitOverrides() {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("loading ratelimit overrides", std::move(lease.error())));
  auto rows = (*lease)->Query(kSelectAllOverrides);
  if (!rows) return Fail(During("loading ratelimit overrides", std::move(rows.error())));
  return ReadOverrides(*rows);
}

}  // namespace tollgate
