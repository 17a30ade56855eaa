#include "billing/pricing.h"

#include <limits>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

constexpr std::int64_t kCent = kMicrosPerMinor;  // a price of one cent, in micro-units

// The example: the first 1M over the quota at 0.50 per 1,000, beyond that 0.30 per 1,000.
MeterPricing TokensPricing(OverageModel model) {
  return MeterPricing{.meter = "tokens",
                      .included = 100'000,
                      .model = model,
                      .package_size = 1'000,
                      .slices = {{1'000'000, 50 * kCent}, {std::nullopt, 30 * kCent}}};
}

TEST(PriceOverageTest, NothingPastTheIncludedQuantityCostsNothing) {
  for (std::int64_t used : {0, 1, 99'999, 100'000}) {
    auto charge = PriceOverage(TokensPricing(OverageModel::kGraduated), used);
    ASSERT_TRUE(charge.has_value());
    EXPECT_EQ(charge->quantity, 0) << used;
    EXPECT_EQ(charge->amount_minor, 0) << used;
    EXPECT_TRUE(charge->slices.empty()) << used;
  }
}

TEST(PriceOverageTest, GraduatedPricesEachSliceAtItsOwnPrice) {
  // 2.5M over: 1M at 50 cents per 1,000 (1000 packages = 500.00) + 1.5M at 30 cents (450.00).
  auto charge = PriceOverage(TokensPricing(OverageModel::kGraduated), 100'000 + 2'500'000);
  ASSERT_TRUE(charge.has_value());
  EXPECT_EQ(charge->quantity, 2'500'000);
  ASSERT_EQ(charge->slices.size(), 2u);
  EXPECT_EQ(charge->slices[0].quantity, 1'000'000);
  EXPECT_EQ(charge->slices[0].packages, 1'000);
  EXPECT_EQ(charge->slices[1].quantity, 1'500'000);
  EXPECT_EQ(charge->slices[1].packages, 1'500);
  EXPECT_EQ(charge->amount_minor, 50'000 + 45'000);
}

TEST(PriceOverageTest, VolumePricesTheWholeQuantityAtTheSliceItReaches) {
  // 2.5M over reaches the second slice: all 2,500 packages at 30 cents.
  auto charge = PriceOverage(TokensPricing(OverageModel::kVolume), 100'000 + 2'500'000);
  ASSERT_TRUE(charge.has_value());
  ASSERT_EQ(charge->slices.size(), 1u);
  EXPECT_EQ(charge->slices[0].packages, 2'500);
  EXPECT_EQ(charge->slices[0].price_micros, 30 * kCent);
  EXPECT_EQ(charge->amount_minor, 75'000);
}

TEST(PriceOverageTest, ExactlyAtASliceBoundaryStaysInTheLowerSlice) {
  const std::int64_t used = 100'000 + 1'000'000;
  auto graduated = PriceOverage(TokensPricing(OverageModel::kGraduated), used);
  ASSERT_TRUE(graduated.has_value());
  ASSERT_EQ(graduated->slices.size(), 1u);
  EXPECT_EQ(graduated->amount_minor, 50'000);
  auto volume = PriceOverage(TokensPricing(OverageModel::kVolume), used);
  ASSERT_TRUE(volume.has_value());
  EXPECT_EQ(volume->slices[0].price_micros, 50 * kCent);
  EXPECT_EQ(volume->amount_minor, 50'000);
  // One unit more opens the next slice: a started package is charged whole.
  auto over = PriceOverage(TokensPricing(OverageModel::kGraduated), used + 1);
  ASSERT_TRUE(over.has_value());
  ASSERT_EQ(over->slices.size(), 2u);
  EXPECT_EQ(over->slices[1].quantity, 1);
  EXPECT_EQ(over->slices[1].packages, 1);
  EXPECT_EQ(over->amount_minor, 50'000 + 30);
}

TEST(PriceOverageTest, StartedPackagesAreChargedWhole) {
  auto charge = PriceOverage(TokensPricing(OverageModel::kGraduated), 100'000 + 1);
  ASSERT_TRUE(charge.has_value());
  EXPECT_EQ(charge->slices[0].packages, 1);
  EXPECT_EQ(charge->amount_minor, 50);
}

TEST(PriceOverageTest, PerUnitMicroPricesRoundOncePerLineHalfUp) {
  // 0.0004 cents per request: 1,249 requests = 0.4996 cents -> 0; 1,250 = 0.5 -> 1; 3,749 -> 1.
  const MeterPricing requests{.meter = "requests", .slices = {{std::nullopt, 400}}};
  EXPECT_EQ(PriceOverage(requests, 1'249)->amount_minor, 0);
  EXPECT_EQ(PriceOverage(requests, 1'250)->amount_minor, 1);
  EXPECT_EQ(PriceOverage(requests, 3'749)->amount_minor, 1);
  EXPECT_EQ(PriceOverage(requests, 3'750)->amount_minor, 2);
  // Rounding per line, not per slice: two slices of 0.3 cents each make 0.6 -> 1 cent, where
  // rounding each slice would give 0.
  const MeterPricing two{.meter = "x", .slices = {{1, 300'000}, {std::nullopt, 300'000}}};
  auto charge = PriceOverage(two, 2);
  ASSERT_TRUE(charge.has_value());
  EXPECT_EQ(charge->slices.size(), 2u);
  EXPECT_EQ(charge->amount_minor, 1);
}

TEST(PriceOverageTest, VeryLargeCountsDoNotOverflow) {
  // 9.2e18 units at 1,000 micros each is 9.2e21 micros: past int64 in micros, fine in 128 bits,
  // and 9.2e15 cents fits the answer.
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  const MeterPricing cheap{.meter = "requests", .slices = {{std::nullopt, 1'000}}};
  auto charge = PriceOverage(cheap, huge);
  ASSERT_TRUE(charge.has_value()) << charge.error().detail;
  EXPECT_EQ(charge->quantity, huge);
  EXPECT_EQ(charge->amount_minor, 9'223'372'036'854'776);  // 9223372036854775.807 -> ...776
  // A total past int64 minor units is an error, not a wrapped number.
  const MeterPricing dear{.meter = "requests", .slices = {{std::nullopt, 100 * kCent}}};
  auto too_much = PriceOverage(dear, huge);
  ASSERT_FALSE(too_much.has_value());
  EXPECT_EQ(too_much.error().code, ErrorCode::kInvalidInput);
}

TEST(PriceOverageTest, NoSlicesMeansFreeOverage) {
  const MeterPricing free{.meter = "requests", .included = 10};
  auto charge = PriceOverage(free, 1'000);
  ASSERT_TRUE(charge.has_value());
  EXPECT_EQ(charge->quantity, 990);
  EXPECT_EQ(charge->amount_minor, 0);
}

TEST(ProrateTest, SharesOfAMonthRoundHalfUp) {
  // 30-day month, 29.00 fee: 10 days = 9.666.. -> 9.67; 15 days = 14.50 exactly.
  constexpr std::int64_t kDay = 86'400'000;
  EXPECT_EQ(Prorate(2'900, 10 * kDay, 30 * kDay), 967);
  EXPECT_EQ(Prorate(2'900, 15 * kDay, 30 * kDay), 1'450);
  EXPECT_EQ(Prorate(2'900, 0, 30 * kDay), 0);
  EXPECT_EQ(Prorate(2'900, 30 * kDay, 30 * kDay), 2'900);
  EXPECT_EQ(Prorate(1, 1, 2), 1);   // exactly half a cent rounds up
  EXPECT_EQ(Prorate(1, 1, 3), 0);
  EXPECT_EQ(Prorate(-1, 1, 2), -1);  // credits round half away from zero
  // Huge amounts over millisecond periods stay exact.
  EXPECT_EQ(Prorate(std::numeric_limits<std::int64_t>::max(), 31 * kDay, 31 * kDay),
            std::numeric_limits<std::int64_t>::max());
}

TEST(RoundMicrosToMinorTest, HalfUp) {
  EXPECT_EQ(RoundMicrosToMinor(499'999), 0);
  EXPECT_EQ(RoundMicrosToMinor(500'000), 1);
  EXPECT_EQ(RoundMicrosToMinor(1'499'999), 1);
  EXPECT_EQ(RoundMicrosToMinor(-500'000), -1);
}

}  // namespace
}  // namespace tollgate
