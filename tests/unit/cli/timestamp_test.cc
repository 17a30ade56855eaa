#include "cli/timestamp.h"

#include <string>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

// 2024-02-29T12:34:56.789Z: a leap day, with milliseconds that the display drops.
constexpr UnixMillis kLeapDayNoon = 1'709'210'096'789;

TEST(FormatTimestamp, PrintsIsoUtcToTheSecond) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(kLeapDayNoon), "2024-02-29T12:34:56Z");
  EXPECT_EQ(FormatTimestamp(1'735'689'599'999), "2024-12-31T23:59:59Z");
}

TEST(FormatTimestamp, HandlesTimesBeforeTheEpoch) {
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatTimestamp(-1'000), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatTimestamp(-1'001), "1969-12-31T23:59:58Z");
}

TEST(ParseTimestamp, AcceptsWhatFormatPrints) {
  EXPECT_EQ(ParseTimestamp("2024-02-29T12:34:56Z"), kLeapDayNoon - 789);
  EXPECT_EQ(ParseTimestamp(FormatTimestamp(kLeapDayNoon)), kLeapDayNoon - 789);
}

TEST(ParseTimestamp, AcceptsDatesAsMidnightUtc) {
  EXPECT_EQ(ParseTimestamp("1970-01-02"), 86'400'000);
}

TEST(ParseTimestamp, AcceptsUnixMilliseconds) {
  EXPECT_EQ(ParseTimestamp("1709210096789"), kLeapDayNoon);
  EXPECT_EQ(ParseTimestamp("0"), 0);
}

TEST(ParseTimestamp, RejectsOtherFormsAndImpossibleDates) {
  for (const char* text :
       {"", "yesterday", "2024-02-30", "2023-02-29", "2024-13-01", "2024-1-01",
        "2024-02-29T24:00:00Z", "2024-02-29T12:60:00Z", "2024-02-29T12:34:56",
        "2024-02-29T12:34:56+02:00", "2024-02-29 12:34:56Z", "-5", "99999999999999999999"}) {
    const auto parsed = ParseTimestamp(text);
    ASSERT_FALSE(parsed) << '"' << text << '"';
    EXPECT_NE(parsed.error().detail.find("ISO-8601"), std::string::npos);
  }
}

}  // namespace
}  // namespace tollgate
