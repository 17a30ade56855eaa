// The rules' arithmetic: which values a rule may hold, its default resolve threshold, whether it
// watches a subject, and the hysteresis decision for one measured value. Pure functions.
//
// Hysteresis (Lago's trigger / resolve): an alert fires when the value crosses the threshold and
// stays firing until the value comes back past the resolve threshold, which lies on the other
// side of the threshold. In between, nothing changes: a value that wobbles around the threshold
// fires once, not on every wobble.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "alerts/model.h"
#include "common/result.h"

namespace tollgate {

inline constexpr std::int64_t kMaxQuotaPercent = 1000;
inline constexpr std::int64_t kMaxAlertThreshold = 1'000'000'000'000'000;  // 10^18: no overflow
inline constexpr std::int64_t kMaxWindowSeconds = 86'400;
inline constexpr std::int64_t kDefaultWindowSeconds = 60;

// quota_percent: threshold - 5 (at least 0); credits_below: threshold + max(1, threshold / 10);
// ratelimit_breaches: threshold / 2 (rounded down).
std::int64_t DefaultResolveThreshold(AlertKind kind, std::int64_t threshold);

// Problems with a rule's numbers, located at body.<field>: the threshold's range per kind, the
// resolve threshold on the right side of it, and a window only for ratelimit_breaches (1..86400).
std::vector<FieldError> CheckRuleNumbers(AlertKind kind, std::int64_t threshold,
                                         std::optional<std::int64_t> resolve_threshold,
                                         std::optional<std::int64_t> window_seconds);

// Whether the rule watches the subject: a global rule every subject, an identity's rule that
// identity's, a tier's rule the subjects whose tier it is now.
bool RuleWatches(const AlertRule& rule, const AlertSubject& subject);

enum class Transition { kNone, kFire, kResolve };
// What `value` means for an alert of `rule` that is open (`open`) or not.
Transition Decide(const AlertRule& rule, std::int64_t value, bool open);

}  // namespace tollgate
