// Meter pricings (tiers/model.h) as JSON, in the API's shape, which is also how the store keeps
// them, and their validation. The arithmetic that prices usage is in billing/pricing.h.
//
// {"meter": "tokens", "included": 1000000, "model": "graduated", "packageSize": 1000,
//  "slices": [{"upTo": 1000000, "priceMicros": 50000000}, {"priceMicros": 30000000}]}
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tiers/model.h"

namespace tollgate {

std::string_view OverageModelName(OverageModel model);  // "graduated" | "volume"
std::optional<OverageModel> ParseOverageModel(std::string_view name);

nlohmann::json MeterPricingsToJson(const std::vector<MeterPricing>& meters);
// The inverse, for JSON tollgate wrote itself (the store): nullopt when anything is off. The API
// reads user input with field errors instead (http/tier_json.cc).
std::optional<std::vector<MeterPricing>> MeterPricingsFromJson(const nlohmann::json& json);

// A problem with one field of a meter pricing: `field` is relative to the meter ("slices[1].upTo").
struct PricingProblem {
  std::string field;
  std::string message;
};
// Every problem with one meter's pricing (not its name); empty when valid.
std::vector<PricingProblem> ValidateMeterPricing(const MeterPricing& pricing);

}  // namespace tollgate
