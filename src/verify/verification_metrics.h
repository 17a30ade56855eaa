// tollgate_verifications_total{code, tier}: one per verification answered (keys.verifyKey and
// keys.authorize), counted where its usage event is recorded. Tiers are the provider's handful
// of plans, never a customer, so the label stays small. Children are cached per worker thread
// by (code, tier address): a verification adds to its counter without a lock.
#pragma once

#include <cstddef>
#include <functional>

#include "metrics/registry.h"
#include "verify/verifier.h"

namespace tollgate {

class VerificationMetrics {
 public:
  explicit VerificationMetrics(MetricsRegistry& registry);
  void Count(const VerifyResult& result);

 private:
  struct Key {
    VerifyCode code;
    const Tier* tier;  // valid for the process's life (TierService keeps replaced tiers)
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const {
      return std::hash<const void*>{}(key.tier) * 31 + static_cast<std::size_t>(key.code);
    }
  };
  CounterFamily& verifications_;
  ChildCache<Counter, Key, KeyHash> by_outcome_;
};

}  // namespace tollgate
