// PostgresStore's opening and health, and its KeyStore (APIs, keys, credits), IdentityStore,
// QuotaStore and RootKeyStore. The other interfaces live in the postgres_*.cc files beside it.
//
// Threads: every method borrows one pooled connection for its duration and keeps no state of its
// own. Several nodes share the database at READ COMMITTED, so each write that reads before it
// writes says below how it stays correct when another node does the same at the same time (a row
// lock, RETURNING from the write itself, or ON CONFLICT on a unique index). Writes other nodes
// must hear of commit their outbox event in the same transaction (storage/domain_events.h).
#include "storage/postgres/postgres_store.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>

#include "common/ids.h"
#include "storage/domain_events.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/postgres_internal.h"
#include "storage/row_json.h"
#include "storage/store_internal.h"

namespace tollgate {
namespace {

using storage::DecodeRateLimits;
using storage::DecodeStrings;
using storage::During;
using postgres_internal::InTransaction;
using postgres_internal::QueryOnce;
using postgres_internal::RunOnOne;
using storage::EncodeRateLimits;
using storage::EncodeStrings;

// ---- Keys ----

// The columns of TOLLGATE_KEY_SELECT, in order.
enum KeyColumn : int {
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

constexpr std::string_view kSelectKeyById = TOLLGATE_KEY_SELECT "AND k.id = $1";
// Ids are never "", so "" as the cursor of the first page selects every key while the query
// keeps the plain range `k.id > $2` that the (api_id, id) index serves.
constexpr std::string_view kSelectKeyPage =
    TOLLGATE_KEY_SELECT "AND k.api_id = $1 AND k.id > $2 ORDER BY k.id LIMIT $3";
constexpr std::string_view kSelectKeyPageByExternalId =
    TOLLGATE_KEY_SELECT "AND k.external_id = $4 AND k.api_id = $1 AND k.id > $2 ORDER BY k.id LIMIT $3";
constexpr std::string_view kSelectAllKeys = TOLLGATE_KEY_SELECT "ORDER BY k.id";

// FOR SHARE conflicts with DeleteApi's update of the row: either DeleteApi waits for the key's
// transaction and then soft-deletes the new key with the others, or this waits for DeleteApi and
// then finds the API gone. (The foreign key alone takes FOR KEY SHARE, which a soft delete does
// not wait for.)
constexpr std::string_view kLockLiveApi = "SELECT 1 FROM apis WHERE id = $1 AND deleted_at IS NULL FOR SHARE";
// $6.. are the mutable fields in the order of AddMutableKeyFields.
constexpr std::string_view kInsertKey =
    "INSERT INTO keys (id, api_id, hash, start, created_at, name, external_id, meta, enabled, expires, "
    "credits_remaining, refill_interval, refill_amount, refill_day, last_refill_at, ratelimits, permissions, "
    "roles, updated_at, tier) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";
// api_id, hash, start and created_at are immutable; $2.. are AddMutableKeyFields'.
constexpr std::string_view kUpdateKey =
    "UPDATE keys SET name = $2, external_id = $3, meta = $4, enabled = $5, expires = $6, "
    "credits_remaining = $7, refill_interval = $8, refill_amount = $9, refill_day = $10, last_refill_at = $11, "
    "ratelimits = $12, permissions = $13, roles = $14, updated_at = $15, tier = $16 "
    "WHERE id = $1 AND" TOLLGATE_KEY_IS_LIVE;
// $2.. are AddCredits'.
constexpr std::string_view kUpdateCredits =
    "UPDATE keys SET credits_remaining = $2, refill_interval = $3, refill_amount = $4, refill_day = $5, "
    "last_refill_at = $6 WHERE id = $1 AND" TOLLGATE_KEY_IS_LIVE;
// RETURNING the API for the event: read by the write itself, so no other node's change slips
// between a read and the delete.
constexpr std::string_view kSoftDeleteKey =
    "UPDATE keys SET deleted_at = $2 WHERE id = $1 AND" TOLLGATE_KEY_IS_LIVE " RETURNING api_id";
constexpr std::string_view kHardDeleteKey = "DELETE FROM keys WHERE id = $1 AND" TOLLGATE_KEY_IS_LIVE " RETURNING api_id";

#undef TOLLGATE_KEY_SELECT
#undef TOLLGATE_KEY_IS_LIVE

constexpr std::string_view kInsertApi = "INSERT INTO apis (id, name, created_at) VALUES ($1, $2, $3)";
constexpr std::string_view kSelectApi = "SELECT id, name, created_at FROM apis WHERE id = $1 AND deleted_at IS NULL";
constexpr std::string_view kSoftDeleteApi = "UPDATE apis SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL";
constexpr std::string_view kSoftDeleteKeysOfApi =
    "UPDATE keys SET deleted_at = $2 WHERE api_id = $1 AND deleted_at IS NULL";

// ---- Quota counters ----

constexpr std::string_view kSelectQuotaUsage = "SELECT subject, used FROM quota_usage WHERE period = $1";
// One statement for the whole batch: $1 subjects, $2 periods, $3 counts, as parallel arrays.
constexpr std::string_view kUpsertQuotaUsage =
    "INSERT INTO quota_usage (subject, period, used) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) "
    "ON CONFLICT (period, subject) DO UPDATE SET used = GREATEST(quota_usage.used, excluded.used)";

// ---- Identities ----

// The columns ReadIdentities reads, in order.
#define TOLLGATE_IDENTITY_COLUMNS "id, external_id, meta, ratelimits, tier, created_at, billing_cycle"
#define TOLLGATE_IDENTITY_SELECT "SELECT " TOLLGATE_IDENTITY_COLUMNS " FROM identities WHERE deleted_at IS NULL "
constexpr std::string_view kSelectIdentityByExternalId = TOLLGATE_IDENTITY_SELECT "AND external_id = $1";
constexpr std::string_view kSelectIdentityById = TOLLGATE_IDENTITY_SELECT "AND id = $1";
// As for keys, "" as the first page's cursor keeps the plain primary-key range.
constexpr std::string_view kSelectIdentityPage = TOLLGATE_IDENTITY_SELECT "AND id > $1 ORDER BY id LIMIT $2";
// $3 is a LIKE pattern (LikeContains); backslash, the escape of its % and _, is ILIKE's default.
// A scan of the live identities: fine for an admin listing, a b-tree cannot serve "contains".
constexpr std::string_view kSelectIdentityPageSearch =
    TOLLGATE_IDENTITY_SELECT "AND id > $1 AND (id ILIKE $3 OR external_id ILIKE $3) ORDER BY id LIMIT $2";
constexpr std::string_view kSelectAllIdentities = TOLLGATE_IDENTITY_SELECT "ORDER BY id";

constexpr std::string_view kInsertIdentity =
    "INSERT INTO identities (id, external_id, meta, ratelimits, tier, created_at, billing_cycle) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)";
// The conflict target names the partial unique index over live identities. When another node
// inserts the same external id concurrently, this waits for its transaction and then does
// nothing (it committed) or inserts (it rolled back); RETURNING says which.
constexpr std::string_view kInsertBareIdentity =
    "INSERT INTO identities (id, external_id, created_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (external_id) WHERE deleted_at IS NULL DO NOTHING RETURNING " TOLLGATE_IDENTITY_COLUMNS;
#undef TOLLGATE_IDENTITY_SELECT
#undef TOLLGATE_IDENTITY_COLUMNS
// The stored external id (immutable) names the identity in its tier history and event.
constexpr std::string_view kUpdateIdentity =
    "UPDATE identities SET meta = $2, ratelimits = $3, tier = $4, billing_cycle = $5 "
    "WHERE id = $1 AND deleted_at IS NULL RETURNING external_id";
constexpr std::string_view kSoftDeleteIdentity =
    "UPDATE identities SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING external_id";
constexpr std::string_view kDetachKeysOfIdentity =
    "UPDATE keys SET external_id = NULL WHERE external_id = $1 AND deleted_at IS NULL";
// Inserts a change only when it differs from the customer's latest one. Callers hold the
// identity's row lock (their UPDATE or INSERT of it), so two nodes never interleave here for one
// customer.
constexpr std::string_view kRecordTierChange =
    "INSERT INTO identity_tier_history (external_id, effective_at, tier) SELECT $1, $2, $3 "
    "WHERE COALESCE((SELECT tier FROM identity_tier_history WHERE external_id = $1 "
    "ORDER BY effective_at DESC LIMIT 1), '') <> $3 "
    "ON CONFLICT (external_id, effective_at) DO UPDATE SET tier = excluded.tier";

// ---- Root keys ----

constexpr std::string_view kInsertRootKey =
    "INSERT INTO root_keys (id, hash, start, name, permissions, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
constexpr std::string_view kDeleteRootKey = "DELETE FROM root_keys WHERE id = $1";
constexpr std::string_view kSelectRootKeys =
    "SELECT id, hash, start, name, permissions, created_at FROM root_keys ORDER BY created_at, id";

// An upsert reads, then inserts unless another node just did; a third round is needed only when
// that node's identity is deleted in between, and more only under a storm of such races.
constexpr int kUpsertIdentityRounds = 3;

// ---- Errors ----

Error CorruptColumn(std::string_view column, std::string_view row_id) {
  return Error::Internal("postgres: column " + std::string(column) + " of " + std::string(row_id) +
                         " holds a value tollgate did not write");
}

// ---- Pages ----

// Pages ask for one row more than they return: its presence says another page follows, without
// a COUNT. The cap keeps limit + 1 within a BIGINT.
Result<std::size_t> PageSize(std::size_t limit) {
  if (limit == 0) return Fail(Error::InvalidInput("limit must be at least 1"));
  return std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max() - 1);
}

// Drops the look-ahead row, if any, and answers the cursor of the next page.
template <typename Row>
std::optional<std::string> TakePage(std::vector<Row>& rows, std::size_t page_size) {
  if (rows.size() <= page_size) return std::nullopt;
  rows.pop_back();
  return rows.back().id;
}

// ---- Key rows ----

// NULL in every credit column means unlimited; NULL refill columns mean no refill. Adds
// credits_remaining, refill_interval, refill_amount, refill_day, last_refill_at.
void AddCredits(PgParams& params, const std::optional<Credits>& credits) {
  if (!credits) {
    params.AddNull().AddNull().AddNull().AddNull().AddNull();
    return;
  }
  params.Add(credits->remaining);
  if (credits->refill) {
    params.Add(storage::RefillIntervalText(credits->refill->interval))
        .Add(credits->refill->amount)
        .Add(std::int64_t{credits->refill->refill_day});
  } else {
    params.AddNull().AddNull().AddNull();
  }
  params.Add(credits->last_refill_at);
}

// The fields UpdateKey replaces, in the order of kUpdateKey's $2.. and kInsertKey's $6..
void AddMutableKeyFields(PgParams& params, const Key& key) {
  params.AddTextOrNull(key.name).AddTextOrNull(key.external_id).AddTextOrNull(key.meta_json).Add(key.enabled)
      .Add(key.expires);
  AddCredits(params, key.credits);
  params.Add(EncodeRateLimits(key.ratelimits))
      .Add(EncodeStrings(key.permissions))
      .Add(EncodeStrings(key.roles))
      .Add(key.updated_at)
      .AddTextOrNull(key.tier);
}

Result<std::optional<Credits>> ReadCredits(const PgResult& rows, int row, const std::string& key_id) {
  if (rows.IsNull(row, kKeyCreditsRemaining)) return std::optional<Credits>();
  Credits credits;
  credits.remaining = rows.Int64(row, kKeyCreditsRemaining);
  credits.last_refill_at = rows.Int64(row, kKeyLastRefillAt);
  if (!rows.IsNull(row, kKeyRefillInterval)) {
    const auto interval = storage::ParseRefillInterval(rows.Text(row, kKeyRefillInterval));
    const auto day = rows.Int64(row, kKeyRefillDay);
    if (!interval) return Fail(CorruptColumn("keys.refill_interval", key_id));
    if (day < 0 || day > std::int64_t{std::numeric_limits<unsigned>::max()}) {
      return Fail(CorruptColumn("keys.refill_day", key_id));
    }
    credits.refill = CreditRefill{.interval = *interval,
                                  .amount = rows.Int64(row, kKeyRefillAmount),
                                  .refill_day = static_cast<unsigned>(day)};
  }
  return std::optional<Credits>(std::move(credits));
}

Result<Key> ReadKey(const PgResult& rows, int row) {
  Key key;
  key.id = rows.Text(row, kKeyId);
  key.api_id = rows.Text(row, kKeyApiId);
  key.hash = rows.Text(row, kKeyHash);
  key.start = rows.Text(row, kKeyStart);
  key.name = rows.Text(row, kKeyName);
  key.external_id = rows.Text(row, kKeyExternalId);
  key.meta_json = rows.Text(row, kKeyMeta);
  key.enabled = rows.Bool(row, kKeyEnabled);
  key.expires = rows.OptionalInt64(row, kKeyExpires);
  auto credits = ReadCredits(rows, row, key.id);
  if (!credits) return Fail(std::move(credits.error()));
  key.credits = std::move(*credits);
  auto ratelimits = DecodeRateLimits(rows.Text(row, kKeyRatelimits));
  if (!ratelimits) return Fail(CorruptColumn("keys.ratelimits", key.id));
  key.ratelimits = std::move(*ratelimits);
  auto permissions = DecodeStrings(rows.Text(row, kKeyPermissions));
  if (!permissions) return Fail(CorruptColumn("keys.permissions", key.id));
  key.permissions = std::move(*permissions);
  auto roles = DecodeStrings(rows.Text(row, kKeyRoles));
  if (!roles) return Fail(CorruptColumn("keys.roles", key.id));
  key.roles = std::move(*roles);
  key.created_at = rows.Int64(row, kKeyCreatedAt);
  key.updated_at = rows.Int64(row, kKeyUpdatedAt);
  key.tier = rows.Text(row, kKeyTier);
  return key;
}

Result<std::vector<Key>> ReadKeys(const PgResult& rows) {
  std::vector<Key> keys;
  keys.reserve(static_cast<std::size_t>(rows.Rows()));
  for (int row = 0; row < rows.Rows(); ++row) {
    auto key = ReadKey(rows, row);
    if (!key) return Fail(std::move(key.error()));
    keys.push_back(std::move(*key));
  }
  return keys;
}

// ---- Identity rows ----

std::string_view BillingCycleName(const Identity& identity) {
  return identity.anniversary_billing ? "anniversary" : "calendar";
}

Result<std::vector<Identity>> ReadIdentities(const PgResult& rows) {
  std::vector<Identity> identities;
  identities.reserve(static_cast<std::size_t>(rows.Rows()));
  for (int row = 0; row < rows.Rows(); ++row) {
    Identity identity;
    identity.id = rows.Text(row, 0);
    identity.external_id = rows.Text(row, 1);
    identity.meta_json = rows.Text(row, 2);
    auto ratelimits = DecodeRateLimits(rows.Text(row, 3));
    if (!ratelimits) return Fail(CorruptColumn("identities.ratelimits", identity.id));
    identity.ratelimits = std::move(*ratelimits);
    identity.tier = rows.Text(row, 4);
    identity.created_at = rows.Int64(row, 5);
    identity.anniversary_billing = rows.Text(row, 6) == "anniversary";
    identities.push_back(std::move(identity));
  }
  return identities;
}

// Runs one query on a borrowed connection and reads its rows with `read` (ReadKeys, ReadIdentities).
template <typename Read>
auto QueryRows(PgPool& pool, std::string_view sql, const PgParams& params, std::string_view what, Read read)
    -> decltype(read(std::declval<const PgResult&>())) {
  auto rows = QueryOnce(pool, sql, params, what);
  if (!rows) return Fail(std::move(rows.error()));
  auto read_rows = read(*rows);
  if (!read_rows) return Fail(During(what, std::move(read_rows.error())));
  return read_rows;
}

// `text` as an ILIKE pattern matching any value that contains it: \, % and _ lose their meaning.
std::string LikeContains(std::string_view text) {
  std::string pattern = "%";
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') pattern.push_back('\\');
    pattern.push_back(c);
  }
  pattern.push_back('%');
  return pattern;
}

}  // namespace

// ---- Opening ----

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo, PostgresOptions options) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(conninfo, options));
  auto lease = store->pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  if (auto migrated = ApplyPgMigrations(**lease, SystemClock().NowMillis()); !migrated) return Fail(migrated.error());
  return store;
}

// ---- APIs ----

Status PostgresStore::InsertApi(const Api& api) {
  auto inserted = QueryOnce(pool_, kInsertApi, PgParams().Add(api.id).Add(api.name).Add(api.created_at),
                            "inserting api " + api.id);
  if (!inserted) return Fail(std::move(inserted.error()));
  return {};
}

Result<std::optional<Api>> PostgresStore::GetApi(const std::string& api_id) {
  auto rows = QueryOnce(pool_, kSelectApi, PgParams().Add(api_id), "reading api " + api_id);
  if (!rows) return Fail(std::move(rows.error()));
  if (rows->Rows() == 0) return std::optional<Api>();
  return Api{.id = rows->Text(0, 0), .name = rows->Text(0, 1), .created_at = rows->Int64(0, 2)};
}

Status PostgresStore::DeleteApi(const std::string& api_id, UnixMillis now) {
  const std::string what = "deleting api " + api_id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    // The API's row lock makes a concurrent InsertKey into it wait (see kLockLiveApi).
    if (auto api = RunOnOne(connection, kSoftDeleteApi, PgParams().Add(api_id).Add(now), what,
                            "api " + api_id + " not found");
        !api) {
      return Fail(std::move(api.error()));
    }
    if (auto keys = connection.Run(kSoftDeleteKeysOfApi, PgParams().Add(api_id).Add(now)); !keys) {
      return Fail(During("deleting the keys of api " + api_id, std::move(keys.error())));
    }
    return WriteEvent(connection, storage::ApiDeletedEvent(api_id, now));
  });
}

// ---- Keys ----

Status PostgresStore::InsertKey(const Key& key) {
  const std::string what = "inserting key " + key.id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    auto api = connection.Query(kLockLiveApi, PgParams().Add(key.api_id));
    if (!api) return Fail(During(what, std::move(api.error())));
    if (api->Rows() == 0) return Fail(Error::NotFound("api " + key.api_id + " not found"));
    PgParams params;
    params.Add(key.id).Add(key.api_id).Add(key.hash).Add(key.start).Add(key.created_at);
    AddMutableKeyFields(params, key);
    if (auto inserted = connection.Run(kInsertKey, params); !inserted) {
      return Fail(During(what, std::move(inserted.error())));  // a taken hash or id: kConflict
    }
    return WriteEvent(connection, storage::KeyEvent("key.created", key, key.created_at));
  });
}

Status PostgresStore::UpdateKey(const Key& key) {
  const std::string what = "updating key " + key.id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    PgParams params;
    params.Add(key.id);
    AddMutableKeyFields(params, key);
    if (auto updated = RunOnOne(connection, kUpdateKey, params, what, "key " + key.id + " not found"); !updated) {
      return Fail(std::move(updated.error()));
    }
    return WriteEvent(connection, storage::KeyEvent("key.updated", key, key.updated_at));
  });
}

Status PostgresStore::DeleteKey(const std::string& key_id, bool permanent, UnixMillis now) {
  const std::string what = "deleting key " + key_id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    auto deleted = permanent ? RunOnOne(connection, kHardDeleteKey, PgParams().Add(key_id), what,
                                        "key " + key_id + " not found")
                             : RunOnOne(connection, kSoftDeleteKey, PgParams().Add(key_id).Add(now), what,
                                        "key " + key_id + " not found");
    if (!deleted) return Fail(std::move(deleted.error()));
    return WriteEvent(connection, storage::KeyDeletedEvent(key_id, deleted->Text(0, 0), now));
  });
}

Result<std::optional<Key>> PostgresStore::GetKey(const std::string& key_id) {
  auto keys = QueryRows(pool_, kSelectKeyById, PgParams().Add(key_id), "reading key " + key_id, ReadKeys);
  if (!keys) return Fail(std::move(keys.error()));
  if (keys->empty()) return std::optional<Key>();
  return std::optional<Key>(std::move(keys->front()));
}

Result<KeyPage> PostgresStore::ListKeys(const std::string& api_id, const std::optional<std::string>& cursor,
                                        std::size_t limit, const std::optional<std::string>& external_id) {
  auto page_size = PageSize(limit);
  if (!page_size) return Fail(std::move(page_size.error()));
  PgParams params;
  params.Add(api_id).Add(cursor.value_or("")).Add(static_cast<std::int64_t>(*page_size) + 1);
  if (external_id) params.Add(*external_id);
  auto keys = QueryRows(pool_, external_id ? kSelectKeyPageByExternalId : kSelectKeyPage, params,
                        "listing keys of api " + api_id, ReadKeys);
  if (!keys) return Fail(std::move(keys.error()));
  KeyPage page;
  page.keys = std::move(*keys);
  page.next_cursor = TakePage(page.keys, *page_size);
  return page;
}

Result<std::vector<Key>> PostgresStore::LoadAllKeys() {
  return QueryRows(pool_, kSelectAllKeys, {}, "loading all keys", ReadKeys);
}

Status PostgresStore::UpdateCredits(const std::string& key_id, const std::optional<Credits>& credits) {
  // No event: this is the verify path's write-back, and other nodes keep their own counts.
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  PgParams params;
  params.Add(key_id);
  AddCredits(params, credits);
  auto updated = RunOnOne(**lease, kUpdateCredits, params, "updating credits of key " + key_id,
                          "key " + key_id + " not found");
  if (!updated) return Fail(std::move(updated.error()));
  return {};
}

// ---- Quota counters ----

Result<std::vector<QuotaRow>> PostgresStore::LoadQuotaUsage(int period) {
  auto rows = QueryOnce(pool_, kSelectQuotaUsage, PgParams().Add(std::int64_t{period}), "loading quota counters");
  if (!rows) return Fail(std::move(rows.error()));
  std::vector<QuotaRow> counters;
  counters.reserve(static_cast<std::size_t>(rows->Rows()));
  for (int row = 0; row < rows->Rows(); ++row) counters.push_back({rows->Text(row, 0), period, rows->Int64(row, 1)});
  return counters;
}

Status PostgresStore::SaveQuotaUsage(std::span<const QuotaRow> rows) {
  if (rows.empty()) return {};
  // One row per counter, the highest count (an upsert may not touch a row twice); sorted, so that
  // two nodes saving overlapping batches lock rows in the same order and never deadlock.
  std::map<std::pair<int, std::string_view>, std::int64_t> counters;
  for (const QuotaRow& row : rows) {
    std::int64_t& count = counters[{row.period, row.subject}];
    count = std::max(count, row.used);
  }
  std::vector<std::string> subjects;
  std::vector<std::int64_t> periods;
  std::vector<std::int64_t> used;
  for (const auto& [counter, count] : counters) {
    subjects.emplace_back(counter.second);
    periods.push_back(counter.first);
    used.push_back(count);
  }
  auto saved = QueryOnce(pool_, kUpsertQuotaUsage,
                         PgParams().AddTextArray(subjects).AddInt64Array(periods).AddInt64Array(used),
                         "saving quota counters");
  if (!saved) return Fail(std::move(saved.error()));
  return {};
}

// ---- Identities ----

Result<std::optional<Identity>> PostgresStore::SelectIdentity(PgConnection& connection, std::string_view query,
                                                              const std::string& value) {
  const std::string what = "reading identity " + value;
  auto rows = connection.Query(query, PgParams().Add(value));
  if (!rows) return Fail(During(what, std::move(rows.error())));
  auto identities = ReadIdentities(*rows);
  if (!identities) return Fail(During(what, std::move(identities.error())));
  if (identities->empty()) return std::optional<Identity>();
  return std::optional<Identity>(std::move(identities->front()));
}

Status PostgresStore::RecordTierChange(PgConnection& connection, const std::string& external_id,
                                       const std::string& tier, UnixMillis at) {
  if (auto ran = connection.Run(kRecordTierChange, PgParams().Add(external_id).Add(at).Add(tier)); !ran) {
    return Fail(During("recording the tier of " + external_id, std::move(ran.error())));
  }
  return {};
}

Status PostgresStore::InsertIdentity(const Identity& identity) {
  const std::string what = "inserting identity " + identity.external_id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    PgParams params;
    params.Add(identity.id)
        .Add(identity.external_id)
        .AddTextOrNull(identity.meta_json)
        .Add(EncodeRateLimits(identity.ratelimits))
        .AddTextOrNull(identity.tier)
        .Add(identity.created_at)
        .Add(BillingCycleName(identity));
    if (auto inserted = connection.Run(kInsertIdentity, params); !inserted) {
      return Fail(During(what, std::move(inserted.error())));  // a live external id or the id taken: kConflict
    }
    if (auto recorded = RecordTierChange(connection, identity.external_id, identity.tier, identity.created_at);
        !recorded) {
      return recorded;
    }
    return WriteEvent(connection,
                      storage::IdentityEvent("identity.created", identity.id, identity.external_id, identity.created_at));
  });
}

Result<Identity> PostgresStore::UpsertIdentity(const std::string& external_id, UnixMillis now) {
  const std::string what = "creating identity " + external_id;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  PgConnection& connection = **lease;
  for (int round = 0; round < kUpsertIdentityRounds; ++round) {
    // Read first: the identity usually exists, and a read takes no lock.
    auto existing = SelectIdentity(connection, kSelectIdentityByExternalId, external_id);
    if (!existing) return Fail(std::move(existing.error()));
    if (*existing) return std::move(**existing);

    std::optional<Identity> created;
    auto inserted = InTransaction(connection, what, [&](PgConnection& tx) -> Status {
      auto rows = tx.Query(kInsertBareIdentity, PgParams().Add(NewId("id")).Add(external_id).Add(now));
      if (!rows) return Fail(During(what, std::move(rows.error())));
      auto identities = ReadIdentities(*rows);
      if (!identities) return Fail(During(what, std::move(identities.error())));
      if (identities->empty()) return {};  // another node created it first: its row, and its event
      created = std::move(identities->front());
      // No tier history: a bare identity has no tier, which is what the history says of a newcomer.
      return WriteEvent(tx, storage::IdentityEvent("identity.created", created->id, external_id, now));
    });
    if (!inserted) return Fail(std::move(inserted.error()));
    if (created) return std::move(*created);
    // The winner's row is committed by now (ON CONFLICT waited for it): the next read sees it.
  }
  return Fail(Error::Unavailable("identity " + external_id +
                                 " was created and deleted by others while this request created it; try again"));
}

Status PostgresStore::UpdateIdentity(const Identity& identity, UnixMillis now) {
  const std::string what = "updating identity " + identity.id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    PgParams params;
    params.Add(identity.id)
        .AddTextOrNull(identity.meta_json)
        .Add(EncodeRateLimits(identity.ratelimits))
        .AddTextOrNull(identity.tier)
        .Add(BillingCycleName(identity));
    auto updated = RunOnOne(connection, kUpdateIdentity, params, what, "identity " + identity.id + " not found");
    if (!updated) return Fail(std::move(updated.error()));
    const std::string external_id = updated->Text(0, 0);
    if (auto recorded = RecordTierChange(connection, external_id, identity.tier, now); !recorded) return recorded;
    return WriteEvent(connection, storage::IdentityEvent("identity.updated", identity.id, external_id, now));
  });
}

Status PostgresStore::DeleteIdentity(const std::string& identity_id, UnixMillis now) {
  const std::string what = "deleting identity " + identity_id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    auto deleted = RunOnOne(connection, kSoftDeleteIdentity, PgParams().Add(identity_id).Add(now), what,
                            "identity " + identity_id + " not found");
    if (!deleted) return Fail(std::move(deleted.error()));
    const std::string external_id = deleted->Text(0, 0);
    if (auto detached = connection.Run(kDetachKeysOfIdentity, PgParams().Add(external_id)); !detached) {
      return Fail(During("detaching the keys of identity " + identity_id, std::move(detached.error())));
    }
    // A deleted customer has no tier (and no base fee) from now on.
    if (auto recorded = RecordTierChange(connection, external_id, "", now); !recorded) return recorded;
    return WriteEvent(connection, storage::IdentityEvent("identity.deleted", identity_id, external_id, now));
  });
}

Result<std::optional<Identity>> PostgresStore::GetIdentityById(const std::string& identity_id) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  return SelectIdentity(**lease, kSelectIdentityById, identity_id);
}

Result<std::optional<Identity>> PostgresStore::GetIdentityByExternalId(const std::string& external_id) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  return SelectIdentity(**lease, kSelectIdentityByExternalId, external_id);
}

Result<IdentityPage> PostgresStore::ListIdentities(const std::optional<std::string>& cursor, std::size_t limit,
                                                   const std::optional<std::string>& search) {
  auto page_size = PageSize(limit);
  if (!page_size) return Fail(std::move(page_size.error()));
  PgParams params;
  params.Add(cursor.value_or("")).Add(static_cast<std::int64_t>(*page_size) + 1);
  if (search) params.Add(LikeContains(*search));
  auto identities = QueryRows(pool_, search ? kSelectIdentityPageSearch : kSelectIdentityPage, params,
                              "listing identities", ReadIdentities);
  if (!identities) return Fail(std::move(identities.error()));
  IdentityPage page;
  page.identities = std::move(*identities);
  page.next_cursor = TakePage(page.identities, *page_size);
  return page;
}

Result<std::vector<Identity>> PostgresStore::LoadAllIdentities() {
  return QueryRows(pool_, kSelectAllIdentities, {}, "loading all identities", ReadIdentities);
}

// ---- Root keys ----

Status PostgresStore::InsertRootKey(const RootKey& key) {
  const std::string what = "inserting root key " + key.id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    PgParams params;
    params.Add(key.id).Add(key.hash).Add(key.start).AddTextOrNull(key.name).Add(EncodeStrings(key.permissions))
        .Add(key.created_at);
    if (auto inserted = connection.Run(kInsertRootKey, params); !inserted) {
      return Fail(During(what, std::move(inserted.error())));
    }
    return WriteEvent(connection, storage::RootKeyEvent("rootkey.created", key.id, key.created_at));
  });
}

Status PostgresStore::DeleteRootKey(const std::string& id, UnixMillis now) {
  const std::string what = "deleting root key " + id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    if (auto deleted = RunOnOne(connection, kDeleteRootKey, PgParams().Add(id), what, "root key " + id + " not found");
        !deleted) {
      return Fail(std::move(deleted.error()));
    }
    return WriteEvent(connection, storage::RootKeyEvent("rootkey.deleted", id, now));
  });
}

Result<std::vector<RootKey>> PostgresStore::ListRootKeys() {
  auto rows = QueryOnce(pool_, kSelectRootKeys, {}, "listing root keys");
  if (!rows) return Fail(std::move(rows.error()));
  std::vector<RootKey> keys;
  keys.reserve(static_cast<std::size_t>(rows->Rows()));
  for (int row = 0; row < rows->Rows(); ++row) {
    RootKey key{.id = rows->Text(row, 0),
                .hash = rows->Text(row, 1),
                .start = rows->Text(row, 2),
                .name = rows->Text(row, 3),
                .permissions = {},
                .created_at = rows->Int64(row, 5)};
    auto permissions = DecodeStrings(rows->Text(row, 4));
    if (!permissions) return Fail(CorruptColumn("root_keys.permissions", key.id));
    key.permissions = std::move(*permissions);
    keys.push_back(std::move(key));
  }
  return keys;
}

// ---- Health ----

Status PostgresStore::Ping() {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  auto answered = (*lease)->Run("SELECT 1");
  if (!answered) return Fail(std::move(answered.error()));
  return {};
}

Result<int> PostgresStore::SchemaVersion() {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  return ReadPgSchemaVersion(**lease);
}

}  // namespace tollgate
