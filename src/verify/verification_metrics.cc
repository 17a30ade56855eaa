#include "verify/verification_metrics.h"

#include <string>

namespace tollgate {

VerificationMetrics::VerificationMetrics(MetricsRegistry& registry)
    : verifications_(registry.AddCounter("tollgate_verifications_total",
                                         "Key verifications answered (keys.verifyKey and keys.authorize), by code and "
                                         "the key's tier (\"none\": no tier).",
                                         {"code", "tier"})),
      by_outcome_(verifications_) {}

void VerificationMetrics::Count(const VerifyResult& result) {
  by_outcome_
      .Get(Key{result.outcome.code, result.tier},
           [&] {
             return LabelValues{std::string(VerifyCodeName(result.outcome.code)),
                                result.tier != nullptr ? result.tier->name : std::string("none")};
           })
      .Inc();
}

}  // namespace tollgate
