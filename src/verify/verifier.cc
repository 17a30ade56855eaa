#include "verify/verifier.h"

#include "keys/rate_limit_validation.h"

#include <algorithm>
#include <functional>

namespace tollgate {
namespace {

LimitAlgorithm ToLimiter(RateLimitAlgorithm algorithm) {
  switch (algorithm) {
    case RateLimitAlgorithm::kSlidingWindow: return LimitAlgorithm::kSlidingWindow;
    case RateLimitAlgorithm::kTokenBucket: return LimitAlgorithm::kTokenBucket;
    case RateLimitAlgorithm::kFixedWindow: return LimitAlgorithm::kFixedWindow;
    case RateLimitAlgorithm::kGcra: return LimitAlgorithm::kGcra;
  }
  return LimitAlgorithm::kSlidingWindow;
}

const RequestedLimit* FindRequested(std::span<const RequestedLimit> requested, const std::string& name) {
  for (const RequestedLimit& r : requested) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

struct Plan {
  std::vector<LimitCheck> checks;
  std::vector<AppliedLimit> applied;

  bool Has(const std::string& name) const {
    return std::any_of(applied.begin(), applied.end(), [&](const AppliedLimit& a) { return a.name == name; });
  }
  void Add(std::string counter_key, const RateLimitConfig& config, const RequestedLimit* requested) {
    LimitCheck check;
    check.counter_key = std::move(counter_key);
    check.algorithm = ToLimiter(config.algorithm);
    check.limit = requested && requested->limit ? *requested->limit : config.limit;
    check.window_ms = requested && requested->duration_ms ? *requested->duration_ms : config.duration_ms;
    check.cost = requested && requested->cost ? *requested->cost : 1;
    AppliedLimit limit;
    limit.id = config.id;
    limit.name = config.name;
    limit.limit = check.limit;
    limit.duration_ms = check.window_ms;
    limit.auto_apply = config.auto_apply;
    applied.push_back(std::move(limit));
    checks.push_back(std::move(check));
  }
};

}  // namespace

Result<VerifyResult> Verifier::Verify(CachedKeyPtr entry, const VerifyRequest& request) {
  VerifyResult result;
  if (!entry) {
    result.outcome = keys_.Verify(nullptr, {});
    return result;
  }
  const Key& key = entry->key;
  const Identity* identity = entry->identity.get();
  const UnixMillis now = clock_.NowMillis();
  const int period = QuotaPeriodOf(now);
  const std::string subject = identity ? "i:" + identity->id : "k:" + key.id;

  // The tier, and whether its quota is used up.
  const TierSet& tiers = tiers_.Current();
  result.tier = tiers.Resolve(key.tier, identity ? std::string_view(identity->tier) : std::string_view());
  const Tier* limits_tier = result.tier;
  bool quota_blocks = false;
  if (result.tier && result.tier->included_quota) {
    const std::int64_t included = *result.tier->included_quota;
    // included / 100 * grace + the remainder's share: no overflow for any int64 quota.
    const std::int64_t grace = result.tier->grace_percent;
    const std::int64_t allowed = included + included / 100 * grace + included % 100 * grace / 100;
    const std::int64_t used = quota_.Used(subject, period);
    if (used >= allowed) {
      switch (result.tier->overage_policy) {
        case OveragePolicy::kBlock: quota_blocks = true; break;
        case OveragePolicy::kAllow: break;
        case OveragePolicy::kThrottle:
          result.throttled = true;
          if (const Tier* lower = tiers.Find(result.tier->throttle_to)) limits_tier = lower;
          break;
      }
    }
    result.quota = QuotaView{used, included, std::max<std::int64_t>(0, included - used), QuotaPeriodEnd(period),
                             std::max<std::int64_t>(0, used - included)};
  }

  // The limits that apply.
  Plan plan;
  const std::size_t most = key.ratelimits.size() + (identity ? identity->ratelimits.size() : 0) +
                           request.ratelimits.size() + (limits_tier ? limits_tier->ratelimits.size() : 0);
  plan.checks.reserve(most);
  plan.applied.reserve(most);
  for (const RateLimitConfig& config : key.ratelimits) {
    const RequestedLimit* requested = FindRequested(request.ratelimits, config.name);
    if (config.auto_apply || requested) plan.Add("k:" + key.id + ":" + config.name, config, requested);
  }
  if (identity) {
    for (const RateLimitConfig& config : identity->ratelimits) {
      const RequestedLimit* requested = FindRequested(request.ratelimits, config.name);
      if ((config.auto_apply || requested) && !plan.Has(config.name)) {
        plan.Add("i:" + identity->id + ":" + config.name, config, requested);
      }
    }
  }
  auto tier_has = [&](const std::string& name) {
    return limits_tier && std::any_of(limits_tier->ratelimits.begin(), limits_tier->ratelimits.end(),
                                      [&](const RateLimitConfig& c) { return c.name == name; });
  };
  for (const RequestedLimit& requested : request.ratelimits) {
    if (plan.Has(requested.name) || tier_has(requested.name)) continue;
    if (!requested.limit || !requested.duration_ms) {
      // The detail names the field, as every 400 does (location + message).
      const std::string message = "names '" + requested.name + "', which neither the key, its identity nor its tier has";
      return Fail(Error::InvalidInput("body.ratelimits " + message,
                                      {{"body.ratelimits", message, "give limit and duration to apply it ad hoc"}}));
    }
    RateLimitConfig ad_hoc;
    ad_hoc.name = requested.name;
    plan.Add("k:" + key.id + ":" + requested.name, ad_hoc, &requested);
  }
  if (limits_tier) {
    for (const RateLimitConfig& config : limits_tier->ratelimits) {
      // A request may name a tier limit to set its cost, never to change the plan's limit.
      std::optional<RequestedLimit> cost_only;
      if (const RequestedLimit* requested = FindRequested(request.ratelimits, config.name)) {
        cost_only = RequestedLimit{requested->name, requested->cost, std::nullopt, std::nullopt};
      }
      plan.Add("t:" + subject + ":" + limits_tier->name + ":" + config.name, config,
               cost_only ? &*cost_only : nullptr);
    }
  }

  // Requested overrides can combine into a limit the limiter cannot decide: refuse them here,
  // before anything is charged, rather than answer RATE_LIMITED for ever.
  for (const LimitCheck& check : plan.checks) {
    if (const std::string problem = RateLimitBoundsProblem(check.limit, check.window_ms); !problem.empty()) {
      return Fail(Error::InvalidInput("body.ratelimits " + problem, {{"body.ratelimits", problem, ""}}));
    }
  }

  // Runs under the key's credit lock once the key itself admits: quota, then all limits at once.
  bool limiter_decided = false;
  auto admit_step = [&]() -> VerifyCode {
    if (quota_blocks) return VerifyCode::kUsageExceeded;
    if (plan.checks.empty()) return VerifyCode::kValid;
    bool answered = false;
    bool allowed = true;
    limiter_.CheckAndCharge(plan.checks, now, [&](Result<std::vector<LimitDecision>> decisions) {
      answered = true;
      limiter_decided = true;
      if (!decisions) {
        allowed = false;  // fail closed on a limiter error; issue 7 makes this a per-tier policy
        return;
      }
      for (std::size_t i = 0; i < decisions->size(); ++i) {
        const LimitDecision& d = (*decisions)[i];
        AppliedLimit& applied = plan.applied[i];
        applied.exceeded = !d.allowed;
        applied.remaining = d.remaining;
        applied.reset_at = d.reset_at == kNeverAdmitted ? now + applied.duration_ms : d.reset_at;
        allowed = allowed && d.allowed;
      }
    });
    if (!answered) return VerifyCode::kRateLimited;  // cannot happen with an inline store
    return allowed ? VerifyCode::kValid : VerifyCode::kRateLimited;
  };

  VerifyParams params;
  params.permissions = request.permissions;
  params.cost = request.credit_cost;
  // Through a reference_wrapper the std::function stores a pointer, not the closure: no allocation.
  const std::function<VerifyCode()> admit = std::ref(admit_step);
  params.admit = &admit;
  result.outcome = keys_.Verify(std::move(entry), params);

  // Denied before the limiter was asked (disabled, expired, permissions, credits, quota): the
  // limits are still listed, so report them as they stand, charging nothing (cost 0 asks
  // without charging). Each has room for `remaining` requests; none of them denied.
  if (!limiter_decided && !plan.checks.empty()) {
    std::vector<LimitCheck> peeks = plan.checks;
    for (LimitCheck& check : peeks) check.cost = 0;
    limiter_.CheckAndCharge(peeks, now, [&](Result<std::vector<LimitDecision>> decisions) {
      if (!decisions) return;
      for (std::size_t i = 0; i < decisions->size() && i < plan.applied.size(); ++i) {
        plan.applied[i].remaining = (*decisions)[i].remaining;
        plan.applied[i].reset_at = now;
      }
    });
  }

  if (result.outcome.valid() && result.quota) {
    const std::int64_t used = quota_.Add(subject, period, 1);
    QuotaView& q = *result.quota;
    q.used = used;
    q.remaining = std::max<std::int64_t>(0, q.included - used);
    q.overage = std::max<std::int64_t>(0, used - q.included);
  }
  result.limits = std::move(plan.applied);
  return result;
}

}  // namespace tollgate
