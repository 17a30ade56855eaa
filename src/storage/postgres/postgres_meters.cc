// PostgresStore's metered usage (usage.ingest): the MeterStore writes. The meter side of the
// usage queries lives with them in postgres_usage.cc.
//
// A batch is two statements in one transaction: the events go in together through unnest(), and
// the new ones' rollup rows, summed per row first, go in together the same way. Several nodes may
// ingest at once; the unique event_id and the rollups' primary key settle every race, and both
// statements write their rows in sorted order, so two batches that share rows lock them in the
// same order instead of deadlocking.
#include <algorithm>
#include <map>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "storage/postgres/postgres_store.h"
#include "storage/store_internal.h"

namespace tollgate {
namespace {

using storage::During;
using storage::kUsageGranularities;
using storage::UsageBucketStart;

// $1..$6 one array per column, $7 received_at. RETURNING lists the ids that were new.
constexpr std::string_view kInsertMeterEvents =
    "INSERT INTO meter_events (event_id, at, external_id, key_id, meter, quantity, received_at) "
    "SELECT e.event_id, e.at, e.external_id, e.key_id, e.meter, e.quantity, $7::bigint "
    "FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[]) "
    "AS e (event_id, at, external_id, key_id, meter, quantity) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id";
// One array per column; the rows are distinct keys (summed before), as ON CONFLICT DO UPDATE
// requires.
constexpr std::string_view kUpsertMeterRollups =
    "INSERT INTO meter_rollups (granularity, bucket_start, key_id, external_id, meter, count, quantity) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[]) "
    "ON CONFLICT (granularity, bucket_start, key_id, external_id, meter) DO UPDATE SET "
    "count = meter_rollups.count + excluded.count, quantity = meter_rollups.quantity + excluded.quantity";
constexpr std::string_view kPruneMeterEvents = "DELETE FROM meter_events WHERE received_at < $1";

// The first event of each id in the batch, sorted by id; later repeats are duplicates.
std::vector<const MeterEvent*> FirstOfEachId(std::span<const MeterEvent> events) {
  std::vector<const MeterEvent*> firsts;
  std::unordered_set<std::string_view> seen;
  for (const MeterEvent& event : events) {
    if (seen.insert(event.event_id).second) firsts.push_back(&event);
  }
  std::sort(firsts.begin(), firsts.end(), [](const MeterEvent* a, const MeterEvent* b) { return a->event_id < b->event_id; });
  return firsts;
}

// Inserts `firsts` and returns the ids that were not stored yet.
Result<std::unordered_set<std::string>> InsertNewEvents(PgConnection& connection,
                                                         const std::vector<const MeterEvent*>& firsts,
                                                         UnixMillis received_at) {
  std::vector<std::string> ids, external_ids, key_ids, meters;
  std::vector<std::int64_t> ats, quantities;
  for (const MeterEvent* event : firsts) {
    ids.push_back(event->event_id);
    ats.push_back(event->at);
    external_ids.push_back(event->external_id);
    key_ids.push_back(event->key_id);
    meters.push_back(event->meter);
    quantities.push_back(event->quantity);
  }
  PgParams params;
  params.AddTextArray(ids).AddInt64Array(ats).AddTextArray(external_ids).AddTextArray(key_ids)
      .AddTextArray(meters).AddInt64Array(quantities).Add(received_at);
  auto inserted = connection.Query(kInsertMeterEvents, params);
  if (!inserted) return Fail(During("inserting metered usage", std::move(inserted.error())));
  std::unordered_set<std::string> fresh;
  for (int row = 0; row < inserted->Rows(); ++row) fresh.insert(inserted->Text(row, 0));
  return fresh;
}

// Adds the new events to their rollup rows of every granularity.
Status UpsertRollups(PgConnection& connection, std::span<const MeterEvent* const> fresh) {
  // Summed per rollup row first, as the SQLite store does; the map also sorts the rows. The views
  // point into the caller's events.
  using RollupKey = std::tuple<std::size_t, UnixMillis, std::string_view, std::string_view, std::string_view>;
  std::map<RollupKey, std::pair<std::int64_t, std::int64_t>> rollups;
  for (const MeterEvent* event : fresh) {
    for (std::size_t g = 0; g < kUsageGranularities.size(); ++g) {
      auto& [count, quantity] = rollups[{g, UsageBucketStart(g, event->at), event->key_id, event->external_id, event->meter}];
      ++count;
      quantity += event->quantity;
    }
  }
  std::vector<std::string> granularities, key_ids, external_ids, meters;
  std::vector<std::int64_t> buckets, counts, quantities;
  for (const auto& [key, sums] : rollups) {
    const auto& [granularity, bucket, key_id, external_id, meter] = key;
    granularities.emplace_back(kUsageGranularities[granularity]);
    buckets.push_back(bucket);
    key_ids.emplace_back(key_id);
    external_ids.emplace_back(external_id);
    meters.emplace_back(meter);
    counts.push_back(sums.first);
    quantities.push_back(sums.second);
  }
  PgParams params;
  params.AddTextArray(granularities).AddInt64Array(buckets).AddTextArray(key_ids).AddTextArray(external_ids)
      .AddTextArray(meters).AddInt64Array(counts).AddInt64Array(quantities);
  if (auto ran = connection.Run(kUpsertMeterRollups, params); !ran) {
    return Fail(During("updating meter rollups", std::move(ran.error())));
  }
  return {};
}

}  // namespace

Result<MeterIngestResult> PostgresStore::IngestMeterEvents(std::span<const MeterEvent> events, UnixMillis received_at) {
  MeterIngestResult result;
  if (events.empty()) return result;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("ingesting metered usage", std::move(lease.error())));
  PgConnection& connection = **lease;
  auto transaction = PgTransaction::Begin(connection);
  if (!transaction) return Fail(During("ingesting metered usage", std::move(transaction.error())));

  auto fresh_ids = InsertNewEvents(connection, FirstOfEachId(events), received_at);
  if (!fresh_ids) return Fail(std::move(fresh_ids.error()));
  // In batch order, as the SQLite store reports them: an id is new at its first occurrence only.
  std::vector<const MeterEvent*> fresh;
  for (const MeterEvent& event : events) {
    if (fresh_ids->erase(event.event_id) > 0) {
      fresh.push_back(&event);
    } else {
      result.duplicates.push_back(event.event_id);
    }
  }
  result.ingested = static_cast<std::int64_t>(fresh.size());
  if (!fresh.empty()) {
    if (auto rolled = UpsertRollups(connection, fresh); !rolled) return Fail(std::move(rolled.error()));
  }
  if (auto committed = transaction->Commit(); !committed) {
    return Fail(During("ingesting metered usage", std::move(committed.error())));
  }
  return result;
}

Status PostgresStore::PruneMeterEvents(UnixMillis received_before) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("pruning metered usage ids", std::move(lease.error())));
  if (auto ran = (*lease)->Run(kPruneMeterEvents, PgParams().Add(received_before)); !ran) {
    return Fail(During("pruning metered usage ids", std::move(ran.error())));
  }
  return {};
}

}  // namespace tollgate
