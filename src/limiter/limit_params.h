// What the four limiter algorithms share: the numbers that define one limit at one request, the
// bounds that keep every algorithm's integer arithmetic exact and overflow-free, and the check of
// a CheckAndCharge call against those bounds (used by every CounterStore before deciding).
#pragma once

#include <cstdint>
#include <limits>
#include <span>

#include "common/clock.h"
#include "common/result.h"
#include "limiter/counter_store.h"

namespace tollgate {

// One limit as seen by one request. Every algorithm's Decide/Peek requires IsValid(params) and
// 0 <= now <= kMaxNow; CounterStores establish both with ValidateLimitChecks before deciding.
struct LimitParams {
  std::int64_t limit = 0;      // cost admitted per window (the burst for token bucket and GCRA)
  std::int64_t window_ms = 0;  // length of the window; also the time the whole limit takes to refill
  std::int64_t cost = 1;       // 0 asks without charging; cost > limit is always denied
};

inline LimitParams ParamsOf(const LimitCheck& check) {
  return {check.limit, check.window_ms, check.cost};
}

// limit × window_ms must not exceed 2^62: the algorithms compare counts scaled by the window (and
// sums of two such products) in int64 without rounding. 2^62 allows e.g. 10^9 per 53 days or
// 10^6 per 34 years.
inline constexpr std::int64_t kMaxLimitTimesWindow = std::int64_t{1} << 62;
// Windows up to 2^40 ms (34 years) and instants up to 2^53 ms (year 287 396) keep every
// "instant + 2 windows" the algorithms compute far inside int64.
inline constexpr std::int64_t kMaxWindowMs = std::int64_t{1} << 40;
inline constexpr UnixMillis kMaxNow = std::int64_t{1} << 53;

bool IsValid(const LimitParams& params);

// InvalidInput naming the first offending field ("checks[1].windowMs ...") when a check has an
// empty counter_key, an unknown algorithm, limit < 1, window_ms outside [1, kMaxWindowMs],
// cost < 0 or limit × window_ms > kMaxLimitTimesWindow, or when one counter_key appears twice
// (a counter is charged at most once per call); InvalidInput without a field when now is
// outside [0, kMaxNow].
Status ValidateLimitChecks(std::span<const LimitCheck> checks, UnixMillis now);

// Integer helpers shared by the algorithms. Both require b > 0 and a >= 0.
inline std::int64_t CeilDiv(std::int64_t a, std::int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }
// Start of the window of length window_ms, aligned to the Unix epoch, that contains now (>= 0).
inline UnixMillis AlignedWindowStart(UnixMillis now, std::int64_t window_ms) {
  return now - now % window_ms;
}

}  // namespace tollgate
