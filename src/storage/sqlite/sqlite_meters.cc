// SqliteStore's metered usage (usage.ingest): the MeterStore writes, and the meter side of the
// usage queries (UsageGroupBy::kMeter, UsageSummary::meters). Schema: migration 6.
#include <map>
#include <tuple>
#include <unordered_set>

#include "storage/sqlite/sqlite_internal.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

using sqlite_internal::During;
using sqlite_internal::kUsageGranularities;
using sqlite_internal::UsageBucketStart;

constexpr std::string_view kInsertMeterEvent =
    "INSERT INTO meter_events (event_id, at, external_id, key_id, meter, quantity, received_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_id) DO NOTHING";
constexpr std::string_view kUpsertMeterRollup =
    "INSERT INTO meter_rollups (granularity, bucket_start, key_id, external_id, meter, count, quantity) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (granularity, bucket_start, key_id, external_id, meter) DO UPDATE SET "
    "count = count + excluded.count, quantity = quantity + excluded.quantity";
constexpr std::string_view kPruneMeterEvents = "DELETE FROM meter_events WHERE received_at < ?1";

// ?1 granularity, ?2 from (floored to the bucket), ?3 to, ?4 key_id, ?5 external_id, as for
// usage_rollups in sqlite_store.cc.
#define TOLLGATE_METER_ROLLUP_WHERE                                                      \
  " FROM meter_rollups WHERE granularity = ?1 AND bucket_start >= ?2 AND bucket_start < ?3" \
  " AND (?4 = '' OR key_id = ?4) AND (?5 = '' OR external_id = ?5)"
constexpr std::string_view kMeterTotals =
    "SELECT meter, SUM(count), SUM(quantity)" TOLLGATE_METER_ROLLUP_WHERE " GROUP BY meter";
constexpr std::string_view kMeterTimeseries =
    "SELECT bucket_start, meter, SUM(count), SUM(quantity)" TOLLGATE_METER_ROLLUP_WHERE
    " GROUP BY bucket_start, meter ORDER BY bucket_start, meter";
#undef TOLLGATE_METER_ROLLUP_WHERE

void BindMeterFilter(SqliteStatement& statement, const UsageFilter& filter, std::size_t g) {
  statement.Bind(1, kUsageGranularities[g]).Bind(2, UsageBucketStart(g, filter.from)).Bind(3, filter.to)
      .Bind(4, filter.key_id).Bind(5, filter.external_id);
}

}  // namespace

Result<MeterIngestResult> SqliteStore::IngestMeterEvents(std::span<const MeterEvent> events, UnixMillis received_at) {
  MeterIngestResult result;
  if (events.empty()) return result;
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During("ingesting metered usage", std::move(transaction.error())));
  auto insert = connection_.Prepare(kInsertMeterEvent);
  if (!insert) return Fail(std::move(insert.error()));
  // Only events that were inserted reach the rollups, summed per rollup row first (as WriteUsage
  // does). The views point into `events`, alive for the whole call.
  using RollupKey = std::tuple<std::size_t, UnixMillis, std::string_view, std::string_view, std::string_view>;
  std::map<RollupKey, std::pair<std::int64_t, std::int64_t>> rollups;
  for (const MeterEvent& event : events) {
    insert->Bind(1, event.event_id).Bind(2, event.at).Bind(3, event.external_id).Bind(4, event.key_id)
        .Bind(5, event.meter).Bind(6, event.quantity).Bind(7, received_at);
    if (auto ran = insert->Run(); !ran) return Fail(During("inserting metered usage", std::move(ran.error())));
    insert->Reset();
    if (connection_.Changes() == 0) {
      result.duplicates.push_back(event.event_id);
      continue;
    }
    ++result.ingested;
    for (std::size_t g = 0; g < kUsageGranularities.size(); ++g) {
      auto& [count, quantity] = rollups[{g, UsageBucketStart(g, event.at), event.key_id, event.external_id, event.meter}];
      ++count;
      quantity += event.quantity;
    }
  }
  auto upsert = connection_.Prepare(kUpsertMeterRollup);
  if (!upsert) return Fail(std::move(upsert.error()));
  for (const auto& [key, sums] : rollups) {
    const auto& [granularity, bucket, key_id, external_id, meter] = key;
    upsert->Bind(1, kUsageGranularities[granularity]).Bind(2, bucket).Bind(3, key_id).Bind(4, external_id)
        .Bind(5, meter).Bind(6, sums.first).Bind(7, sums.second);
    if (auto ran = upsert->Run(); !ran) return Fail(During("updating meter rollups", std::move(ran.error())));
    upsert->Reset();
  }
  if (auto committed = transaction->Commit(); !committed) return Fail(std::move(committed.error()));
  return result;
}

Status SqliteStore::PruneMeterEvents(UnixMillis received_before) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kPruneMeterEvents);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, received_before);
  if (auto ran = statement->Run(); !ran) return Fail(During("pruning metered usage ids", std::move(ran.error())));
  return {};
}

Status SqliteStore::ReadMeterTotals(const UsageFilter& filter, std::size_t granularity, UsageSummary& summary) {
  auto statement = connection_.Prepare(kMeterTotals);
  if (!statement) return Fail(std::move(statement.error()));
  BindMeterFilter(*statement, filter, granularity);
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("reading metered usage totals", std::move(row.error())));
    if (!*row) break;
    summary.meters[statement->ColumnText(0)] = {statement->ColumnInt64(1), statement->ColumnInt64(2)};
  }
  return {};
}

Result<std::vector<UsagePoint>> SqliteStore::MeterTimeseries(const UsageFilter& filter, std::size_t granularity) {
  auto statement = connection_.Prepare(kMeterTimeseries);
  if (!statement) return Fail(std::move(statement.error()));
  BindMeterFilter(*statement, filter, granularity);
  std::vector<UsagePoint> points;
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("reading metered usage timeseries", std::move(row.error())));
    if (!*row) break;
    points.push_back({.time = statement->ColumnInt64(0), .group = statement->ColumnText(1),
                      .count = statement->ColumnInt64(2), .credits = 0, .quantity = statement->ColumnInt64(3)});
  }
  return points;
}

}  // namespace tollgate
