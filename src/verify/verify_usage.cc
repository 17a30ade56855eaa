#include "verify/verify_usage.h"

namespace tollgate {

UsageEventView VerifyUsage(const VerifyResult& result, std::int64_t credit_cost, UnixMillis now,
                           std::string_view source, std::span<const std::string> tags) {
  const VerifyOutcome& outcome = result.outcome;
  UsageEventView event;
  event.at = now;
  event.code = VerifyCodeName(outcome.code);
  event.source = source;
  event.tags = tags;
  if (outcome.key) {
    const Key& key = outcome.key->key;
    event.api_id = key.api_id;
    event.key_id = key.id;
    event.external_id = key.external_id;
    if (outcome.valid() && outcome.credits_remaining) event.credits_spent = credit_cost;
  }
  for (const AppliedLimit& limit : result.limits) {
    if (limit.exceeded) {
      event.denied_by = limit.name;
      break;
    }
  }
  return event;
}

}  // namespace tollgate
