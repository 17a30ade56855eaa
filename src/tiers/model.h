// Tiers: the plans a provider sells (free / pro / enterprise / custom). A tier bundles rate limits,
// a monthly included quota, what happens past it, and prices. Keys and identities name their tier;
// verification applies the tier's limits next to the key's and the identity's own.
//
// Money is integers only: fees in minor units of the currency (cents), per-unit overage prices in
// micro-units (a millionth of a minor unit), so that 0.0004 cents per request is exact.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "keys/model.h"

namespace tollgate {

// What happens to requests past a tier's monthly included quota (plus its grace).
enum class OveragePolicy {
  kBlock,     // verification answers USAGE_EXCEEDED
  kAllow,     // keep serving; the overage is billed
  kThrottle,  // keep serving at the rate limits of the tier named by throttle_to
};

// "block", "allow", "throttle": the spelling in JSON and the store.
inline std::string_view OveragePolicyName(OveragePolicy policy) {
  switch (policy) {
    case OveragePolicy::kBlock: return "block";
    case OveragePolicy::kAllow: return "allow";
    case OveragePolicy::kThrottle: return "throttle";
  }
  return "block";
}

inline std::optional<OveragePolicy> ParseOveragePolicy(std::string_view name) {
  for (auto policy : {OveragePolicy::kBlock, OveragePolicy::kAllow, OveragePolicy::kThrottle}) {
    if (OveragePolicyName(policy) == name) return policy;
  }
  return std::nullopt;
}

inline constexpr std::int64_t kMicrosPerMinor = 1'000'000;

// graduated: each slice of the overage quantity at its own price (like income tax brackets).
// volume: the whole overage quantity at the price of the slice it ends in.
enum class OverageModel { kGraduated, kVolume };

struct PriceSlice {
  // The last overage unit this slice covers, counted from the first unit past the included
  // quantity; nullopt for the last slice (no end).
  std::optional<std::int64_t> up_to;
  std::int64_t price_micros = 0;  // per package (per unit when package_size is 1)

  bool operator==(const PriceSlice&) const = default;
};

// How one meter is priced in one tier.
struct MeterPricing {
  std::string meter;          // "requests", or any meter of usage.ingest
  std::int64_t included = 0;  // units per month covered by the base fee
  OverageModel model = OverageModel::kGraduated;
  // Prices are per package of this many units; a started package is charged whole ("0.50 per
  // 1,000 tokens" is package_size 1000, price 50 cents = 50,000,000 micros).
  std::int64_t package_size = 1;
  std::vector<PriceSlice> slices;  // ascending up_to, the last without one; empty: overage is free

  bool operator==(const MeterPricing&) const = default;
};

struct Pricing {
  std::string currency = "USD";               // ISO 4217 code
  std::int64_t base_fee_minor = 0;            // per month, in minor units (cents)
  // Per request past the quota, in micro-minor units: the shorthand for a one-slice "requests"
  // meter. A "requests" entry in `meters` replaces it.
  std::int64_t overage_unit_price_micros = 0;
  // Included units and overage prices per meter (billing/pricing.h prices them). The "requests"
  // meter counts VALID verifications; its included quantity is always the tier's included_quota.
  std::vector<MeterPricing> meters;
};

struct Tier {
  std::string name;  // [a-z0-9_-]{1,64}; the tier's identity
  std::string description;
  std::vector<RateLimitConfig> ratelimits;  // ids are "" (a tier's limits are named by tier+name)
  std::optional<std::int64_t> included_quota;  // requests per calendar month; nullopt = unlimited
  OveragePolicy overage_policy = OveragePolicy::kBlock;
  std::string throttle_to;  // the tier whose limits apply past the quota; kThrottle only
  int grace_percent = 0;    // 0..100: how far past the quota the policy starts to apply
  Pricing pricing;
  bool builtin = false;     // free, pro, enterprise: can be changed, not deleted
  UnixMillis created_at = 0;
  UnixMillis updated_at = 0;
};

}  // namespace tollgate
