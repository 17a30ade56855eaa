#include "keys/rate_limit_validation.h"

#include "common/text.h"

namespace tollgate {

void ValidateRateLimitConfigs(const std::vector<RateLimitConfig>& limits, const std::string& at,
                              std::vector<FieldError>& errors) {
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const std::string item = at + "[" + std::to_string(i) + "]";
    const RateLimitConfig& limit = limits[i];
    if (!IsValidLimitName(limit.name)) {
      errors.push_back({item + ".name", "must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'", ""});
    }
    if (limit.limit < 1) errors.push_back({item + ".limit", "must be at least 1", ""});
    if (limit.duration_ms < kMinRateLimitDurationMs) {
      errors.push_back({item + ".duration", "must be at least 1000 (milliseconds)",
                        "durations are in milliseconds: 60000 is one minute"});
    }
    if (const std::string problem = RateLimitBoundsProblem(limit.limit, limit.duration_ms); !problem.empty()) {
      errors.push_back({item + ".duration", problem, ""});
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (limits[j].name == limit.name) {
        errors.push_back({item + ".name", "duplicates the name '" + limit.name + "'", ""});
      }
    }
  }
}

}  // namespace tollgate
