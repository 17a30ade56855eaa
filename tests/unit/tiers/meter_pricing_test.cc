#include "tiers/meter_pricing.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(ValidateMeterPricingTest, NamesEveryProblem) {
  EXPECT_TRUE(ValidateMeterPricing(MeterPricing{.meter = "tokens", .package_size = 1'000, .slices = {{1'000'000, 50}, {std::nullopt, 30}}}).empty());
  const MeterPricing bad{.meter = "tokens",
                         .included = -1,
                         .package_size = 1'000,
                         .slices = {{1'500, 1}, {1'000, 1}, {std::nullopt, -5}, {5'000, 1}}};
  const auto problems = ValidateMeterPricing(bad);
  std::vector<std::string> fields;
  for (const auto& p : problems) fields.push_back(p.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"included", "slices[0].upTo", "slices[1].upTo", "slices[2].priceMicros",
                                              "slices[2].upTo", "slices[3].upTo"}));
}

TEST(MeterPricingJsonTest, WritesTheApiShape) {
  const MeterPricing tokens{.meter = "tokens",
                            .included = 5,
                            .model = OverageModel::kVolume,
                            .package_size = 1'000,
                            .slices = {{1'000, 7}, {std::nullopt, 3}}};
  EXPECT_EQ(MeterPricingsToJson({tokens}).dump(),
            R"([{"included":5,"meter":"tokens","model":"volume","packageSize":1000,)"
            R"("slices":[{"priceMicros":7,"upTo":1000},{"priceMicros":3}]}])");
  EXPECT_EQ(ParseOverageModel("graduated"), OverageModel::kGraduated);
  EXPECT_EQ(ParseOverageModel("volume"), OverageModel::kVolume);
  EXPECT_FALSE(ParseOverageModel("tiered").has_value());
}

}  // namespace
}  // namespace tollgate
