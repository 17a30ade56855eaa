// The rules every configured rate limit obeys, wherever it is configured (a key, an identity, a
// tier): a safe name, unique in its list, a limit of at least 1 and a window of at least 1 s.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "keys/model.h"

namespace tollgate {

inline constexpr std::int64_t kMinRateLimitDurationMs = 1000;
inline constexpr std::int64_t kMaxRateLimitDurationMs = 366LL * 24 * 3600 * 1000;  // a leap year
// limit × duration must stay within the limiter's exact integer arithmetic (2^62, see
// limiter/limit_params.h); beyond it a limit could never be decided.
inline constexpr std::int64_t kMaxRateLimitProduct = std::int64_t{1} << 62;

// The problem with one limit/duration pair, or "" when it is fine.
inline std::string RateLimitBoundsProblem(std::int64_t limit, std::int64_t duration_ms) {
  if (duration_ms > kMaxRateLimitDurationMs) return "duration must be at most 366 days (31622400000 ms)";
  if (duration_ms > 0 && limit > kMaxRateLimitProduct / duration_ms) {
    return "limit × duration is too large; use a shorter duration or a smaller limit";
  }
  return "";
}

// Appends one FieldError per problem, located under `at` (e.g. "body.ratelimits").
void ValidateRateLimitConfigs(const std::vector<RateLimitConfig>& limits, const std::string& at,
                              std::vector<FieldError>& errors);

}  // namespace tollgate
