#include "http/tier_json.h"

#include "http/key_json.h"
#include "tiers/meter_pricing.h"

namespace tollgate {

nlohmann::json TierToJson(const Tier& tier) {
  nlohmann::json limits = nlohmann::json::array();
  for (const RateLimitConfig& limit : tier.ratelimits) {
    limits.push_back({{"name", limit.name}, {"limit", limit.limit}, {"duration", limit.duration_ms},
                      {"algorithm", RateLimitAlgorithmName(limit.algorithm)}});
  }
  return {
      {"name", tier.name},
      {"description", tier.description},
      {"ratelimits", std::move(limits)},
      {"includedQuota", tier.included_quota ? nlohmann::json(*tier.included_quota) : nlohmann::json(nullptr)},
      {"overagePolicy", OveragePolicyName(tier.overage_policy)},
      {"throttleTo", tier.throttle_to.empty() ? nlohmann::json(nullptr) : nlohmann::json(tier.throttle_to)},
      {"gracePercent", tier.grace_percent},
      {"pricing",
       {{"currency", tier.pricing.currency},
        {"baseFee", tier.pricing.base_fee_minor},
        {"overageUnitPriceMicros", tier.pricing.overage_unit_price_micros},
        {"meters", MeterPricingsToJson(tier.pricing.meters)}}},
      {"builtin", tier.builtin},
      {"createdAt", tier.created_at},
      {"updatedAt", tier.updated_at},
  };
}

namespace {

// pricing.meters[]: see tiers/meter_pricing.h for the shape. Ranges are checked here, the rules
// between fields (slice order, packages) by TierService.
std::vector<PriceSlice> ReadSlices(const nlohmann::json& array, const std::string& location,
                                   std::vector<FieldError>& errors) {
  std::vector<PriceSlice> slices;
  for (std::size_t i = 0; i < array.size(); ++i) {
    const std::string at = location + "[" + std::to_string(i) + "]";
    if (!array[i].is_object()) {
      errors.push_back({at, "must be an object {upTo?, priceMicros}", ""});
      continue;
    }
    FieldReader reader(array[i], at, errors);
    PriceSlice slice;
    slice.up_to = reader.OptionalInt("upTo", 1);
    slice.price_micros = reader.RequiredInt("priceMicros", 0);
    slices.push_back(slice);
  }
  return slices;
}

std::vector<MeterPricing> ReadMeterPricings(const nlohmann::json& array, const std::string& location,
                                            std::vector<FieldError>& errors) {
  std::vector<MeterPricing> meters;
  for (std::size_t i = 0; i < array.size(); ++i) {
    const std::string at = location + "[" + std::to_string(i) + "]";
    if (!array[i].is_object()) {
      errors.push_back({at, "must be an object {meter, included?, model?, packageSize?, slices}", ""});
      continue;
    }
    FieldReader reader(array[i], at, errors);
    MeterPricing meter;
    meter.meter = reader.RequiredString("meter", 1, 64);
    meter.included = reader.OptionalInt("included", 0).value_or(0);
    if (const auto model = reader.OptionalString("model")) {
      if (const auto parsed = ParseOverageModel(*model)) {
        meter.model = *parsed;
      } else {
        reader.AddError(reader.At("model"), "must be \"graduated\" or \"volume\"");
      }
    }
    meter.package_size = reader.OptionalInt("packageSize", 1).value_or(1);
    if (const nlohmann::json* slices = reader.OptionalArray("slices")) {
      meter.slices = ReadSlices(*slices, reader.At("slices"), errors);
    }
    meters.push_back(std::move(meter));
  }
  return meters;
}

}  // namespace

UpdateTierParams ReadTierFields(FieldReader& reader) {
  UpdateTierParams params;
  params.name = reader.RequiredString("name", 1, 64);
  params.description = reader.OptionalString("description", 0, 1024);
  if (const nlohmann::json* limits = reader.OptionalArray("ratelimits")) {
    params.ratelimits = ReadRateLimits(*limits, reader.At("ratelimits"), reader);
  }
  if (reader.IsNull("includedQuota")) {
    params.included_quota = std::optional<std::int64_t>();
  } else if (const auto quota = reader.OptionalInt("includedQuota", 0)) {
    params.included_quota = std::optional<std::int64_t>(*quota);
  }
  if (const auto policy = reader.OptionalString("overagePolicy")) {
    params.overage_policy = ParseOveragePolicy(*policy);
    if (!params.overage_policy) {
      reader.AddError(reader.At("overagePolicy"), "must be \"block\", \"allow\" or \"throttle\"");
    }
  }
  if (reader.IsNull("throttleTo")) {
    params.throttle_to = "";
  } else {
    params.throttle_to = reader.OptionalString("throttleTo", 1, 64);
  }
  if (const auto grace = reader.OptionalInt("gracePercent", 0, 100)) params.grace_percent = static_cast<int>(*grace);
  if (const nlohmann::json* pricing = reader.OptionalObject("pricing")) {
    std::vector<FieldError> errors;
    FieldReader price(*pricing, reader.At("pricing"), errors);
    params.currency = price.OptionalString("currency", 3, 3);
    params.base_fee_minor = price.OptionalInt("baseFee", 0);
    params.overage_unit_price_micros = price.OptionalInt("overageUnitPriceMicros", 0);
    if (const nlohmann::json* meters = price.OptionalArray("meters")) {
      params.meters = ReadMeterPricings(*meters, price.At("meters"), errors);
    }
    for (auto& e : errors) reader.AddError(e.location, std::move(e.message), std::move(e.fix));
  }
  return params;
}

}  // namespace tollgate
