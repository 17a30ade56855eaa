// The rules every configured rate limit obeys, wherever it is configured (a key, an identity, a
// tier): a safe name, unique in its list, a limit of at least 1 and a window of at least 1 s.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "keys/model.h"

namespace tollgate {

inline constexpr std::int64_t kMinRateLimitDurationMs = 1000;

// Appends one FieldError per problem, located under `at` (e.g. "body.ratelimits").
void ValidateRateLimitConfigs(const std::vector<RateLimitConfig>& limits, const std::string& at,
                              std::vector<FieldError>& errors);

}  // namespace tollgate
