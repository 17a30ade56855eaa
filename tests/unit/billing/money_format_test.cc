#include "billing/money_format.h"

#include <limits>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(CurrencyExponentTest, CentsUnlessTheTableSaysOtherwise) {
  EXPECT_EQ(CurrencyExponent("USD"), 2);
  EXPECT_EQ(CurrencyExponent("EUR"), 2);
  EXPECT_EQ(CurrencyExponent("JPY"), 0);
  EXPECT_EQ(CurrencyExponent("KRW"), 0);
  EXPECT_EQ(CurrencyExponent("KWD"), 3);
  EXPECT_EQ(CurrencyExponent("XYZ"), 2);
  EXPECT_EQ(CurrencyExponent(""), 2);
}

TEST(FormatMinorUnitsTest, ZeroHasTheCurrencysDecimals) {
  EXPECT_EQ(FormatMinorUnits(0, "USD"), "0.00");
  EXPECT_EQ(FormatMinorUnits(0, "JPY"), "0");
  EXPECT_EQ(FormatMinorUnits(0, "KWD"), "0.000");
}

TEST(FormatMinorUnitsTest, CentsBecomeDollarsWithGroupedThousands) {
  EXPECT_EQ(FormatMinorUnits(1, "USD"), "0.01");
  EXPECT_EQ(FormatMinorUnits(50, "EUR"), "0.50");
  EXPECT_EQ(FormatMinorUnits(4'900, "USD"), "49.00");
  EXPECT_EQ(FormatMinorUnits(123'456, "USD"), "1,234.56");
  EXPECT_EQ(FormatMinorUnits(123'456, "USD", DigitGrouping::kNone), "1234.56");
  EXPECT_EQ(FormatMinorUnits(1'234'567, "KWD"), "1,234.567");
}

TEST(FormatMinorUnitsTest, NegativeAdjustmentsKeepTheirSignAndCents) {
  EXPECT_EQ(FormatMinorUnits(-5, "USD"), "-0.05");
  EXPECT_EQ(FormatMinorUnits(-99, "USD"), "-0.99");
  EXPECT_EQ(FormatMinorUnits(-100, "USD"), "-1.00");
  EXPECT_EQ(FormatMinorUnits(-123'456'789, "USD"), "-1,234,567.89");
  EXPECT_EQ(FormatMinorUnits(-1'500, "JPY"), "-1,500");
}

TEST(FormatMinorUnitsTest, ZeroDecimalCurrenciesPrintWholeUnits) {
  EXPECT_EQ(FormatMinorUnits(1, "JPY"), "1");
  EXPECT_EQ(FormatMinorUnits(1'500, "JPY"), "1,500");
  EXPECT_EQ(FormatMinorUnits(12'345'678, "KRW"), "12,345,678");
  EXPECT_EQ(FormatMinorUnits(12'345'678, "KRW", DigitGrouping::kNone), "12345678");
}

TEST(FormatMinorUnitsTest, TheLargestAmountsPrintEveryDigit) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();  // 9223372036854775807
  EXPECT_EQ(FormatMinorUnits(kMax, "USD"), "92,233,720,368,547,758.07");
  EXPECT_EQ(FormatMinorUnits(kMax, "USD", DigitGrouping::kNone), "92233720368547758.07");
  EXPECT_EQ(FormatMinorUnits(-kMax, "USD"), "-92,233,720,368,547,758.07");
  EXPECT_EQ(FormatMinorUnits(std::numeric_limits<std::int64_t>::min(), "USD"), "-92,233,720,368,547,758.08");
  EXPECT_EQ(FormatMinorUnits(kMax, "JPY"), "9,223,372,036,854,775,807");
}

TEST(FormatMicroUnitsTest, PricesShowTheCurrencysDecimalsAndAsManyMoreAsThePriceHas) {
  EXPECT_EQ(FormatMicroUnits(0, "USD"), "0.00");
  EXPECT_EQ(FormatMicroUnits(50'000'000, "USD"), "0.50");       // 50 cents (0.50 per 1,000 tokens)
  EXPECT_EQ(FormatMicroUnits(4'900'000'000, "USD"), "49.00");   // a base fee of 49.00
  EXPECT_EQ(FormatMicroUnits(1'000'000, "USD"), "0.01");        // one cent
  EXPECT_EQ(FormatMicroUnits(1'500'000, "USD"), "0.015");       // a cent and a half
  EXPECT_EQ(FormatMicroUnits(1, "USD"), "0.00000001");          // the smallest price there is
}

TEST(FormatMicroUnitsTest, FourHundredMicrosIsFourTenThousandthsOfTheMinorUnit) {
  // 400 micro-units = 0.0004 of the minor unit: of a cent in USD ($0.000004), of a yen in JPY.
  EXPECT_EQ(FormatMicroUnits(400, "USD"), "0.000004");
  EXPECT_EQ(FormatMicroUnits(400, "JPY"), "0.0004");
  EXPECT_EQ(FormatMicroUnits(-400, "JPY"), "-0.0004");
  EXPECT_EQ(FormatMicroUnits(5'000'000, "JPY"), "5");
  EXPECT_EQ(FormatMicroUnits(1'234'500'000'000, "JPY"), "1,234,500");
  EXPECT_EQ(FormatMicroUnits(1'234'500'000'000, "USD", DigitGrouping::kNone), "12345.00");
}

TEST(FormatMicroUnitsTest, LargePricesAreExact) {
  EXPECT_EQ(FormatMicroUnits(std::numeric_limits<std::int64_t>::max(), "USD"), "92,233,720,368.54775807");
  EXPECT_EQ(FormatMicroUnits(std::numeric_limits<std::int64_t>::max(), "KWD"), "9,223,372,036.854775807");
}

}  // namespace
}  // namespace tollgate
