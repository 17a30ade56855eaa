// The text report of `tollgate usage`: periods of UTC time, the rows built from a
// usage.timeseries answer (grouped by outcome) with empty periods filled in, and their rendering
// as a table with one bar per row plus the totals over the range. Pure functions of their input,
// tested without a server or a terminal; like resource_views, they never throw on an unexpected
// answer (a malformed point is skipped).
//
// Outcomes are split three ways: VALID (a verification that passed), RATELIMIT_PASSED (a
// ratelimit.limit call that passed; only shown when there are any) and denied (every other code:
// RATE_LIMITED, USAGE_EXCEEDED, NOT_FOUND, RATELIMIT_DENIED, …), which the totals break down by
// code. A bar is drawn in full blocks for what passed and light shade for what was denied, or
// in '#' and 'x' when the output is not UTF-8.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/resource_views.h"
#include "common/clock.h"
#include "common/thousands.h"  // GroupThousands, used by the tables here

namespace tollgate {

// The granularities of usage.timeseries. Periods are aligned in UTC: whole minutes, hours and
// days since the epoch, and calendar months from their first day.
enum class UsagePeriod { kMinute, kHour, kDay, kMonth };

// "minute", "hour", "day", "month": the API's names, which are also the --by values.
std::optional<UsagePeriod> ParseUsagePeriod(std::string_view name);
std::string_view UsagePeriodName(UsagePeriod period);

// The start of the period that holds t, and of the period after the one that starts at start.
UnixMillis PeriodStart(UsagePeriod period, UnixMillis t);
UnixMillis NextPeriodStart(UsagePeriod period, UnixMillis start);

// How many periods overlap [from, to); 0 when the range is empty. Arithmetic, so it is cheap
// for any range.
std::int64_t CountPeriods(UsagePeriod period, UnixMillis from, UnixMillis to);

// The granularity a report uses when none is asked for: the finest of minute, hour and day of
// which the range is at most kMaxDefaultRows long (1h: minutes, 24h: hours, 30d: days), else
// month. A range that does not start on a period boundary shows one row more.
inline constexpr std::int64_t kMaxDefaultRows = 60;
UsagePeriod DefaultUsagePeriod(UnixMillis from, UnixMillis to);

// One period of the report. by_code holds every outcome code counted in it.
struct UsageRow {
  UnixMillis start = 0;
  std::int64_t total = 0;
  std::int64_t credits = 0;
  std::map<std::string, std::int64_t> by_code;

  std::int64_t Valid() const;   // code VALID
  std::int64_t Passed() const;  // code RATELIMIT_PASSED
  std::int64_t Denied() const { return total - Valid() - Passed(); }
};

// One row per period that overlaps [from, to), oldest first, periods without points as zero
// rows, from usage.timeseries points [{time, group, count, credits}] grouped by outcome. A
// point counts in the period that holds its time; points outside the range, or without an
// integer time and count, are skipped.
std::vector<UsageRow> UsageRowsFromPoints(UsagePeriod period, UnixMillis from, UnixMillis to,
                                          const nlohmann::json& points);

// The sum of rows, with the start of the first.
UsageRow SumUsageRows(const std::vector<UsageRow>& rows);

// A bar of at most `width` characters for total = passed + denied, scaled so that max_total
// fills the width. Any non-zero total and any non-zero denied part get at least one character.
std::string RenderUsageBar(std::int64_t passed, std::int64_t denied, std::int64_t max_total,
                           std::size_t width, bool utf8);

// The table: a period column ("HOUR (UTC)" with "2024-02-29 12:00"), TOTAL, VALID, PASSED (only
// when some row has any), DENIED and CREDITS right-aligned with thousands separators, and a bar
// sized so that a line stays within about 100 columns.
std::string RenderUsageTable(UsagePeriod period, const std::vector<UsageRow>& rows, bool utf8);

// What the report covers, for its totals.
struct UsageReportScope {
  std::string description;  // e.g. "key key_1", "everything"
  UsagePeriod period = UsagePeriod::kHour;
  UnixMillis from = 0;  // the start of the first period
  UnixMillis to = 0;    // exclusive
};

// Scope, Range, Total, Valid, Passed (when any), Denied with its codes most frequent first,
// Credits, and what the bar characters mean.
RecordFields UsageTotalsRecord(const UsageReportScope& scope, const std::vector<UsageRow>& rows,
                               bool utf8);

// usage.topKeys / usage.topIdentities data [{<id_field>, count, valid, credits}] as a table with
// columns id_heading, TOTAL, VALID, CREDITS.
std::string RenderUsageTopTable(const nlohmann::json& entries, const char* id_field,
                                const std::string& id_heading);

}  // namespace tollgate
