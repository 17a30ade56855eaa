#include "common/calendar.h"

#include <string>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

constexpr UnixMillis kHour = 3'600'000;

// CivilDate has no operator==; comparing text also makes failures readable.
std::string Text(CivilDate date) {
  return std::to_string(date.year) + "-" + std::to_string(date.month) + "-" +
         std::to_string(date.day);
}

TEST(CalendarTest, KnownDates) {
  EXPECT_EQ(FromCivil({1970, 1, 1}), 0);
  EXPECT_EQ(FromCivil({2000, 3, 1}), 951'868'800'000);
  EXPECT_EQ(FromCivil({2024, 2, 29}), 1'709'164'800'000);
  EXPECT_EQ(FromCivil({1969, 12, 31}), -kMillisPerDay);
  EXPECT_EQ(Text(ToCivil(0)), "1970-1-1");
  EXPECT_EQ(Text(ToCivil(1'709'164'800'000 + 23 * kHour)), "2024-2-29");
  EXPECT_EQ(Text(ToCivil(-1)), "1969-12-31");
}

TEST(CalendarTest, CivilRoundTrip) {
  // Every day from 1960 to 2100, at midnight and at an arbitrary time of day.
  for (UnixMillis day = FromCivil({1960, 1, 1}); day <= FromCivil({2100, 12, 31});
       day += kMillisPerDay) {
    const CivilDate date = ToCivil(day);
    ASSERT_EQ(FromCivil(date), day);
    ASSERT_EQ(Text(ToCivil(day + 13 * kHour + 12'345)), Text(date));
    ASSERT_EQ(StartOfDay(day + kMillisPerDay - 1), day);
    ASSERT_EQ(StartOfDay(day), day);
  }
}

TEST(CalendarTest, StartOfDayBeforeTheEpochRoundsDown) {
  EXPECT_EQ(StartOfDay(-1), -kMillisPerDay);
  EXPECT_EQ(StartOfDay(-kMillisPerDay), -kMillisPerDay);
  EXPECT_EQ(StartOfDay(-kMillisPerDay - 1), -2 * kMillisPerDay);
}

TEST(CalendarTest, DaysInMonthAndLeapYears) {
  EXPECT_EQ(DaysInMonth(2023, 1), 31u);
  EXPECT_EQ(DaysInMonth(2023, 4), 30u);
  EXPECT_EQ(DaysInMonth(2023, 12), 31u);
  EXPECT_EQ(DaysInMonth(2023, 2), 28u);
  EXPECT_EQ(DaysInMonth(2024, 2), 29u);  // divisible by 4
  EXPECT_EQ(DaysInMonth(1900, 2), 28u);  // by 100 but not 400
  EXPECT_EQ(DaysInMonth(2000, 2), 29u);  // by 400
  EXPECT_EQ(DaysInMonth(2100, 2), 28u);
}

TEST(CalendarTest, MonthlyBoundaryInsideTheMonth) {
  const UnixMillis t = FromCivil({2024, 5, 20}) + 7 * kHour;
  EXPECT_EQ(LastMonthlyBoundary(t, 15), FromCivil({2024, 5, 15}));
  EXPECT_EQ(LastMonthlyBoundary(t, 1), FromCivil({2024, 5, 1}));
  EXPECT_EQ(LastMonthlyBoundary(t, 20), FromCivil({2024, 5, 20}));
}

TEST(CalendarTest, MonthlyBoundaryExactlyAtTheBoundaryIsThatInstant) {
  const UnixMillis boundary = FromCivil({2024, 5, 15});
  EXPECT_EQ(LastMonthlyBoundary(boundary, 15), boundary);
  EXPECT_EQ(LastMonthlyBoundary(boundary + 1, 15), boundary);
}

TEST(CalendarTest, MonthlyBoundaryBeforeThisMonthsFallsBackToThePreviousMonth) {
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 5, 15}) - 1, 15), FromCivil({2024, 4, 15}));
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 5, 3}), 10), FromCivil({2024, 4, 10}));
  // Across the year boundary.
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 1, 5}), 10), FromCivil({2023, 12, 10}));
}

TEST(CalendarTest, Day31ClampsToTheEndOfShortMonths) {
  // In February itself: the 29th (leap) or 28th is this month's boundary.
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 2, 29}) + kHour, 31), FromCivil({2024, 2, 29}));
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2023, 2, 28}) + kHour, 31), FromCivil({2023, 2, 28}));
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 2, 28}) + kHour, 31), FromCivil({2024, 1, 31}));
  // Early March falls back to February's clamped day.
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 3, 10}), 31), FromCivil({2024, 2, 29}));
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2023, 3, 10}), 31), FromCivil({2023, 2, 28}));
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 3, 31}), 31), FromCivil({2024, 3, 31}));
  // A 30-day month, and the month after it.
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 4, 30}), 31), FromCivil({2024, 4, 30}));
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 4, 29}), 31), FromCivil({2024, 3, 31}));
  EXPECT_EQ(LastMonthlyBoundary(FromCivil({2024, 5, 1}), 31), FromCivil({2024, 4, 30}));
}

TEST(CalendarTest, MonthlyBoundaryIsNeverAfterTAndMonotonic) {
  for (unsigned day_of_month : {1u, 15u, 28u, 29u, 30u, 31u}) {
    UnixMillis previous = LastMonthlyBoundary(FromCivil({2023, 1, 1}), day_of_month);
    for (UnixMillis t = FromCivil({2023, 1, 1}); t < FromCivil({2025, 1, 1}); t += 5 * kHour) {
      const UnixMillis boundary = LastMonthlyBoundary(t, day_of_month);
      ASSERT_LE(boundary, t);
      ASSERT_GE(boundary, previous);
      ASSERT_EQ(StartOfDay(boundary), boundary);
      // Less than two months back: the one before is always found.
      ASSERT_LT(t - boundary, 31 * kMillisPerDay + kMillisPerDay);
      previous = boundary;
    }
  }
}

}  // namespace
}  // namespace tollgate
