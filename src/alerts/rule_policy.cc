#include "alerts/rule_policy.h"

#include <algorithm>
#include <string>

namespace tollgate {
namespace {

// Fires when the value rises to the threshold (quota, breaches) or falls below it (credits).
bool FiresUpward(AlertKind kind) { return kind != AlertKind::kCreditsBelow; }

std::string Number(std::int64_t n) { return std::to_string(n); }

}  // namespace

std::int64_t DefaultResolveThreshold(AlertKind kind, std::int64_t threshold) {
  switch (kind) {
    case AlertKind::kQuotaPercent: return std::max<std::int64_t>(0, threshold - 5);
    case AlertKind::kCreditsBelow: return threshold + std::max<std::int64_t>(1, threshold / 10);
    case AlertKind::kRatelimitBreaches: return threshold / 2;
  }
  return threshold;
}

std::vector<FieldError> CheckRuleNumbers(AlertKind kind, std::int64_t threshold,
                                         std::optional<std::int64_t> resolve_threshold,
                                         std::optional<std::int64_t> window_seconds) {
  std::vector<FieldError> errors;
  const std::int64_t most = kind == AlertKind::kQuotaPercent ? kMaxQuotaPercent : kMaxAlertThreshold;
  if (threshold < 1 || threshold > most) {
    const char* unit = kind == AlertKind::kQuotaPercent ? "a percent of the monthly included quota"
                       : kind == AlertKind::kCreditsBelow ? "a number of remaining credits"
                                                           : "a number of RATE_LIMITED verifications";
    errors.push_back({"body.threshold", "must be between 1 and " + Number(most) + " for " +
                                            std::string(AlertKindName(kind)) + " (" + unit + ")", ""});
  }
  if (resolve_threshold && errors.empty()) {
    const std::int64_t resolve = *resolve_threshold;
    if (FiresUpward(kind) && (resolve < 0 || resolve >= threshold)) {
      errors.push_back({"body.resolveThreshold",
                        "must be between 0 and " + Number(threshold - 1) + ": the alert resolves once the value falls "
                        "back to it, so it must lie below the threshold " + Number(threshold),
                        "leave it out for the default, " + Number(DefaultResolveThreshold(kind, threshold))});
    } else if (!FiresUpward(kind) && (resolve <= threshold || resolve > kMaxAlertThreshold)) {
      errors.push_back({"body.resolveThreshold",
                        "must be above the threshold " + Number(threshold) + ": a credits_below alert resolves once "
                        "the balance is back at or above it",
                        "leave it out for the default, " + Number(DefaultResolveThreshold(kind, threshold))});
    }
  }
  if (window_seconds) {
    if (kind != AlertKind::kRatelimitBreaches) {
      errors.push_back({"body.windowSeconds", "only applies to ratelimit_breaches rules", "remove it"});
    } else if (*window_seconds < 1 || *window_seconds > kMaxWindowSeconds) {
      errors.push_back({"body.windowSeconds", "must be between 1 and " + Number(kMaxWindowSeconds) + " (a day)", ""});
    }
  }
  return errors;
}

bool RuleWatches(const AlertRule& rule, const AlertSubject& subject) {
  if (!rule.identity_id.empty()) return rule.identity_id == subject.identity_id;
  if (!rule.tier.empty()) return rule.tier == subject.tier;
  return true;
}

Transition Decide(const AlertRule& rule, std::int64_t value, bool open) {
  const bool crossed = FiresUpward(rule.kind) ? value >= rule.threshold : value < rule.threshold;
  const bool back = FiresUpward(rule.kind) ? value <= rule.resolve_threshold : value >= rule.resolve_threshold;
  if (!open && crossed) return Transition::kFire;
  if (open && back) return Transition::kResolve;
  return Transition::kNone;
}

}  // namespace tollgate
