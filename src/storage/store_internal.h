// Helpers shared by every Store backend (storage/sqlite, storage/postgres): the UTC buckets of
// the usage and meter rollups, so that all of them bucket the same event into the same minute,
// hour, day and month, the error context every backend puts in front of its driver's words, and the
// pages of the history tables (alerts, webhook deliveries).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/calendar.h"
#include "common/clock.h"
#include "common/result.h"

namespace tollgate::storage {

// Says which operation failed, in front of the driver's own words.
inline Error During(std::string_view what, Error error) {
  error.detail = std::string(what) + ": " + error.detail;
  return error;
}

// The rollup granularities, by index, as the rollup tables name them.
inline constexpr std::array<std::string_view, 4> kUsageGranularities = {"minute", "hour", "day", "month"};

inline UnixMillis FloorTo(UnixMillis t, UnixMillis unit) { return t - ((t % unit) + unit) % unit; }

// The start of the UTC bucket of granularity index `granularity` that holds t.
inline UnixMillis UsageBucketStart(std::size_t granularity, UnixMillis t) {
  switch (granularity) {
    case 0: return FloorTo(t, 60'000);
    case 1: return FloorTo(t, 3'600'000);
    case 2: return StartOfDay(t);
    default: {
      const CivilDate date = ToCivil(t);
      return FromCivil({date.year, date.month, 1});
    }
  }
}

// The granularity index a usage summary or top list reads from the rollups: the coarsest of day /
// hour whose buckets both ends of [from, to) fall on, so long aligned ranges read few rows;
// minute otherwise (the first minute is then counted whole).
inline std::size_t UsageSummaryGranularity(UnixMillis from, UnixMillis to) {
  for (std::size_t g : {std::size_t{2}, std::size_t{1}}) {
    if (UsageBucketStart(g, from) == from && UsageBucketStart(g, to) == to) return g;
  }
  return 0;
}

// [from, to) as rollup pieces, for sums that must be exact to the minute (billing): whole UTC
// days from the day rollups, the edges from the minute ones. Both ends are on minute boundaries.
struct RollupRange {
  std::string_view granularity;
  UnixMillis from;
  UnixMillis to;
};
inline std::vector<RollupRange> RollupRanges(UnixMillis from, UnixMillis to) {
  const UnixMillis first_day = StartOfDay(from) == from ? from : StartOfDay(from) + kMillisPerDay;
  const UnixMillis last_day = StartOfDay(to);
  if (first_day >= last_day) return {{"minute", from, to}};
  std::vector<RollupRange> ranges;
  if (from < first_day) ranges.push_back({"minute", from, first_day});
  ranges.push_back({"day", first_day, last_day});
  if (last_day < to) ranges.push_back({"minute", last_day, to});
  return ranges;
}

// Pages of rows ordered by an insertion sequence, newest first (alert history, webhook
// deliveries): the store reads limit + 1 rows below the cursor, and the extra row says there is
// a next page, which starts below the last row shown.
inline constexpr std::int64_t kNoSeqCursor = std::numeric_limits<std::int64_t>::max();

template <typename Item>
std::vector<Item> WithoutSeqs(std::vector<std::pair<std::int64_t, Item>> rows) {
  std::vector<Item> items;
  items.reserve(rows.size());
  for (auto& row : rows) items.push_back(std::move(row.second));
  return items;
}

// The first `limit` of rows read with limit + 1, and the next page's cursor when there are more.
template <typename Item>
std::pair<std::vector<Item>, std::optional<std::int64_t>> SeqPage(std::vector<std::pair<std::int64_t, Item>> rows,
                                                                  std::size_t limit) {
  std::optional<std::int64_t> next;
  if (rows.size() > limit) {
    rows.resize(limit);
    next = rows.back().first;
  }
  return {WithoutSeqs(std::move(rows)), next};
}

}  // namespace tollgate::storage
