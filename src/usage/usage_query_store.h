// Reading usage back for analytics (usage.summary, usage.timeseries, usage.topKeys,
// usage.topIdentities). Implemented by every Store. Ranges are half-open [from, to) in unix ms.
//
// Answers come from the rollups unless the filter names an api_id (the rollups have no api_id
// dimension): then from the raw events, which are kept only for the retention period. Rollups
// are bucketed, so a rollup answer counts whole every bucket that overlaps [from, to) (start in
// [floor(from), to)); summaries and tops use minute buckets, or hour / day ones when both ends
// fall on them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

enum class UsageGranularity { kMinute, kHour, kDay, kMonth };
// kTag reads the raw events (retention-limited): an event counts once under each of its tags,
// and events without tags are not counted. kMeter reads the metered events of usage.ingest
// instead of the verifications: one series per meter, with count (events) and quantity.
enum class UsageGroupBy { kNone, kOutcome, kKey, kIdentity, kTag, kMeter };

struct UsageFilter {
  UnixMillis from = 0;
  UnixMillis to = 0;
  std::string key_id;       // "" = any
  std::string external_id;  // "" = any
  std::string api_id;       // "" = any; non-empty forces the raw events
};

struct MeterTotal {
  std::int64_t count = 0;     // events
  std::int64_t quantity = 0;  // sum of their quantities
};

struct UsageSummary {
  std::int64_t total = 0;
  std::int64_t credits_spent = 0;
  std::map<std::string, std::int64_t> by_code;  // only codes that occurred
  // Metered usage (usage.ingest) by meter; only meters that occurred. Meters have no API, so
  // this stays empty when the filter names an api_id.
  std::map<std::string, MeterTotal> meters;
};

struct UsagePoint {
  UnixMillis time = 0;  // bucket start
  std::string group;    // "" for UsageGroupBy::kNone
  std::int64_t count = 0;
  std::int64_t credits = 0;
  std::int64_t quantity = 0;  // UsageGroupBy::kMeter only
};

struct UsageTopEntry {
  std::string id;  // key id or external id
  std::int64_t count = 0;
  std::int64_t valid = 0;
  std::int64_t credits = 0;
};

class UsageQueryStore {
 public:
  virtual ~UsageQueryStore() = default;

  virtual Result<UsageSummary> Summary(const UsageFilter& filter) = 0;
  // Points ordered by time, then group; buckets without events are absent.
  virtual Result<std::vector<UsagePoint>> Timeseries(const UsageFilter& filter, UsageGranularity granularity,
                                                     UsageGroupBy group_by) = 0;
  // The `limit` keys (by_identity false) or identities (true) with the most events in the range,
  // most first, ties by id. Events without a key / identity are not ranked.
  virtual Result<std::vector<UsageTopEntry>> Top(const UsageFilter& filter, bool by_identity, std::size_t limit) = 0;
};

}  // namespace tollgate
