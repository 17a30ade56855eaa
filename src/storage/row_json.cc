#include "storage/row_json.h"

#include <cstdint>

namespace tollgate::storage {
namespace {

constexpr std::string_view kRefillDaily = "daily";
constexpr std::string_view kRefillMonthly = "monthly";

}  // namespace

std::string DumpJson(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string EncodeStrings(const std::vector<std::string>& values) {
  return DumpJson(nlohmann::json(values));
}

std::string EncodeRateLimits(const std::vector<RateLimitConfig>& ratelimits) {
  auto array = nlohmann::json::array();
  for (const auto& ratelimit : ratelimits) {
    array.push_back({{"id", ratelimit.id},
                     {"name", ratelimit.name},
                     {"limit", ratelimit.limit},
                     {"duration", ratelimit.duration_ms},
                     {"autoApply", ratelimit.auto_apply},
                     {"algorithm", RateLimitAlgorithmName(ratelimit.algorithm)}});
  }
  return DumpJson(array);
}

// "[]" is what most rows hold (no permissions, no roles, no limits): answered without a parse,
// which is most of what loading a million keys at start costs.
std::optional<std::vector<std::string>> DecodeStrings(const std::string& text) {
  if (text == "[]") return std::vector<std::string>{};
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return std::nullopt;
  std::vector<std::string> values;
  values.reserve(json.size());
  for (const auto& item : json) {
    if (!item.is_string()) return std::nullopt;
    values.push_back(item.get_ref<const std::string&>());
  }
  return values;
}

std::optional<std::vector<RateLimitConfig>> DecodeRateLimits(const std::string& text) {
  if (text == "[]") return std::vector<RateLimitConfig>{};
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return std::nullopt;
  std::vector<RateLimitConfig> ratelimits;
  ratelimits.reserve(json.size());
  for (const auto& item : json) {
    if (!item.is_object()) return std::nullopt;
    const auto id = item.find("id");
    const auto name = item.find("name");
    const auto limit = item.find("limit");
    const auto duration = item.find("duration");
    const auto auto_apply = item.find("autoApply");
    const auto algorithm_name = item.find("algorithm");  // absent in rows written before v2
    if (id == item.end() || !id->is_string() || name == item.end() || !name->is_string() ||
        limit == item.end() || !limit->is_number_integer() || duration == item.end() ||
        !duration->is_number_integer() || auto_apply == item.end() || !auto_apply->is_boolean()) {
      return std::nullopt;
    }
    auto algorithm = std::optional(RateLimitAlgorithm::kSlidingWindow);
    if (algorithm_name != item.end()) {
      if (!algorithm_name->is_string()) return std::nullopt;
      algorithm = ParseRateLimitAlgorithm(algorithm_name->get_ref<const std::string&>());
      if (!algorithm) return std::nullopt;
    }
    ratelimits.push_back(RateLimitConfig{
        .id = id->get<std::string>(),
        .name = name->get<std::string>(),
        .limit = limit->get<std::int64_t>(),
        .duration_ms = duration->get<std::int64_t>(),
        .auto_apply = auto_apply->get<bool>(),
        .algorithm = *algorithm,
    });
  }
  return ratelimits;
}

std::string_view RefillIntervalText(RefillInterval interval) {
  return interval == RefillInterval::kMonthly ? kRefillMonthly : kRefillDaily;
}

std::optional<RefillInterval> ParseRefillInterval(std::string_view text) {
  if (text == kRefillDaily) return RefillInterval::kDaily;
  if (text == kRefillMonthly) return RefillInterval::kMonthly;
  return std::nullopt;
}

}  // namespace tollgate::storage
