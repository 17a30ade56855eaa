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
// Threading: called on any worker thread; holds the key's credit lock while the limiter decides,
// so the CounterStore must complete inline (the in-memory one does; see issue 7 for Redis).
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

class Verifier {
 public:
  Verifier(KeyService& keys, TierService& tiers, CounterStore& limiter, QuotaTracker& quota, Clock& clock)
      : keys_(keys), tiers_(tiers), limiter_(limiter), quota_(quota), clock_(clock) {}

  // Fails only for a request naming a ratelimit the key does not have without limit/duration.
  Result<VerifyResult> Verify(CachedKeyPtr entry, const VerifyRequest& request);

 private:
  KeyService& keys_;
  TierService& tiers_;
  CounterStore& limiter_;
  QuotaTracker& quota_;
  Clock& clock_;
};

}  // namespace tollgate
