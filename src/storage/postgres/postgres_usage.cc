// PostgresStore's usage: the UsageRecorder's writes (WriteUsage, PruneRawUsage), the analytics
// reads (Summary, Timeseries, Top, with their meter side from meter_rollups) and usage.export
// (ExportUsagePage). The semantics are SqliteStore's (sqlite_store.cc, sqlite_meters.cc,
// sqlite_usage_export.cc): same buckets, same choice of rollups or raw events, same order.
//
// Threads: each method borrows one pooled connection for its duration; nothing here is shared.
//
// Cost: WriteUsage is on the hot path (a batch of up to several thousand events a second per
// node), so a batch costs the same few round trips whatever its size: BEGIN, one INSERT of every
// raw event from unnest() over one array per column, one upsert of every rollup row (summed per
// row in C++ first), the outbox event, COMMIT. The event goes last: WriteEvent takes the outbox's
// ordering lock, held until COMMIT, so the two heavy statements run before it, not under it.
//
// Reads compose their WHERE clause from the filters the caller set, each with its own $n, rather
// than SQLite's "($n = '' OR column = $n)": the planner then sees the real shape of the query, and
// a cached generic plan can still use the indexes on key_id and external_id. Column names and
// bucket expressions come from closed lists here, never from input. Text groups and ties sort
// COLLATE "C" (byte order, as SQLite's BINARY), whatever collation the database was created with.
#include <algorithm>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "storage/domain_events.h"
#include "storage/postgres/postgres_store.h"
#include "storage/row_json.h"
#include "storage/store_internal.h"

namespace tollgate {
namespace {

using storage::During;
using storage::kUsageGranularities;
using storage::UsageBucketStart;
using storage::UsageSummaryGranularity;

// Every raw event of a batch: unnest() turns the nine arrays into rows, in array order, so ids
// (the export's insertion order) follow the batch.
constexpr std::string_view kInsertUsageEvents =
    "INSERT INTO usage_events (at, api_id, key_id, external_id, code, credits_spent, tags, denied_by, source) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], "
    "$8::text[], $9::text[])";
// Every rollup row of a batch, each at most once (ON CONFLICT may touch a row only once per
// statement). Rows arrive sorted by key, so two nodes upserting overlapping rows lock them in the
// same order instead of deadlocking.
constexpr std::string_view kUpsertUsageRollups =
    "INSERT INTO usage_rollups AS r (granularity, bucket_start, key_id, external_id, code, count, credits) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[]) "
    "ON CONFLICT (granularity, bucket_start, key_id, external_id, code) DO UPDATE SET "
    "count = r.count + excluded.count, credits = r.credits + excluded.credits";
constexpr std::string_view kPruneUsageEvents = "DELETE FROM usage_events WHERE at < $1";

// One statement being composed: its text and the parameters its placeholders name.
struct Statement {
  std::string sql;
  PgParams params;

  // Adds a parameter and returns its placeholder.
  template <typename Value>
  std::string Param(const Value& value) {
    params.Add(value);
    return "$" + std::to_string(params.size());
  }
  // " AND column = $n", unless value is "" (any).
  void AndEqualsUnlessEmpty(std::string_view column, std::string_view value) {
    if (value.empty()) return;
    sql.append(" AND ").append(column).append(" = ").append(Param(value));
  }
};

// `select` (with no FROM) over the rollup table `table` (usage_rollups or meter_rollups) at
// granularity g: the buckets that start in [floor(from), to), of the filter's key and identity.
Statement FromRollups(std::string_view select, std::string_view table, const UsageFilter& filter, std::size_t g) {
  Statement statement;
  statement.sql.append(select).append(" FROM ").append(table);
  statement.sql += " WHERE granularity = " + statement.Param(kUsageGranularities[g]);
  statement.sql += " AND bucket_start >= " + statement.Param(UsageBucketStart(g, filter.from));
  statement.sql += " AND bucket_start < " + statement.Param(filter.to);
  statement.AndEqualsUnlessEmpty("key_id", filter.key_id);
  statement.AndEqualsUnlessEmpty("external_id", filter.external_id);
  return statement;
}

// `select_from` (a SELECT and the FROM of usage_events) over the raw events in [from, to), to the
// millisecond, of the filter's key, identity and API.
Statement FromEvents(std::string_view select_from, const UsageFilter& filter) {
  Statement statement;
  statement.sql.append(select_from);
  statement.sql += " WHERE at >= " + statement.Param(filter.from);
  statement.sql += " AND at < " + statement.Param(filter.to);
  statement.AndEqualsUnlessEmpty("key_id", filter.key_id);
  statement.AndEqualsUnlessEmpty("external_id", filter.external_id);
  statement.AndEqualsUnlessEmpty("api_id", filter.api_id);
  return statement;
}

// The start of a raw event's bucket, as UsageBucketStart computes it (the session's zone is UTC).
std::string_view RawBucket(std::size_t g) {
  switch (g) {
    case 0: return "at - at % 60000";
    case 1: return "at - at % 3600000";
    case 2: return "at - at % 86400000";
    default:
      return "(extract(epoch FROM date_trunc('month', to_timestamp(at / 1000) AT TIME ZONE 'UTC')) * 1000)::bigint";
  }
}

// The column a timeseries groups by; '' puts every event in one group.
std::string_view GroupColumn(UsageGroupBy group_by) {
  switch (group_by) {
    case UsageGroupBy::kOutcome: return "code";
    case UsageGroupBy::kKey: return "key_id";
    case UsageGroupBy::kIdentity: return "external_id";
    case UsageGroupBy::kTag: return "tag.value";  // json_array_elements_text, see Timeseries
    default: return "''::text";
  }
}

// The meter side of Summary: totals per meter from meter_rollups (SqliteStore::ReadMeterTotals).
Status ReadMeterTotals(PgConnection& connection, const UsageFilter& filter, std::size_t g, UsageSummary& summary) {
  Statement statement =
      FromRollups("SELECT meter, SUM(count)::bigint, SUM(quantity)::bigint", "meter_rollups", filter, g);
  statement.sql += " GROUP BY meter";
  auto rows = connection.Query(statement.sql, statement.params);
  if (!rows) return Fail(During("reading metered usage totals", std::move(rows.error())));
  for (int row = 0; row < rows->Rows(); ++row) {
    summary.meters[rows->Text(row, 0)] = {rows->Int64(row, 1), rows->Int64(row, 2)};
  }
  return {};
}

// UsageGroupBy::kMeter: one series per meter from meter_rollups (SqliteStore::MeterTimeseries).
Result<std::vector<UsagePoint>> MeterTimeseries(PgConnection& connection, const UsageFilter& filter, std::size_t g) {
  Statement statement = FromRollups("SELECT bucket_start, meter COLLATE \"C\", SUM(count)::bigint, SUM(quantity)::bigint",
                                    "meter_rollups", filter, g);
  statement.sql += " GROUP BY 1, 2 ORDER BY 1, 2";
  auto rows = connection.Query(statement.sql, statement.params);
  if (!rows) return Fail(During("reading metered usage timeseries", std::move(rows.error())));
  std::vector<UsagePoint> points;
  points.reserve(static_cast<std::size_t>(rows->Rows()));
  for (int row = 0; row < rows->Rows(); ++row) {
    points.push_back({.time = rows->Int64(row, 0), .group = rows->Text(row, 1), .count = rows->Int64(row, 2),
                      .credits = 0, .quantity = rows->Int64(row, 3)});
  }
  return points;
}

// The raw events of a batch, one array per column of kInsertUsageEvents.
PgParams UsageEventColumns(std::span<const UsageEvent> events) {
  std::vector<std::int64_t> at;
  std::vector<std::int64_t> credits;
  std::vector<std::string> api_id, key_id, external_id, code, tags, denied_by, source;
  for (auto* column : {&api_id, &key_id, &external_id, &code, &tags, &denied_by, &source}) column->reserve(events.size());
  at.reserve(events.size());
  credits.reserve(events.size());
  for (const UsageEvent& event : events) {
    at.push_back(event.at);
    api_id.emplace_back(event.api_id.view());
    key_id.emplace_back(event.key_id.view());
    external_id.emplace_back(event.external_id.view());
    code.emplace_back(event.code.view());
    credits.push_back(event.credits_spent);
    tags.push_back(event.tags.empty() ? "[]" : storage::EncodeStrings(event.tags));
    denied_by.emplace_back(event.denied_by.view());
    source.emplace_back(event.source.view());
  }
  PgParams params;
  params.AddInt64Array(at).AddTextArray(api_id).AddTextArray(key_id).AddTextArray(external_id).AddTextArray(code)
      .AddInt64Array(credits).AddTextArray(tags).AddTextArray(denied_by).AddTextArray(source);
  return params;
}

// The batch summed per rollup row (granularity, bucket, key_id, external_id, code): a batch of
// thousands of events from a few busy keys becomes a few dozen rows. One array per column of
// kUpsertUsageRollups, sorted by that key.
PgParams UsageRollupColumns(std::span<const UsageEvent> events) {
  // The views point into `events`, alive for the whole call.
  using RollupKey = std::tuple<std::size_t, UnixMillis, std::string_view, std::string_view, std::string_view>;
  std::map<RollupKey, std::pair<std::int64_t, std::int64_t>> rollups;
  for (const UsageEvent& event : events) {
    for (std::size_t g = 0; g < kUsageGranularities.size(); ++g) {
      auto& [count, credits] = rollups[{g, UsageBucketStart(g, event.at), event.key_id, event.external_id, event.code}];
      ++count;
      credits += event.credits_spent;
    }
  }
  std::vector<std::string> granularity, key_id, external_id, code;
  std::vector<std::int64_t> bucket, count, credits;
  for (const auto& [key, sums] : rollups) {
    granularity.emplace_back(kUsageGranularities[std::get<0>(key)]);
    bucket.push_back(std::get<1>(key));
    key_id.emplace_back(std::get<2>(key));
    external_id.emplace_back(std::get<3>(key));
    code.emplace_back(std::get<4>(key));
    count.push_back(sums.first);
    credits.push_back(sums.second);
  }
  PgParams params;
  params.AddTextArray(granularity).AddInt64Array(bucket).AddTextArray(key_id).AddTextArray(external_id)
      .AddTextArray(code).AddInt64Array(count).AddInt64Array(credits);
  return params;
}

}  // namespace

Status PostgresStore::WriteUsage(std::span<const UsageEvent> events) {
  if (events.empty()) return {};
  // Built before borrowing a connection: the pool lends it for the round trips only.
  const PgParams raw = UsageEventColumns(events);
  const PgParams rollups = UsageRollupColumns(events);
  const UnixMillis latest =
      std::max_element(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.at < b.at; })->at;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("writing usage", std::move(lease.error())));
  PgConnection& connection = **lease;
  auto transaction = PgTransaction::Begin(connection);
  if (!transaction) return Fail(During("writing usage", std::move(transaction.error())));
  if (auto ran = connection.Run(kInsertUsageEvents, raw); !ran) {
    return Fail(During("inserting usage events", std::move(ran.error())));
  }
  if (auto ran = connection.Run(kUpsertUsageRollups, rollups); !ran) {
    return Fail(During("updating usage rollups", std::move(ran.error())));
  }
  if (auto recorded = WriteEvent(connection, storage::UsageBatchEvent(events, latest)); !recorded) return recorded;
  return transaction->Commit();
}

Status PostgresStore::PruneRawUsage(UnixMillis older_than) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("pruning usage events", std::move(lease.error())));
  if (auto ran = (*lease)->Run(kPruneUsageEvents, PgParams().Add(older_than)); !ran) {
    return Fail(During("pruning usage events", std::move(ran.error())));
  }
  return {};
}

Result<UsageSummary> PostgresStore::Summary(const UsageFilter& filter) {
  const bool raw = !filter.api_id.empty();
  const std::size_t g = UsageSummaryGranularity(filter.from, filter.to);
  Statement statement =
      raw ? FromEvents("SELECT code, COUNT(*), SUM(credits_spent)::bigint FROM usage_events", filter)
          : FromRollups("SELECT code, SUM(count)::bigint, SUM(credits)::bigint", "usage_rollups", filter, g);
  statement.sql += " GROUP BY code";
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("reading usage summary", std::move(lease.error())));
  auto rows = (*lease)->Query(statement.sql, statement.params);
  if (!rows) return Fail(During("reading usage summary", std::move(rows.error())));
  UsageSummary summary;
  for (int row = 0; row < rows->Rows(); ++row) {
    const std::int64_t count = rows->Int64(row, 1);
    summary.by_code[rows->Text(row, 0)] += count;
    summary.total += count;
    summary.credits_spent += rows->Int64(row, 2);
  }
  if (!raw) {
    if (auto meters = ReadMeterTotals(**lease, filter, g, summary); !meters) return Fail(meters.error());
  }
  return summary;
}

Result<std::vector<UsagePoint>> PostgresStore::Timeseries(const UsageFilter& filter, UsageGranularity granularity,
                                                          UsageGroupBy group_by) {
  const bool by_tag = group_by == UsageGroupBy::kTag;
  const bool raw = by_tag || !filter.api_id.empty();
  const auto g = static_cast<std::size_t>(granularity);
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("reading usage timeseries", std::move(lease.error())));
  if (group_by == UsageGroupBy::kMeter) return MeterTimeseries(**lease, filter, g);
  // bucket, group, count, credits; by tag, an event counts once under each of its tags.
  const std::string group = "(" + std::string(GroupColumn(group_by)) + ") COLLATE \"C\", ";
  const std::string from_events = by_tag ? "FROM usage_events CROSS JOIN LATERAL "
                                           "json_array_elements_text(tags::json) AS tag(value)"
                                         : "FROM usage_events";
  Statement statement =
      raw ? FromEvents("SELECT " + std::string(RawBucket(g)) + ", " + group + "COUNT(*), SUM(credits_spent)::bigint " +
                           from_events,
                       filter)
          : FromRollups("SELECT bucket_start, " + group + "SUM(count)::bigint, SUM(credits)::bigint", "usage_rollups",
                        filter, g);
  statement.sql += " GROUP BY 1, 2 ORDER BY 1, 2";
  auto rows = (*lease)->Query(statement.sql, statement.params);
  if (!rows) return Fail(During("reading usage timeseries", std::move(rows.error())));
  std::vector<UsagePoint> points;
  points.reserve(static_cast<std::size_t>(rows->Rows()));
  for (int row = 0; row < rows->Rows(); ++row) {
    points.push_back({rows->Int64(row, 0), rows->Text(row, 1), rows->Int64(row, 2), rows->Int64(row, 3)});
  }
  return points;
}

Result<std::vector<UsageTopEntry>> PostgresStore::Top(const UsageFilter& filter, bool by_identity, std::size_t limit) {
  const bool raw = !filter.api_id.empty();
  const std::string_view column = by_identity ? "external_id" : "key_id";
  // id, events, VALID events, credits
  const std::string select = "SELECT " + std::string(column) + " COLLATE \"C\", ";
  Statement statement =
      raw ? FromEvents(select + "COUNT(*), COUNT(*) FILTER (WHERE code = 'VALID'), SUM(credits_spent)::bigint "
                                "FROM usage_events", filter)
          : FromRollups(select + "SUM(count)::bigint, COALESCE(SUM(count) FILTER (WHERE code = 'VALID'), 0)::bigint, "
                                 "SUM(credits)::bigint", "usage_rollups", filter,
                                 UsageSummaryGranularity(filter.from, filter.to));
  statement.sql.append(" AND ").append(column).append(" <> '' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ");
  statement.sql += statement.Param(static_cast<std::int64_t>(limit));
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("reading top usage", std::move(lease.error())));
  auto rows = (*lease)->Query(statement.sql, statement.params);
  if (!rows) return Fail(During("reading top usage", std::move(rows.error())));
  std::vector<UsageTopEntry> entries;
  entries.reserve(static_cast<std::size_t>(rows->Rows()));
  for (int row = 0; row < rows->Rows(); ++row) {
    entries.push_back({rows->Text(row, 0), rows->Int64(row, 1), rows->Int64(row, 2), rows->Int64(row, 3)});
  }
  return entries;
}

// Keyset paging on (at, id), the index usage_events_by_at: a page is one index range scan with no
// sort, wherever it starts. The first page starts after (from, the smallest id), i.e. at `from`.
Result<UsageExportPage> PostgresStore::ExportUsagePage(const UsageExportFilter& filter,
                                                       const std::optional<UsageExportCursor>& after,
                                                       std::size_t limit) {
  const UsageFilter& range = filter.range;
  Statement statement;
  statement.sql =
      "SELECT id, at, api_id, key_id, external_id, code, credits_spent, tags, denied_by, source FROM usage_events "
      "WHERE (at, id) > (";
  statement.sql += statement.Param(after ? after->at : range.from) + ", ";
  statement.sql += statement.Param(after ? after->sequence : std::numeric_limits<std::int64_t>::min()) + ")";
  statement.sql += " AND at < " + statement.Param(range.to);
  statement.AndEqualsUnlessEmpty("key_id", range.key_id);
  statement.AndEqualsUnlessEmpty("external_id", range.external_id);
  statement.AndEqualsUnlessEmpty("api_id", range.api_id);
  statement.AndEqualsUnlessEmpty("code", filter.code);
  // One more row than the page says whether a next page exists.
  statement.sql += " ORDER BY at, id LIMIT " + statement.Param(static_cast<std::int64_t>(limit) + 1);
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("reading usage events to export", std::move(lease.error())));
  auto rows = (*lease)->Query(statement.sql, statement.params);
  if (!rows) return Fail(During("reading usage events to export", std::move(rows.error())));
  const auto count = std::min(static_cast<std::size_t>(rows->Rows()), limit);
  UsageExportPage page;
  page.events.reserve(count);
  std::int64_t id = 0;
  for (int row = 0; row < static_cast<int>(count); ++row) {
    id = rows->Int64(row, 0);
    auto tags = storage::DecodeStrings(rows->Text(row, 7));
    if (!tags) {
      return Fail(Error::Internal("postgres: column tags of usage event " + std::to_string(id) +
                                  " holds a value tollgate did not write"));
    }
    page.events.push_back({.at = rows->Int64(row, 1),
                           .api_id = rows->Text(row, 2),
                           .key_id = rows->Text(row, 3),
                           .external_id = rows->Text(row, 4),
                           .code = rows->Text(row, 5),
                           .credits_spent = rows->Int64(row, 6),
                           .tags = std::move(*tags),
                           .denied_by = rows->Text(row, 8),
                           .source = rows->Text(row, 9)});
  }
  if (static_cast<std::size_t>(rows->Rows()) > count) page.next = UsageExportCursor{page.events.back().at, id};
  return page;
}

}  // namespace tollgate
