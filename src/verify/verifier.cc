#include "verify/verifier.h"

#include "common/calendar.h"
#include "keys/rate_limit_validation.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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

LimiterFailurePolicy LimiterFailurePolicies::For(const Tier* tier) const {
  if (tier != nullptr) {
    for (const auto& [name, policy] : by_tier) {
      if (name == tier->name) return policy;
    }
  }
  return fallback;
}

struct Verifier::Prepared {
  VerifyResult result;
  Plan plan;
  std::string subject;
  int period = 0;
  bool quota_blocks = false;     // by this node's view of the count
  std::int64_t quota_allowed = -1;  // the count at which a block tier stops admitting; -1 never
  bool quota_counted = false;    // counted by the limiter (shared by the nodes), not locally
  std::int64_t quota_seen = 0;   // the count the limiter answered
  UnixMillis now = 0;
  CheckOptions options;
};

Result<std::shared_ptr<Verifier::Prepared>> Verifier::Prepare(const CachedKeyPtr& entry, const VerifyRequest& request) {
  auto prepared = std::make_shared<Prepared>();
  Prepared& p = *prepared;
  VerifyResult& result = p.result;
  const Key& key = entry->key;
  const Identity* identity = entry->identity.get();
  p.now = clock_.NowMillis();
  p.period = QuotaPeriodOf(p.now);
  p.subject = identity ? "i:" + identity->id : "k:" + key.id;
  const std::string tag = "{" + p.subject + "}";

  // The tier, and whether its quota is used up.
  const TierSet& tiers = tiers_.Current();
  result.tier = tiers.Resolve(key.tier, identity ? std::string_view(identity->tier) : std::string_view());
  p.options.on_failure = policies_.For(result.tier);
  const Tier* limits_tier = result.tier;
  if (result.tier && result.tier->included_quota) {
    const std::int64_t included = *result.tier->included_quota;
    // included / 100 * grace + the remainder's share: no overflow for any int64 quota.
    const std::int64_t grace = result.tier->grace_percent;
    const std::int64_t allowed = included + included / 100 * grace + included % 100 * grace / 100;
    const std::int64_t used = quota_.Used(p.subject, p.period);
    if (result.tier->overage_policy == OveragePolicy::kBlock) p.quota_allowed = allowed;
    if (used >= allowed) {
      switch (result.tier->overage_policy) {
        case OveragePolicy::kBlock: p.quota_blocks = true; break;
        case OveragePolicy::kAllow: break;
        case OveragePolicy::kThrottle:
          result.throttled = true;
          if (const Tier* lower = tiers.Find(result.tier->throttle_to)) limits_tier = lower;
          break;
      }
    }
    result.quota = QuotaView{used, included, std::max<std::int64_t>(0, included - used), QuotaPeriodEnd(p.period),
                             std::max<std::int64_t>(0, used - included)};
  }

  // The limits that apply.
  Plan& plan = p.plan;
  const std::size_t most = key.ratelimits.size() + (identity ? identity->ratelimits.size() : 0) +
                           request.ratelimits.size() + (limits_tier ? limits_tier->ratelimits.size() : 0);
  plan.checks.reserve(most);
  plan.applied.reserve(most);
  for (const RateLimitConfig& config : key.ratelimits) {
    const RequestedLimit* requested = FindRequested(request.ratelimits, config.name);
    if (config.auto_apply || requested) plan.Add(tag + "k:" + key.id + ":" + config.name, config, requested);
  }
  if (identity) {
    for (const RateLimitConfig& config : identity->ratelimits) {
      const RequestedLimit* requested = FindRequested(request.ratelimits, config.name);
      if ((config.auto_apply || requested) && !plan.Has(config.name)) {
        plan.Add(tag + "i:" + identity->id + ":" + config.name, config, requested);
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
    plan.Add(tag + "k:" + key.id + ":" + requested.name, ad_hoc, &requested);
  }
  if (limits_tier) {
    for (const RateLimitConfig& config : limits_tier->ratelimits) {
      // A request may name a tier limit to set its cost, never to change the plan's limit.
      std::optional<RequestedLimit> cost_only;
      if (const RequestedLimit* requested = FindRequested(request.ratelimits, config.name)) {
        cost_only = RequestedLimit{requested->name, requested->cost, std::nullopt, std::nullopt};
      }
      plan.Add(tag + "t:" + limits_tier->name + ":" + config.name, config, cost_only ? &*cost_only : nullptr);
    }
  }

  // Requested overrides can combine into a limit the limiter cannot decide: refuse them here,
  // before anything is charged, rather than answer RATE_LIMITED for ever.
  for (const LimitCheck& check : plan.checks) {
    if (const std::string problem = RateLimitBoundsProblem(check.limit, check.window_ms); !problem.empty()) {
      return Fail(Error::InvalidInput("body.ratelimits " + problem, {{"body.ratelimits", problem, ""}}));
    }
  }
  return prepared;
}

namespace {

// Copies a limiter's decisions into the plan's applied limits; true when all admit.
bool Apply(const std::vector<LimitDecision>& decisions, std::vector<AppliedLimit>& applied, UnixMillis now) {
  bool allowed = true;
  for (std::size_t i = 0; i < decisions.size() && i < applied.size(); ++i) {
    const LimitDecision& d = decisions[i];
    applied[i].exceeded = !d.allowed;
    applied[i].remaining = d.remaining;
    applied[i].reset_at = d.reset_at == kNeverAdmitted ? now + applied[i].duration_ms : d.reset_at;
    allowed = allowed && d.allowed;
  }
  return allowed;
}

// Limits of a request denied before the limiter was asked are still listed, as they stand:
// cost 0 asks without charging. Each has room for `remaining` requests; none of them denied.
std::vector<LimitCheck> Peeks(const std::vector<LimitCheck>& checks) {
  std::vector<LimitCheck> peeks = checks;
  for (LimitCheck& check : peeks) check.cost = 0;
  return peeks;
}

void ApplyPeeks(const std::vector<LimitDecision>& decisions, std::vector<AppliedLimit>& applied, UnixMillis now) {
  for (std::size_t i = 0; i < decisions.size() && i < applied.size(); ++i) {
    applied[i].remaining = decisions[i].remaining;
    applied[i].reset_at = now;
  }
}

}  // namespace

void Verifier::Spend(const CachedKey& entry, std::int64_t cost, VerifyOutcome& outcome) {
  const KeyService::Spent spent = keys_.SpendCredits(entry, cost);
  if (!spent.enough) outcome.code = VerifyCode::kUsageExceeded;
  outcome.credits_remaining = spent.remaining;
}

void Verifier::Finish(Prepared& p) {
  VerifyResult& result = p.result;
  // Counted here only when admitted; when the limiter counted it, the view it returned stands
  // whatever the outcome.
  if (result.quota && (p.quota_counted || result.outcome.valid())) {
    const std::int64_t used = p.quota_counted ? std::max(p.quota_seen, quota_.Used(p.subject, p.period))
                                              : quota_.Add(p.subject, p.period, 1);
    QuotaView& q = *result.quota;
    q.used = used;
    q.remaining = std::max<std::int64_t>(0, q.included - used);
    q.overage = std::max<std::int64_t>(0, used - q.included);
  }
  result.limits = std::move(p.plan.applied);
}

Result<VerifyResult> Verifier::Verify(CachedKeyPtr entry, const VerifyRequest& request) {
  if (!limiter_.CompletesInline()) {
    // The limiter would complete into this frame after it returned: stop before it can.
    std::fputs("tollgate: Verifier::Verify needs a CounterStore that completes inline; use VerifyAsync\n", stderr);
    std::abort();
  }
  if (!entry) {
    VerifyResult result;
    result.outcome = keys_.Verify(nullptr, {});
    return result;
  }
  auto prepared = Prepare(entry, request);
  if (!prepared) return Fail(std::move(prepared.error()));
  Prepared& p = **prepared;

  // Runs under the key's credit lock once the key itself admits: quota, then all limits at once.
  bool limiter_decided = false;
  auto admit_step = [&]() -> VerifyCode {
    if (p.quota_blocks) return VerifyCode::kUsageExceeded;
    if (p.plan.checks.empty()) return VerifyCode::kValid;
    bool allowed = false;
    limiter_.CheckAndCharge(p.plan.checks, p.now, p.options, [&](Result<std::vector<LimitDecision>> decisions) {
      limiter_decided = true;
      allowed = decisions && Apply(*decisions, p.plan.applied, p.now);  // an invalid call admits nothing
    });
    return allowed ? VerifyCode::kValid : VerifyCode::kRateLimited;
  };

  VerifyParams params;
  params.permissions = request.permissions;
  params.cost = request.credit_cost;
  // Through a reference_wrapper the std::function stores a pointer, not the closure: no allocation.
  const std::function<VerifyCode()> admit = std::ref(admit_step);
  params.admit = &admit;
  p.result.outcome = keys_.Verify(std::move(entry), params);

  if (!limiter_decided && !p.plan.checks.empty()) {
    limiter_.CheckAndCharge(Peeks(p.plan.checks), p.now, p.options, [&](Result<std::vector<LimitDecision>> decisions) {
      if (decisions) ApplyPeeks(*decisions, p.plan.applied, p.now);
    });
  }
  Finish(p);
  return std::move(p.result);
}

void Verifier::VerifyAsync(CachedKeyPtr entry, const VerifyRequest& request, Done done) {
  if (limiter_.CompletesInline()) {
    done(Verify(std::move(entry), request));
    return;
  }
  if (!entry) {
    VerifyResult result;
    result.outcome = keys_.Verify(nullptr, {});
    done(std::move(result));
    return;
  }
  auto prepared = Prepare(entry, request);
  if (!prepared) {
    done(Fail(std::move(prepared.error())));
    return;
  }
  std::shared_ptr<Prepared> p = std::move(*prepared);
  // A tier quota is counted where every node sees it when the limiter can: in the same atomic
  // call as the limits, which also applies a block tier's limit there.
  const bool shared_quota = p->result.quota && limiter_.CountsQuota();

  // The key's own checks and the quota, with the credits checked but not yet spent.
  const bool quota_blocks = p->quota_blocks && !shared_quota;
  const std::function<VerifyCode()> admit = [quota_blocks] {
    return quota_blocks ? VerifyCode::kUsageExceeded : VerifyCode::kValid;
  };
  VerifyParams params;
  params.permissions = request.permissions;
  params.cost = request.credit_cost;
  params.admit = &admit;
  params.spend = false;
  p->result.outcome = keys_.Verify(entry, params);

  if (p->result.outcome.valid() && shared_quota) {
    VerifyCounted(std::move(entry), request.credit_cost, std::move(p), std::move(done));
    return;
  }
  if (p->plan.checks.empty()) {
    if (p->result.outcome.valid()) {
      Spend(*entry, request.credit_cost, p->result.outcome);
    }
    Finish(*p);
    done(std::move(p->result));
    return;
  }
  if (!p->result.outcome.valid()) {
    limiter_.CheckAndCharge(Peeks(p->plan.checks), p->now, p->options,
                            [this, p, done = std::move(done)](Result<std::vector<LimitDecision>> decisions) {
                              if (decisions) ApplyPeeks(*decisions, p->plan.applied, p->now);
                              Finish(*p);
                              done(std::move(p->result));
                            });
    return;
  }
  const std::int64_t cost = request.credit_cost;
  limiter_.CheckAndCharge(
      p->plan.checks, p->now, p->options,
      [this, p, entry = std::move(entry), cost, done = std::move(done)](Result<std::vector<LimitDecision>> decisions) {
        VerifyOutcome& outcome = p->result.outcome;
        if (!decisions || !Apply(*decisions, p->plan.applied, p->now)) {
          outcome.code = VerifyCode::kRateLimited;
        } else {
          Spend(*entry, cost, outcome);
        }
        Finish(*p);
        done(std::move(p->result));
      });
}

void Verifier::VerifyCounted(CachedKeyPtr entry, std::int64_t cost, std::shared_ptr<Prepared> p, Done done) {
  QuotaCount quota;
  quota.counter_key = "{" + p->subject + "}q:" + std::to_string(p->period);
  quota.seed = quota_.Used(p->subject, p->period);
  quota.blocks_at = p->quota_allowed;
  quota.keep_until = QuotaPeriodEnd(p->period) + kMillisPerDay;
  limiter_.CheckChargeAndCount(
      p->plan.checks, quota, p->now, p->options,
      [this, p, entry = std::move(entry), cost, done = std::move(done)](Result<std::vector<LimitDecision>> decisions,
                                                                         QuotaAnswer answer) {
        VerifyOutcome& outcome = p->result.outcome;
        bool admitted = false;
        if (!decisions) {
          outcome.code = VerifyCode::kRateLimited;
        } else if (answer.counted && answer.blocked) {
          outcome.code = VerifyCode::kUsageExceeded;
          ApplyPeeks(*decisions, p->plan.applied, p->now);
        } else if (!answer.counted && p->quota_blocks) {
          outcome.code = VerifyCode::kUsageExceeded;  // Redis unreachable: this node's view decides
        } else if (!Apply(*decisions, p->plan.applied, p->now)) {
          outcome.code = VerifyCode::kRateLimited;
        } else {
          admitted = true;
        }
        if (answer.counted) {
          quota_.Observe(p->subject, p->period, answer.used);
          p->quota_counted = true;
          p->quota_seen = answer.used;
        }
        if (admitted) {
          Spend(*entry, cost, outcome);
        }
        Finish(*p);
        done(std::move(p->result));
      });
}

}  // namespace tollgate
