#include "tiers/meter_pricing.h"

#include <algorithm>

namespace tollgate {
namespace {

std::string SliceField(std::size_t i, const char* name) { return "slices[" + std::to_string(i) + "]." + name; }

}  // namespace

std::string_view OverageModelName(OverageModel model) {
  return model == OverageModel::kVolume ? "volume" : "graduated";
}

std::optional<OverageModel> ParseOverageModel(std::string_view name) {
  if (name == "graduated") return OverageModel::kGraduated;
  if (name == "volume") return OverageModel::kVolume;
  return std::nullopt;
}

nlohmann::json MeterPricingsToJson(const std::vector<MeterPricing>& meters) {
  nlohmann::json array = nlohmann::json::array();
  for (const MeterPricing& meter : meters) {
    nlohmann::json slices = nlohmann::json::array();
    for (const PriceSlice& slice : meter.slices) {
      nlohmann::json item = {{"priceMicros", slice.price_micros}};
      if (slice.up_to) item["upTo"] = *slice.up_to;
      slices.push_back(std::move(item));
    }
    array.push_back({{"meter", meter.meter},
                     {"included", meter.included},
                     {"model", OverageModelName(meter.model)},
                     {"packageSize", meter.package_size},
                     {"slices", std::move(slices)}});
  }
  return array;
}

std::optional<std::vector<MeterPricing>> MeterPricingsFromJson(const nlohmann::json& json) {
  if (!json.is_array()) return std::nullopt;
  std::vector<MeterPricing> meters;
  try {
    for (const nlohmann::json& item : json) {
      MeterPricing meter;
      meter.meter = item.at("meter").get<std::string>();
      meter.included = item.at("included").get<std::int64_t>();
      const auto model = ParseOverageModel(item.at("model").get<std::string>());
      if (!model) return std::nullopt;
      meter.model = *model;
      meter.package_size = item.at("packageSize").get<std::int64_t>();
      for (const nlohmann::json& slice : item.at("slices")) {
        PriceSlice parsed;
        parsed.price_micros = slice.at("priceMicros").get<std::int64_t>();
        if (slice.contains("upTo")) parsed.up_to = slice.at("upTo").get<std::int64_t>();
        meter.slices.push_back(parsed);
      }
      meters.push_back(std::move(meter));
    }
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return meters;
}

std::vector<PricingProblem> ValidateMeterPricing(const MeterPricing& pricing) {
  std::vector<PricingProblem> problems;
  if (pricing.included < 0) problems.push_back({"included", "must not be negative"});
  if (pricing.package_size < 1) problems.push_back({"packageSize", "must be at least 1"});
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < pricing.slices.size(); ++i) {
    const PriceSlice& slice = pricing.slices[i];
    const bool last = i + 1 == pricing.slices.size();
    if (slice.price_micros < 0) problems.push_back({SliceField(i, "priceMicros"), "must not be negative"});
    if (last) {
      if (slice.up_to) problems.push_back({SliceField(i, "upTo"), "must be left out on the last slice (it has no end)"});
      continue;
    }
    if (!slice.up_to) {
      problems.push_back({SliceField(i, "upTo"), "is required on every slice but the last"});
      continue;
    }
    if (*slice.up_to <= previous) {
      problems.push_back({SliceField(i, "upTo"), "must be greater than the previous slice's (" + std::to_string(previous) + ")"});
    } else if (pricing.package_size >= 1 && *slice.up_to % pricing.package_size != 0) {
      problems.push_back({SliceField(i, "upTo"), "must be a multiple of packageSize (" +
                                                     std::to_string(pricing.package_size) +
                                                     "), so no package straddles two slices"});
    }
    previous = std::max(previous, *slice.up_to);
  }
  return problems;
}

}  // namespace tollgate
