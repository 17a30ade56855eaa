#include "limiter/limit_params.h"

#include <string>

namespace tollgate {

bool IsValid(const LimitParams& params) {
  return params.limit >= 1 && params.window_ms >= 1 && params.window_ms <= kMaxWindowMs &&
         params.cost >= 0 && params.limit <= kMaxLimitTimesWindow / params.window_ms;
}

namespace {

Status Invalid(std::size_t index, const char* field, const char* message, const char* fix) {
  std::string location = "checks[" + std::to_string(index) + "]." + field;
  std::string detail = location + " " + message;
  return Fail(Error::InvalidInput(std::move(detail), {{std::move(location), message, fix}}));
}

}  // namespace

Status ValidateLimitChecks(std::span<const LimitCheck> checks, UnixMillis now) {
  if (now < 0 || now > kMaxNow) {
    return Fail(Error::InvalidInput("now must be a Unix time in ms within [0, 2^53]"));
  }
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const LimitCheck& check = checks[i];
    if (check.counter_key.empty()) return Invalid(i, "counterKey", "must not be empty", "");
    switch (check.algorithm) {
      case LimitAlgorithm::kSlidingWindow:
      case LimitAlgorithm::kTokenBucket:
      case LimitAlgorithm::kFixedWindow:
      case LimitAlgorithm::kGcra:
        break;
      default:
        return Invalid(i, "algorithm", "is not a known algorithm", "");
    }
    if (check.limit < 1) return Invalid(i, "limit", "must be at least 1", "");
    if (check.window_ms < 1) return Invalid(i, "windowMs", "must be at least 1", "");
    if (check.window_ms > kMaxWindowMs) return Invalid(i, "windowMs", "must not exceed 2^40 (34 years)", "");
    if (check.cost < 0) return Invalid(i, "cost", "must not be negative", "use 0 to ask without charging");
    if (check.limit > kMaxLimitTimesWindow / check.window_ms) {
      return Invalid(i, "limit", "times windowMs must not exceed 2^62",
                     "use a lower limit or a shorter window");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (checks[j].counter_key == check.counter_key) {
        return Invalid(i, "counterKey", "repeats an earlier check's counter",
                       "charge each counter once per call");
      }
    }
  }
  return {};
}

}  // namespace tollgate
