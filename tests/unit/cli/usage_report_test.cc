#include "cli/usage_report.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/table.h"
#include "cli_test_support.h"

namespace tollgate {
namespace {

using nlohmann::json;

constexpr UnixMillis kMinute = 60'000;
constexpr UnixMillis kHour = 3'600'000;
constexpr UnixMillis kDay = 86'400'000;

TEST(UsagePeriod, NamesAreTheApisGranularities) {
  for (const char* name : {"minute", "hour", "day", "month"}) {
    const auto period = ParseUsagePeriod(name);
    ASSERT_TRUE(period.has_value()) << name;
    EXPECT_EQ(UsagePeriodName(*period), name);
  }
  EXPECT_FALSE(ParseUsagePeriod("week").has_value());
  EXPECT_FALSE(ParseUsagePeriod("Hour").has_value());
}

TEST(UsagePeriod, StartsAreAlignedInUtc) {
  const UnixMillis t = At("2024-02-29T12:34:56Z") + 789;
  EXPECT_EQ(PeriodStart(UsagePeriod::kMinute, t), At("2024-02-29T12:34:00Z"));
  EXPECT_EQ(PeriodStart(UsagePeriod::kHour, t), At("2024-02-29T12:00:00Z"));
  EXPECT_EQ(PeriodStart(UsagePeriod::kDay, t), At("2024-02-29"));
  EXPECT_EQ(PeriodStart(UsagePeriod::kMonth, t), At("2024-02-01"));
  // A start is its own period's start.
  EXPECT_EQ(PeriodStart(UsagePeriod::kMonth, At("2024-03-01")), At("2024-03-01"));
  EXPECT_EQ(PeriodStart(UsagePeriod::kHour, At("2024-03-01")), At("2024-03-01"));
}

TEST(UsagePeriod, NextStartFollowsTheCalendarForMonths) {
  EXPECT_EQ(NextPeriodStart(UsagePeriod::kMinute, At("2024-02-29T23:59:00Z")), At("2024-03-01"));
  EXPECT_EQ(NextPeriodStart(UsagePeriod::kDay, At("2024-02-28")), At("2024-02-29"));
  EXPECT_EQ(NextPeriodStart(UsagePeriod::kMonth, At("2024-02-01")), At("2024-03-01"));
  EXPECT_EQ(NextPeriodStart(UsagePeriod::kMonth, At("2023-12-01")), At("2024-01-01"));
}

TEST(UsagePeriod, CountsThePeriodsThatOverlapTheRange) {
  const UnixMillis noon = At("2024-02-29T12:00:00Z");
  EXPECT_EQ(CountPeriods(UsagePeriod::kMinute, noon - 30 * kMinute, noon), 30);
  // A start inside a minute still overlaps that minute; an end 1 ms into one overlaps it too.
  EXPECT_EQ(CountPeriods(UsagePeriod::kMinute, noon - 30 * kMinute + 1, noon), 30);
  EXPECT_EQ(CountPeriods(UsagePeriod::kMinute, noon - 30 * kMinute + 1, noon + 1), 31);
  EXPECT_EQ(CountPeriods(UsagePeriod::kHour, noon - kDay, noon), 24);
  EXPECT_EQ(CountPeriods(UsagePeriod::kDay, At("2024-01-01"), At("2024-02-01")), 31);
  EXPECT_EQ(CountPeriods(UsagePeriod::kMonth, At("2023-12-15"), At("2024-03-02")), 4);
  EXPECT_EQ(CountPeriods(UsagePeriod::kMonth, At("2024-01-01"), At("2024-02-01")), 1);
  EXPECT_EQ(CountPeriods(UsagePeriod::kHour, noon, noon), 0);
  EXPECT_EQ(CountPeriods(UsagePeriod::kHour, noon, noon - 1), 0);
}

TEST(UsagePeriod, TheDefaultKeepsTheTableToAboutSixtyRows) {
  const UnixMillis noon = At("2024-02-29T12:00:00Z");
  EXPECT_EQ(DefaultUsagePeriod(noon - 15 * kMinute, noon), UsagePeriod::kMinute);
  EXPECT_EQ(DefaultUsagePeriod(noon - kHour, noon), UsagePeriod::kMinute);
  EXPECT_EQ(DefaultUsagePeriod(noon - kHour - 1, noon), UsagePeriod::kHour);
  EXPECT_EQ(DefaultUsagePeriod(noon - kDay, noon), UsagePeriod::kHour);
  EXPECT_EQ(DefaultUsagePeriod(noon - 60 * kHour, noon), UsagePeriod::kHour);
  EXPECT_EQ(DefaultUsagePeriod(noon - 61 * kHour, noon), UsagePeriod::kDay);
  EXPECT_EQ(DefaultUsagePeriod(noon - 30 * kDay, noon), UsagePeriod::kDay);
  EXPECT_EQ(DefaultUsagePeriod(noon - 60 * kDay, noon), UsagePeriod::kDay);
  EXPECT_EQ(DefaultUsagePeriod(noon - 61 * kDay, noon), UsagePeriod::kMonth);
}

// Three hours; points in the first and last, none in the middle.
json ThreeHourPoints() {
  return json::parse(R"([
    {"time": 1709197200000, "group": "RATE_LIMITED", "count": 2, "credits": 0},
    {"time": 1709197200000, "group": "VALID", "count": 5, "credits": 5},
    {"time": 1709204400000, "group": "NOT_FOUND", "count": 1, "credits": 0}
  ])");
}
// ratelimit.limit calls at 09:00: 3 passed, 1 denied.
json RatelimitPoints() {
  return json::parse(R"([
    {"time": 1709197200000, "group": "RATELIMIT_PASSED", "count": 3},
    {"time": 1709197200000, "group": "RATELIMIT_DENIED", "count": 1}
  ])");
}
constexpr UnixMillis kNoon = kNow;  // 2024-02-29T12:00:00Z
constexpr UnixMillis kNine = kNoon - 3 * kHour;

TEST(UsageRowsFromPoints, FillsEveryPeriodOfTheRangeAndGroupsTheOutcomes) {
  const auto rows = UsageRowsFromPoints(UsagePeriod::kHour, kNine, kNoon, ThreeHourPoints());

  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].start, kNine);
  EXPECT_EQ(rows[1].start, kNine + kHour);
  EXPECT_EQ(rows[2].start, kNine + 2 * kHour);
  EXPECT_EQ(rows[0].total, 7);
  EXPECT_EQ(rows[0].Valid(), 5);
  EXPECT_EQ(rows[0].Denied(), 2);
  EXPECT_EQ(rows[0].credits, 5);
  EXPECT_EQ(rows[1].total, 0);
  EXPECT_TRUE(rows[1].by_code.empty());
  EXPECT_EQ(rows[2].total, 1);
  EXPECT_EQ(rows[2].Denied(), 1);
  EXPECT_EQ(rows[2].by_code.at("NOT_FOUND"), 1);
}

TEST(UsageRowsFromPoints, StartsAtThePeriodHoldingFromAndSkipsWhatIsOutside) {
  const json points = json::parse(R"([
    {"time": 1709193600000, "group": "VALID", "count": 100},
    {"time": 1709199000000, "group": "VALID", "count": 3},
    {"time": 1709208000000, "group": "VALID", "count": 100},
    {"time": "soon", "group": "VALID", "count": 100},
    {"time": 1709197200000, "group": "VALID"},
    "not a point"
  ])");
  // From 09:30: the first row is the whole 09:00 hour.
  const auto rows =
      UsageRowsFromPoints(UsagePeriod::kHour, kNine + kHour / 2, kNoon, points);

  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].start, kNine);
  // 08:00 and 12:00 lie outside, the malformed ones are skipped; 09:30 counts in 09:00.
  EXPECT_EQ(rows[0].total, 3);
  EXPECT_EQ(rows[1].total, 0);
  EXPECT_EQ(rows[2].total, 0);
}

TEST(UsageRowsFromPoints, MonthsFollowTheCalendar) {
  const json points = json::parse(R"([{"time": 1706745600000, "group": "VALID", "count": 4}])");
  const auto rows =
      UsageRowsFromPoints(UsagePeriod::kMonth, At("2023-12-10"), At("2024-03-01"), points);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].start, At("2023-12-01"));
  EXPECT_EQ(rows[1].start, At("2024-01-01"));
  EXPECT_EQ(rows[2].start, At("2024-02-01"));
  EXPECT_EQ(rows[2].total, 4);  // 1706745600000 is 2024-02-01
}

TEST(RenderUsageBar, IsProportionalToTheTotalWithTheDeniedPartShaded) {
  EXPECT_EQ(RenderUsageBar(10, 0, 10, 10, false), "##########");
  EXPECT_EQ(RenderUsageBar(5, 5, 10, 10, false), "#####xxxxx");
  EXPECT_EQ(RenderUsageBar(2, 3, 10, 10, false), "##xxx");
  EXPECT_EQ(RenderUsageBar(5, 5, 10, 4, true), "\u2588\u2588\u2591\u2591");
  EXPECT_EQ(RenderUsageBar(0, 0, 10, 10, false), "");
  EXPECT_EQ(RenderUsageBar(0, 0, 0, 10, false), "");
}

TEST(RenderUsageBar, AnythingAtAllShowsAtLeastOneCharacter) {
  EXPECT_EQ(RenderUsageBar(1, 0, 1000, 10, false), "#");
  EXPECT_EQ(RenderUsageBar(0, 1, 1000, 10, false), "x");
  EXPECT_EQ(RenderUsageBar(999, 1, 1000, 10, false), "#########x");
}

TEST(RenderUsageBar, NeverExceedsItsWidthEvenForHugeCounts) {
  EXPECT_EQ(RenderUsageBar(4'000'000'000'000'000'000, 0, 4'000'000'000'000'000'000, 5, false),
            "#####");
  EXPECT_EQ(RenderUsageBar(20, 0, 10, 5, false), "#####");
}

TEST(GroupThousands, SeparatesThousandsWithCommas) {
  EXPECT_EQ(GroupThousands(0), "0");
  EXPECT_EQ(GroupThousands(999), "999");
  EXPECT_EQ(GroupThousands(1000), "1,000");
  EXPECT_EQ(GroupThousands(1234567), "1,234,567");
  EXPECT_EQ(GroupThousands(-1234), "-1,234");
  EXPECT_EQ(GroupThousands(-123), "-123");
}

TEST(RenderUsageTable, ShowsOneRowPerPeriodWithRightAlignedNumbersAndABar) {
  const auto rows = UsageRowsFromPoints(UsagePeriod::kHour, kNine, kNoon, ThreeHourPoints());

  // The widest row has the whole bar (40 characters); 2 of 7 denied are 11 of them.
  EXPECT_EQ(RenderUsageTable(UsagePeriod::kHour, rows, false),
            "HOUR (UTC)        TOTAL  VALID  DENIED  CREDITS\n"
            "2024-02-29 09:00      7      5       2        5  "
            "#############################xxxxxxxxxxx\n"
            "2024-02-29 10:00      0      0       0        0\n"
            "2024-02-29 11:00      1      0       1        0  xxxxxx\n");
}

TEST(RenderUsageTable, LabelsFollowThePeriod) {
  const json no_points = json::array();
  EXPECT_EQ(Lines(RenderUsageTable(
                UsagePeriod::kMinute,
                UsageRowsFromPoints(UsagePeriod::kMinute, kNoon, kNoon + kMinute, no_points),
                false))[1],
            "2024-02-29 12:00      0      0       0        0");
  EXPECT_EQ(Lines(RenderUsageTable(
                UsagePeriod::kDay,
                UsageRowsFromPoints(UsagePeriod::kDay, kNoon, kNoon + kMinute, no_points),
                false)),
            (std::vector<std::string>{"DAY (UTC)   TOTAL  VALID  DENIED  CREDITS",
                                      "2024-02-29      0      0       0        0"}));
  EXPECT_EQ(Lines(RenderUsageTable(
                UsagePeriod::kMonth,
                UsageRowsFromPoints(UsagePeriod::kMonth, kNoon, kNoon + kMinute, no_points),
                false))[1],
            "2024-02          0      0       0        0");
}

TEST(RenderUsageTable, AddsAPassedColumnOnlyForRatelimitCalls) {
  const json points = RatelimitPoints();
  const auto rows = UsageRowsFromPoints(UsagePeriod::kHour, kNine, kNine + kHour, points);
  EXPECT_EQ(RenderUsageTable(UsagePeriod::kHour, rows, false),
            "HOUR (UTC)        TOTAL  VALID  PASSED  DENIED  CREDITS\n"
            "2024-02-29 09:00      4      0       3       1        0  "
            "##############################xxxxxxxxxx\n");
}

// 123 million a minute in every column, PASSED included: the widest table we expect.
TEST(RenderUsageTable, LinesStayWithinAHundredColumnsForLargeNumbers) {
  json points = json::array();
  for (const char* code : {"VALID", "RATELIMIT_PASSED", "RATE_LIMITED"}) {
    points.push_back(
        {{"time", kNine}, {"group", code}, {"count", 123'456'789}, {"credits", 999'999'999}});
  }
  const auto rows = UsageRowsFromPoints(UsagePeriod::kMinute, kNine, kNine + 3 * kMinute, points);
  for (bool utf8 : {false, true}) {
    for (const std::string& line : Lines(RenderUsageTable(UsagePeriod::kMinute, rows, utf8))) {
      EXPECT_LE(DisplayWidth(line), 100u) << line;
    }
  }
}

TEST(UsageTotalsRecord, SumsTheRangeAndNamesTheDeniedCodes) {
  const auto rows = UsageRowsFromPoints(UsagePeriod::kHour, kNine, kNoon, ThreeHourPoints());
  const UsageReportScope scope{"key key_1", UsagePeriod::kHour, kNine, kNoon};

  EXPECT_EQ(RenderRecord(UsageTotalsRecord(scope, rows, false)),
            "Scope    key key_1\n"
            "Range    2024-02-29T09:00:00Z to 2024-02-29T12:00:00Z, 3 hours\n"
            "Total    8\n"
            "Valid    5 (62.5%)\n"
            "Denied   3 (37.5%): 2 RATE_LIMITED, 1 NOT_FOUND\n"
            "Credits  5\n"
            "Bars     # valid, x denied; the longest is 7\n");
}

TEST(UsageTotalsRecord, SaysPassedForRatelimitCallsAndUsesTheUtf8Glyphs) {
  const json points = RatelimitPoints();
  const auto rows = UsageRowsFromPoints(UsagePeriod::kMinute, kNine, kNine + kMinute, points);
  const UsageReportScope scope{"identity user_42", UsagePeriod::kMinute, kNine, kNine + kMinute};

  const RecordFields fields = UsageTotalsRecord(scope, rows, true);
  const RecordFields expected{
      {"Scope", "identity user_42"},
      {"Range", "2024-02-29T09:00:00Z to 2024-02-29T09:01:00Z, 1 minute"},
      {"Total", "4"},
      {"Valid", "0 (0.0%)"},
      {"Passed", "3 (75.0%)"},
      {"Denied", "1 (25.0%): 1 RATELIMIT_DENIED"},
      {"Credits", "0"},
      {"Bars", "\u2588 valid or passed, \u2591 denied; the longest is 4"},
  };
  EXPECT_EQ(fields, expected);
}

TEST(UsageTotalsRecord, NoUsageIsZerosWithoutShares) {
  const auto rows = UsageRowsFromPoints(UsagePeriod::kDay, kNine, kNoon, json::array());
  const UsageReportScope scope{"everything", UsagePeriod::kDay, At("2024-02-29"), kNoon};
  EXPECT_EQ(RenderRecord(UsageTotalsRecord(scope, rows, false)),
            "Scope    everything\n"
            "Range    2024-02-29T00:00:00Z to 2024-02-29T12:00:00Z, 1 day\n"
            "Total    0\n"
            "Valid    0\n"
            "Denied   0\n"
            "Credits  0\n");
}

TEST(RenderUsageTopTable, ListsTheEntriesWithRightAlignedNumbers) {
  const json entries = json::parse(R"([
    {"keyId": "key_busy", "count": 12345, "valid": 12000, "credits": 12000},
    {"keyId": "key_2", "count": 7, "valid": 7, "credits": 0}
  ])");
  EXPECT_EQ(RenderUsageTopTable(entries, "keyId", "KEY ID"),
            "KEY ID     TOTAL   VALID  CREDITS\n"
            "key_busy  12,345  12,000   12,000\n"
            "key_2          7       7        0\n");
}

}  // namespace
}  // namespace tollgate
