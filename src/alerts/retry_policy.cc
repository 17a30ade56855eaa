#include "alerts/retry_policy.h"

#include <algorithm>

namespace tollgate {

std::int64_t RetryDelayMs(const RetryPolicy& policy, std::int64_t failed_attempts, double unit) {
  const std::int64_t cap = std::max<std::int64_t>(policy.max_ms, 1);
  std::int64_t delay = std::clamp<std::int64_t>(policy.base_ms, 1, cap);
  // Doubling stops at the cap, so no power of two is ever computed that could overflow.
  for (std::int64_t i = 1; i < failed_attempts && delay < cap; ++i) delay = std::min(cap, delay * 2);
  unit = std::clamp(unit, 0.0, 1.0);
  return delay / 2 + static_cast<std::int64_t>(unit * static_cast<double>(delay - delay / 2));
}

}  // namespace tollgate
