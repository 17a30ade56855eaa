// When a failed webhook delivery is tried again: exponential backoff with jitter, capped, for a
// bounded number of attempts (--webhook-retry-base-ms, --webhook-retry-max-ms,
// --webhook-max-attempts). The jitter spreads the retries of many deliveries that failed together
// (a receiver that was down) so they do not all come back at the same instant.
#pragma once

#include <cstdint>

namespace tollgate {

struct RetryPolicy {
  std::int64_t base_ms = 1'000;
  std::int64_t max_ms = 600'000;
  std::int64_t max_attempts = 20;  // then the delivery fails for good
};

// The wait after the `failed_attempts`-th failure (1 for the first): d = min(max, base x
// 2^(failed_attempts - 1)), then d/2 + unit x d/2 ("equal jitter": never less than half of d), for
// `unit` in [0, 1) drawn at random by the caller.
std::int64_t RetryDelayMs(const RetryPolicy& policy, std::int64_t failed_attempts, double unit);

}  // namespace tollgate
