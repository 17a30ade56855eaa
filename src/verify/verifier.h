// The whole verification of one key, in one step and from memory: the key's own checks
// (KeyService), then the tier's monthly quota and overage policy, then every applicable rate
// limit through the CounterStore (all-or-nothing), then credits and quota are charged. Nothing
// is charged when anything denies.
//
// Effective limits = the key's ratelimits + its identity's (a key's limit shadows an identity
// limit of the same name) + its tier's (or, past the quota of a `throttle` tier, the throttle
// tier's). Key and identity limits apply when autoApply is set or the request names them; tier
// limits always apply. Counters: "k:<keyId>:<name>", "i:<identityId>:<name>",
// "t:<subject>:<tier>:<name>" with subject the identity (so all its keys share the tier's rate)
// or the key when it has none.
//
// Every counter key starts with the routing tag "{<subject>}", so a sharded CounterStore keeps
// one verification's counters on one shard and decides them in one atomic call.
//
// Threading: called on any worker thread. With a CounterStore that completes inline (in
// memory) the key's credits are checked and spent under the key's credit lock, around the
// limiter's decision: exact. With one that answers later (Redis), VerifyAsync checks the credits
// first, asks the limiter, and spends them when it admits; a key whose last credits are spent by
// a concurrent verify in between answers USAGE_EXCEEDED with its limits already charged. A
// limiter that CountsQuota (Redis, exact mode) also checks and counts the tier's monthly quota
// in that call, shared by every node; the QuotaTracker then holds this node's view of it.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "keys/key_service.h"
#include "limiter/counter_store.h"
#include "tiers/tier_service.h"
#include "verify/quota_tracker.h"

namespace tollgate {

// A ratelimit named in a verify request: selects a configured limit (optionally with another
// cost), or with limit and duration applies an ad-hoc one on the key.
struct RequestedLimit {
  std::string name;
  std::optional<std::int64_t> cost;
  std::optional<std::int64_t> limit;
  std::optional<std::int64_t> duration_ms;
};

struct VerifyRequest {
  const PermissionQuery* permissions = nullptr;
  std::int64_t credit_cost = 1;
  std::span<const RequestedLimit> ratelimits;
};

struct AppliedLimit {
  std::string id;
  std::string name;
  std::int64_t limit = 0;
  std::int64_t duration_ms = 0;
  bool auto_apply = false;
  bool exceeded = false;
  std::int64_t remaining = 0;
  UnixMillis reset_at = 0;  // when a request of the same cost is next admitted (never kNeverAdmitted)
};

struct QuotaView {
  std::int64_t used = 0;
  std::int64_t included = 0;
  std::int64_t remaining = 0;
  UnixMillis period_end = 0;
  std::int64_t overage = 0;
};

struct VerifyResult {
  VerifyOutcome outcome;
  const Tier* tier = nullptr;       // the tier that applies, if any (valid for the process's life)
  bool throttled = false;           // past the quota of a throttle tier
  std::vector<AppliedLimit> limits;
  std::optional<QuotaView> quota;   // set when the tier has an included quota
};

// What the limiter answers for a tier when its shared state cannot be reached (issue 7).
struct LimiterFailurePolicies {
  LimiterFailurePolicy fallback = LimiterFailurePolicy::kLocal;  // keys with no tier, and unnamed tiers
  std::vector<std::pair<std::string, LimiterFailurePolicy>> by_tier;
  LimiterFailurePolicy For(const Tier* tier) const;
};

class Verifier {
 public:
  using Done = std::function<void(Result<VerifyResult>)>;

  Verifier(KeyService& keys, TierService& tiers, CounterStore& limiter, QuotaTracker& quota, Clock& clock,
           LimiterFailurePolicies policies = {})
      : keys_(keys), tiers_(tiers), limiter_(limiter), quota_(quota), clock_(clock), policies_(std::move(policies)) {}

  // Fails only for a request naming a ratelimit the key does not have without limit/duration.
  // Requires a CounterStore that completes inline.
  Result<VerifyResult> Verify(CachedKeyPtr entry, const VerifyRequest& request);
  // The same for any CounterStore: `done` runs before this returns with an inline store, later
  // (on the same thread, from its event loop) with Redis. `request` is read before it returns.
  void VerifyAsync(CachedKeyPtr entry, const VerifyRequest& request, Done done);

 private:
  struct Prepared;
  // The tier, the quota verdict and the plan of limits.
  Result<std::shared_ptr<Prepared>> Prepare(const CachedKeyPtr& entry, const VerifyRequest& request);
  // Spends the credits of a verification the limiter admitted (async path): USAGE_EXCEEDED when
  // concurrent verifies spent them in the meantime.
  void Spend(const CachedKey& entry, std::int64_t cost, VerifyOutcome& outcome);
  // Counts an admitted verification against the quota and hands the limits to the result.
  void Finish(Prepared& prepared);
  // The rest of VerifyAsync when the limiter counts the tier's quota with the limits.
  void VerifyCounted(CachedKeyPtr entry, std::int64_t cost, std::shared_ptr<Prepared> prepared, Done done);

  KeyService& keys_;
  TierService& tiers_;
  CounterStore& limiter_;
  QuotaTracker& quota_;
  Clock& clock_;
  LimiterFailurePolicies policies_;
};

}  // namespace tollgate
