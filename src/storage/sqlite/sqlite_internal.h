// Helpers shared by the files that implement SqliteStore (sqlite_store.cc and the per-domain
// files beside it). Internal to storage/sqlite.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/calendar.h"
#include "common/clock.h"
#include "common/result.h"

namespace tollgate::sqlite_internal {

// Says which operation failed, in front of SQLite's own words.
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

}  // namespace tollgate::sqlite_internal
