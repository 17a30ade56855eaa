#include "tiers/tier_service.h"

#include "keys/rate_limit_validation.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/text.h"
#include "tiers/meter_pricing.h"

namespace tollgate {
namespace {

constexpr std::size_t kMaxTierNameLength = 64;
constexpr std::size_t kMaxDescriptionLength = 1024;
constexpr std::size_t kMaxRateLimitsPerTier = 32;

bool IsTierName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTierNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool IsCurrencyCode(std::string_view code) {
  return code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Tier limits apply to every verification of the tier, and are named by tier + name, not by id.
void Normalize(Tier& tier) {
  for (RateLimitConfig& limit : tier.ratelimits) {
    limit.id.clear();
    limit.auto_apply = true;
  }
}

void ValidateRateLimits(const std::vector<RateLimitConfig>& limits, const std::string& at,
                        std::vector<FieldError>& errors) {
  if (limits.size() > kMaxRateLimitsPerTier) {
    errors.push_back({at, "must hold at most " + std::to_string(kMaxRateLimitsPerTier) + " limits", ""});
  }
  ValidateRateLimitConfigs(limits, at, errors);
}

// Follows throttleTo from `tier` through `all`; the chain of names if it comes back to a tier it
// already passed, empty otherwise.
std::vector<std::string> ThrottleCycle(const Tier& tier, const TierSet::Map& all) {
  std::vector<std::string> chain{tier.name};
  const Tier* current = &tier;
  while (current->overage_policy == OveragePolicy::kThrottle && !current->throttle_to.empty()) {
    const auto next = all.find(current->throttle_to);
    if (next == all.end()) return {};
    const bool seen = std::find(chain.begin(), chain.end(), next->first) != chain.end();
    chain.push_back(next->first);
    if (seen) return chain;
    current = &next->second;
  }
  return {};
}

// Each meter once, with a valid name and pricing. "requests" takes its included quantity from
// includedQuota (what verifications enforce), so it may not set its own.
void ValidateMeters(const Tier& tier, const std::string& at, std::vector<FieldError>& errors) {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < tier.pricing.meters.size(); ++i) {
    const MeterPricing& meter = tier.pricing.meters[i];
    const std::string item = at + "[" + std::to_string(i) + "]";
    if (!IsValidLimitName(meter.meter) || meter.meter.size() > 64) {
      errors.push_back({item + ".meter", "must be 1 to 64 characters of letters, digits and _ . : -", "e.g. \"tokens\""});
    } else if (!seen.insert(meter.meter).second) {
      errors.push_back({item + ".meter", "prices '" + meter.meter + "' a second time", "Price each meter once."});
    }
    if (meter.meter == "requests" && meter.included != 0) {
      errors.push_back({item + ".included", "must be left out for \"requests\": includedQuota is its included quantity", ""});
    }
    for (const PricingProblem& problem : ValidateMeterPricing(meter)) {
      errors.push_back({item + "." + problem.field, problem.message, ""});
    }
  }
}

// See TierService: checks one tier as it would be in `all`, the whole set after the change.
void ValidateTier(const Tier& tier, const TierSet::Map& all, const std::string& at,
                  std::vector<FieldError>& errors) {
  if (!IsTierName(tier.name)) {
    errors.push_back({at + ".name", "must be 1 to 64 characters of a-z, 0-9, '_' and '-'", "e.g. \"pro-annual\""});
  }
  if (tier.description.size() > kMaxDescriptionLength) {
    errors.push_back({at + ".description", "must be at most 1024 characters", ""});
  }
  ValidateRateLimits(tier.ratelimits, at + ".ratelimits", errors);
  if (tier.included_quota && *tier.included_quota < 0) {
    errors.push_back({at + ".includedQuota", "must not be negative", "null means unlimited"});
  }
  if (tier.overage_policy == OveragePolicy::kThrottle) {
    if (tier.throttle_to.empty()) {
      errors.push_back({at + ".throttleTo", "is required with overagePolicy \"throttle\"",
                        "name the tier whose rate limits apply past the quota"});
    } else if (tier.throttle_to == tier.name) {
      errors.push_back({at + ".throttleTo", "must name another tier, not the tier itself", ""});
    } else if (all.find(tier.throttle_to) == all.end()) {
      errors.push_back({at + ".throttleTo", "names no tier: '" + tier.throttle_to + "'", ""});
    } else if (auto cycle = ThrottleCycle(tier, all); !cycle.empty()) {
      std::string path;
      for (const std::string& name : cycle) path += (path.empty() ? "" : " -> ") + name;
      errors.push_back({at + ".throttleTo", "makes a throttle cycle: " + path, ""});
    }
  } else if (!tier.throttle_to.empty()) {
    errors.push_back({at + ".throttleTo", "applies only with overagePolicy \"throttle\"", ""});
  }
  if (tier.grace_percent < 0 || tier.grace_percent > 100) {
    errors.push_back({at + ".gracePercent", "must be between 0 and 100", ""});
  }
  if (!IsCurrencyCode(tier.pricing.currency)) {
    errors.push_back({at + ".pricing.currency", "must be a 3-letter ISO 4217 code in capitals", "e.g. \"USD\""});
  }
  if (tier.pricing.base_fee_minor < 0) {
    errors.push_back({at + ".pricing.baseFee", "must not be negative", "in minor units: 4900 is 49.00"});
  }
  if (tier.pricing.overage_unit_price_micros < 0) {
    errors.push_back({at + ".pricing.overageUnitPriceMicros", "must not be negative", ""});
  }
  ValidateMeters(tier, at + ".pricing.meters", errors);
}

bool SameLimits(const std::vector<RateLimitConfig>& a, const std::vector<RateLimitConfig>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const RateLimitConfig& x, const RateLimitConfig& y) {
    return x.name == y.name && x.limit == y.limit && x.duration_ms == y.duration_ms &&
           x.auto_apply == y.auto_apply && x.algorithm == y.algorithm;
  });
}

// Equal in everything a person sets (not in timestamps or builtin).
bool SameSettings(const Tier& a, const Tier& b) {
  return a.name == b.name && a.description == b.description && SameLimits(a.ratelimits, b.ratelimits) &&
         a.included_quota == b.included_quota && a.overage_policy == b.overage_policy &&
         a.throttle_to == b.throttle_to && a.grace_percent == b.grace_percent &&
         a.pricing.currency == b.pricing.currency && a.pricing.base_fee_minor == b.pricing.base_fee_minor &&
         a.pricing.overage_unit_price_micros == b.pricing.overage_unit_price_micros &&
         a.pricing.meters == b.pricing.meters;
}

std::string Count(std::int64_t count, const char* one, const char* many) {
  return std::to_string(count) + " " + (count == 1 ? one : many);
}

Tier Builtin(std::string name, std::string description, std::int64_t per_second, std::int64_t included,
             OveragePolicy policy, std::int64_t base_fee_minor, std::int64_t unit_price_micros) {
  Tier tier;
  tier.name = std::move(name);
  tier.description = std::move(description);
  tier.ratelimits = {RateLimitConfig{.id = "", .name = "requests", .limit = per_second, .duration_ms = 1000,
                                     .auto_apply = true, .algorithm = RateLimitAlgorithm::kSlidingWindow}};
  tier.included_quota = included;
  tier.overage_policy = policy;
  tier.pricing = Pricing{.currency = "USD", .base_fee_minor = base_fee_minor,
                         .overage_unit_price_micros = unit_price_micros};
  tier.builtin = true;
  return tier;
}

}  // namespace

void ApplyTierUpdate(Tier& tier, UpdateTierParams params) {
  if (params.description) tier.description = std::move(*params.description);
  if (params.ratelimits) tier.ratelimits = std::move(*params.ratelimits);
  if (params.included_quota) tier.included_quota = *params.included_quota;
  if (params.overage_policy) {
    tier.overage_policy = *params.overage_policy;
    if (tier.overage_policy != OveragePolicy::kThrottle && !params.throttle_to) tier.throttle_to.clear();
  }
  if (params.throttle_to) tier.throttle_to = std::move(*params.throttle_to);
  if (params.grace_percent) tier.grace_percent = *params.grace_percent;
  if (params.currency) tier.pricing.currency = std::move(*params.currency);
  if (params.base_fee_minor) tier.pricing.base_fee_minor = *params.base_fee_minor;
  if (params.overage_unit_price_micros) tier.pricing.overage_unit_price_micros = *params.overage_unit_price_micros;
  if (params.meters) tier.pricing.meters = std::move(*params.meters);
}

// ---- TierSet ----

const Tier* TierSet::Find(std::string_view name) const {
  const auto it = tiers_.find(name);
  return it == tiers_.end() ? nullptr : &it->second;
}

const Tier* TierSet::Resolve(std::string_view key_tier, std::string_view identity_tier) const {
  // A name that matches no tier (see TierService on how one can remain) is passed over rather than
  // ending the search: the next tier's limits are safer than none.
  if (const Tier* tier = key_tier.empty() ? nullptr : Find(key_tier)) return tier;
  if (const Tier* tier = identity_tier.empty() ? nullptr : Find(identity_tier)) return tier;
  return default_tier_.empty() ? nullptr : Find(default_tier_);
}

// ---- TierService ----

std::vector<Tier> TierService::BuiltinTiers() {
  // Prices are placeholders a provider is expected to set (config file or tiers.updateTier):
  // pro 49.00 a month plus 0.01 cents per request past the quota, enterprise 999.00 plus 0.005.
  return {
      Builtin("free", "Free: 10 requests per second, 10,000 a month, blocked past that", 10, 10'000,
              OveragePolicy::kBlock, 0, 0),
      Builtin("pro", "Pro: 100 requests per second, 1,000,000 a month, overage billed", 100, 1'000'000,
              OveragePolicy::kAllow, 4'900, 10'000),
      Builtin("enterprise", "Enterprise: 1,000 requests per second, 50,000,000 a month, overage billed", 1'000,
              50'000'000, OveragePolicy::kAllow, 99'900, 5'000),
  };
}

Result<std::unique_ptr<TierService>> TierService::Create(TierStore& store, Clock& clock) {
  std::unique_ptr<TierService> service(new TierService(store, clock));
  auto stored = store.ListTiers();
  if (!stored) return Fail(stored.error());
  TierSet::Map tiers;
  for (Tier& tier : *stored) tiers.emplace(tier.name, std::move(tier));
  const UnixMillis now = clock.NowMillis();
  for (Tier& builtin : BuiltinTiers()) {
    if (tiers.count(builtin.name) != 0) continue;  // kept as last changed, not reset to defaults
    builtin.created_at = now;
    builtin.updated_at = now;
    if (auto status = store.InsertTier(builtin); !status) return Fail(status.error());
    tiers.emplace(builtin.name, std::move(builtin));
  }
  service->Publish(std::move(tiers), std::string());
  return service;
}

void TierService::Publish(TierSet::Map tiers, std::string default_tier) {
  published_.push_back(std::make_unique<const TierSet>(std::move(tiers), std::move(default_tier)));
  current_.store(published_.back().get(), std::memory_order_release);
}

Status TierService::ApplyTierEvent(const Event& event) {
  auto name = EventPayloadField(event, "name");
  if (!name) return Fail(name.error());
  std::lock_guard lock(write_mu_);
  auto stored = store_.GetTier(*name);
  if (!stored) return Fail(stored.error());
  const TierSet* current = &Current();
  TierSet::Map tiers = current->tiers();
  if (*stored) {
    tiers.insert_or_assign(*name, std::move(**stored));
  } else {
    tiers.erase(*name);
  }
  Publish(std::move(tiers), current->default_tier());
  return {};
}

Status TierService::ApplyConfiguredTiers(std::vector<Tier> configured) {
  std::lock_guard lock(write_mu_);
  const TierSet* current = &Current();
  TierSet::Map tiers = current->tiers();
  const UnixMillis now = clock_.NowMillis();
  std::vector<FieldError> errors;
  std::set<std::string> names;
  for (Tier& tier : configured) {
    Normalize(tier);
    if (!names.insert(tier.name).second) {
      errors.push_back({"tiers." + tier.name, "is configured twice", ""});
      continue;
    }
    const Tier* existing = current->Find(tier.name);
    tier.builtin = existing && existing->builtin;
    tier.created_at = existing ? existing->created_at : now;
    tier.updated_at = existing && SameSettings(*existing, tier) ? existing->updated_at : now;
    tiers[tier.name] = tier;
  }
  // Validated against the whole resulting set, so tiers may throttle to each other in any order.
  for (const Tier& tier : configured) ValidateTier(tiers.at(tier.name), tiers, "tiers." + tier.name, errors);
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) {
    status.error().detail = "the configured tiers are not valid: " + status.error().detail;
    return status;
  }
  for (const Tier& tier : configured) {
    const Tier* existing = current->Find(tier.name);
    if (existing && SameSettings(*existing, tier)) continue;
    auto status = existing ? store_.UpdateTier(tier) : store_.InsertTier(tier);
    if (!status) return status;
  }
  Publish(std::move(tiers), current->default_tier());
  return {};
}

Status TierService::SetDefaultTier(std::string name) {
  std::lock_guard lock(write_mu_);
  const TierSet* current = &Current();
  if (!name.empty() && !current->Find(name)) {
    return Fail(Error::InvalidInput(
        "the default tier '" + name + "' is not a tier",
        {{"default-tier", "names no tier: '" + name + "'", "free, pro, enterprise or a custom tier"}}));
  }
  Publish(current->tiers(), std::move(name));
  return {};
}

Result<Tier> TierService::CreateTier(Tier tier) {
  Normalize(tier);
  tier.builtin = false;
  std::lock_guard lock(write_mu_);
  const TierSet* current = &Current();
  if (current->Find(tier.name)) return Fail(Error::Conflict("a tier named '" + tier.name + "' already exists"));
  tier.created_at = clock_.NowMillis();
  tier.updated_at = tier.created_at;
  TierSet::Map tiers = current->tiers();
  tiers[tier.name] = tier;
  std::vector<FieldError> errors;
  ValidateTier(tier, tiers, "body", errors);
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) return Fail(status.error());
  if (auto status = store_.InsertTier(tier); !status) return Fail(status.error());
  Publish(std::move(tiers), current->default_tier());
  return tier;
}

Result<Tier> TierService::GetTier(const std::string& name) const {
  const TierSet* current = &Current();
  if (const Tier* tier = current->Find(name)) return *tier;
  return Fail(Error::NotFound("no tier named '" + name + "'"));
}

std::vector<Tier> TierService::ListTiers() const {
  const TierSet* current = &Current();
  std::vector<Tier> tiers;
  tiers.reserve(current->tiers().size());
  for (const auto& [name, tier] : current->tiers()) tiers.push_back(tier);
  return tiers;
}

Result<Tier> TierService::UpdateTier(UpdateTierParams params) {
  std::lock_guard lock(write_mu_);
  const TierSet* current = &Current();
  const Tier* existing = current->Find(params.name);
  if (!existing) return Fail(Error::NotFound("no tier named '" + params.name + "'"));
  Tier tier = *existing;
  ApplyTierUpdate(tier, std::move(params));
  Normalize(tier);
  tier.updated_at = clock_.NowMillis();
  TierSet::Map tiers = current->tiers();
  tiers[tier.name] = tier;
  std::vector<FieldError> errors;
  ValidateTier(tier, tiers, "body", errors);
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) return Fail(status.error());
  if (auto status = store_.UpdateTier(tier); !status) return Fail(status.error());
  Publish(std::move(tiers), current->default_tier());
  return tier;
}

Status TierService::DeleteTier(const std::string& name) {
  std::lock_guard lock(write_mu_);
  const TierSet* current = &Current();
  const Tier* existing = current->Find(name);
  if (!existing) return Fail(Error::NotFound("no tier named '" + name + "'"));
  if (existing->builtin) {
    return Fail(Error::Conflict("'" + name +
                                "' is a built-in tier: it can be changed with tiers.updateTier, not deleted"));
  }
  if (current->default_tier() == name) {
    return Fail(Error::Conflict("'" + name + "' is the default tier (default-tier in the configuration); "
                                "choose another default first"));
  }
  auto usage = store_.DeleteTierIfUnused(name, clock_.NowMillis());
  if (!usage) return Fail(usage.error());
  if (!usage->unused()) {
    return Fail(Error::Conflict("tier '" + name + "' is still used by " +
                                Count(usage->identities, "identity", "identities") + ", " +
                                Count(usage->keys, "key", "keys") + " and " +
                                Count(usage->throttling_tiers, "tier", "tiers") +
                                " throttling to it; move them first"));
  }
  TierSet::Map tiers = current->tiers();
  tiers.erase(name);
  Publish(std::move(tiers), current->default_tier());
  return {};
}

}  // namespace tollgate
