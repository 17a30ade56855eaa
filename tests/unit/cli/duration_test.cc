#include "cli/duration.h"

#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(ParseDurationMillis, AcceptsEachUnit) {
  EXPECT_EQ(ParseDurationMillis("500ms"), 500);
  EXPECT_EQ(ParseDurationMillis("45s"), 45'000);
  EXPECT_EQ(ParseDurationMillis("15m"), 15 * 60'000);
  EXPECT_EQ(ParseDurationMillis("12h"), 12 * 3'600'000);
  EXPECT_EQ(ParseDurationMillis("30d"), std::int64_t{30} * 86'400'000);
}

TEST(ParseDurationMillis, SumsCompoundDurations) {
  EXPECT_EQ(ParseDurationMillis("1h30m"), 90 * 60'000);
  EXPECT_EQ(ParseDurationMillis("1d12h"), 36 * 3'600'000);
  EXPECT_EQ(ParseDurationMillis("1s500ms"), 1'500);
}

TEST(ParseDurationMillis, AcceptsBareZeroAndZeroWithUnit) {
  EXPECT_EQ(ParseDurationMillis("0"), 0);
  EXPECT_EQ(ParseDurationMillis("0s"), 0);
}

TEST(ParseDurationMillis, RejectsAMissingUnitWithAHint) {
  const auto parsed = ParseDurationMillis("30");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(parsed.error().detail.find("missing unit"), std::string::npos);
  EXPECT_NE(parsed.error().detail.find("30d"), std::string::npos) << "shows an example";
}

TEST(ParseDurationMillis, RejectsUnknownUnits) {
  const auto parsed = ParseDurationMillis("3w");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().detail.find("unknown unit"), std::string::npos);
  EXPECT_FALSE(ParseDurationMillis("10M"));  // units are lower case; M is not months
  EXPECT_FALSE(ParseDurationMillis("1hour"));
}

TEST(ParseDurationMillis, RejectsMalformedText) {
  for (const char* text : {"", "h", "-5m", "+5m", "1.5h", " 5m", "5m ", "5 m", "5mm"}) {
    EXPECT_FALSE(ParseDurationMillis(text)) << '"' << text << '"';
  }
}

TEST(ParseDurationMillis, RejectsOverflowInsteadOfWrapping) {
  EXPECT_FALSE(ParseDurationMillis("99999999999999999999ms"));
  EXPECT_FALSE(ParseDurationMillis("106751991167301d"));  // * 86'400'000 exceeds int64
  EXPECT_FALSE(ParseDurationMillis("9223372036854775807ms1ms"));
  EXPECT_EQ(ParseDurationMillis("9223372036854775807ms"), std::numeric_limits<std::int64_t>::max());
}

TEST(FormatDurationMillis, UsesTheLargestUnitsAndSkipsZeroParts) {
  EXPECT_EQ(FormatDurationMillis(0), "0s");
  EXPECT_EQ(FormatDurationMillis(500), "500ms");
  EXPECT_EQ(FormatDurationMillis(60'000), "1m");
  EXPECT_EQ(FormatDurationMillis(90 * 60'000), "1h30m");
  EXPECT_EQ(FormatDurationMillis(86'400'000), "1d");
  EXPECT_EQ(FormatDurationMillis(86'400'000 + 1'500), "1d1s500ms");
  EXPECT_EQ(FormatDurationMillis(-60'000), "-1m");
  EXPECT_FALSE(FormatDurationMillis(std::numeric_limits<std::int64_t>::min()).empty());
}

TEST(FormatDurationMillis, RoundTripsThroughTheParser) {
  for (std::int64_t millis : {std::int64_t{1}, std::int64_t{999}, std::int64_t{61'001},
                              std::int64_t{3'600'000}, std::int64_t{90'061'001}}) {
    EXPECT_EQ(ParseDurationMillis(FormatDurationMillis(millis)), millis);
  }
}

}  // namespace
}  // namespace tollgate
