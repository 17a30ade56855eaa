// RatelimitService: Unkey v2's identifier rate limiting (ratelimit.limit, multiLimit and the
// override calls) over a CounterStore, with the namespaces and overrides of a RatelimitStore
// cached in memory so that a limit decision never reaches the store.
//
// A decision. Each request names a namespace (by name or id), an identifier, a limit per duration,
// a cost and an algorithm. The namespace's best matching override, if any, replaces limit and
// duration: an exact identifier beats any pattern; among patterns the longest wins (ties: the
// smaller pattern in byte order). The counter is "{rl:<namespaceId>:<identifier>}<durationMs>":
// the id because names may contain ':', the duration so that one identifier can be limited over
// several windows (10 per second and 1000 per hour) in one call, as Unkey keys its counters. A
// call is all-or-nothing: its requests are charged only if every one passes (CounterStore). An
// override with limit 0 denies every request without charging anything.
//
// `reset` of a result: when the request was admitted, the end of the current window (fixed and
// sliding window; what Unkey reports) or now + duration (token bucket and GCRA: by then the whole
// limit has refilled); when it was denied, the first instant a request of its cost would be
// admitted (the limiter's reset_at), or now + duration when its cost exceeds the limit.
//
// Who may do what is the caller's business: every method takes a NamespaceAuthorizer and asks it
// about the namespace before creating, reading or charging anything; its error is returned as is.
//
// Threading: any method may be called from any thread. Each namespace's overrides live in an
// immutable snapshot; readers take a shared lock only to copy the snapshot's shared_ptr, then
// match without locks. Writers (namespace creation, override calls) are serialised by write_mu_,
// write the store first, then publish a new snapshot of the one namespace they changed (a copy of
// its overrides: cheap at the few hundred overrides a namespace holds). Limit needs a CounterStore
// that completes inline and aborts otherwise (a later completion would write to a dead stack
// frame); LimitAsync works with any, and is what the HTTP routes use.
//
// Known limit: an override or namespace written by another tollgate process sharing the store is
// seen here only after a restart.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "events/event_bus.h"
#include "limiter/counter_store.h"
#include "ratelimit/model.h"
#include "ratelimit/ratelimit_store.h"

namespace tollgate {

// Decides whether the caller may use a namespace; called with the stored namespace, or with
// {id: "", name} for one that does not exist yet. Must not call back into the service.
using NamespaceAuthorizer = std::function<Status(const RatelimitNamespace&)>;

struct LimitRequest {
  std::string ns;  // a namespace name, or a namespace id "rlns_…"
  std::string identifier;
  std::int64_t limit = 0;  // >= 1
  std::int64_t duration_ms = 0;
  std::int64_t cost = 1;   // 0 asks without charging
  LimitAlgorithm algorithm = LimitAlgorithm::kSlidingWindow;
};

struct LimitResult {
  bool passed = false;       // whether this limit admits the request
  std::int64_t limit = 0;    // the limit applied: the request's, or its override's
  std::int64_t remaining = 0;
  UnixMillis reset = 0;      // see the file comment
  std::string override_id;   // "" when no override applied
};

struct SetOverrideParams {
  std::string ns;          // a namespace name (created if missing) or id
  std::string identifier;  // exact, or a pattern with '*'
  std::int64_t limit = 0;  // >= 0; 0 denies every request
  std::int64_t duration_ms = 0;
};

class NamespaceSnapshot;

// Lets the maps below be searched by string_view without building a std::string.
struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

class RatelimitService {
 public:
  // Loads every namespace and override from the store.
  static Result<std::unique_ptr<RatelimitService>> Create(RatelimitStore& store, CounterStore& counters,
                                                          Clock& clock);
  ~RatelimitService();

  RatelimitService(const RatelimitService&) = delete;
  RatelimitService& operator=(const RatelimitService&) = delete;

  // One result per request, in order; every one charged only if every one passed. A namespace
  // that does not exist is created (after `authorize` allowed it). InvalidInput when a request is
  // out of bounds or two requests name the same counter (fields "[i].…"); NotFound for an
  // unknown namespace id; the CounterStore's error when it cannot decide.
  // Requires a CounterStore that completes inline (the service aborts otherwise).
  Result<std::vector<LimitResult>> Limit(std::span<const LimitRequest> requests,
                                         const NamespaceAuthorizer& authorize);
  // The same for any CounterStore: `done` runs before this returns (in memory) or later, on the
  // caller's thread (Redis); `requests` are read before it returns. A shard that cannot be
  // reached is answered by the service's failure policy.
  using LimitDone = std::function<void(Result<std::vector<LimitResult>>)>;
  void LimitAsync(std::span<const LimitRequest> requests, const NamespaceAuthorizer& authorize, LimitDone done);
  // What identifier limits answer while their Redis shard is down (default: local).
  void SetFailurePolicy(LimiterFailurePolicy policy) { failure_policy_ = policy; }

  // Creates or replaces the override of (namespace, identifier); the namespace is created if
  // missing. Returns it as stored: a replaced override keeps its id.
  Result<RatelimitOverride> SetOverride(const SetOverrideParams& params, const NamespaceAuthorizer& authorize);
  // The override whose identifier is exactly `identifier` (patterns are not matched here).
  Result<RatelimitOverride> GetOverride(std::string_view ns, std::string_view identifier,
                                        const NamespaceAuthorizer& authorize) const;
  // Served by the store, in id order; limit >= 1.
  Result<RatelimitOverridePage> ListOverrides(std::string_view ns, const std::optional<std::string>& cursor,
                                              std::size_t limit, const NamespaceAuthorizer& authorize);
  Status DeleteOverride(std::string_view ns, std::string_view identifier, const NamespaceAuthorizer& authorize);

  // An override another node set or deleted (ratelimit.override_*, events/event_inbox.h):
  // reloads that namespace's overrides from the store.
  Status ApplyOverrideEvent(const Event& event);

 private:
  using SnapshotPtr = std::shared_ptr<const NamespaceSnapshot>;

  RatelimitService(RatelimitStore& store, CounterStore& counters, Clock& clock)
      : store_(store), counters_(counters), clock_(clock) {}

  // The namespace named or identified by `ns`; nullptr when there is none.
  SnapshotPtr Find(std::string_view ns) const;
  // Find, then `authorize`; NotFound (after asking `authorize` about the name) when missing.
  Result<SnapshotPtr> FindAuthorized(std::string_view ns, const NamespaceAuthorizer& authorize) const;
  // Find, then `authorize`. A missing namespace is authorised by name and answered with nullptr:
  // the caller may Create it. An unknown id is NotFound, an invalid name InvalidInput.
  Result<SnapshotPtr> FindForUse(std::string_view ns, const NamespaceAuthorizer& authorize) const;
  // The namespace called `name`, created unless another request created it since FindForUse.
  Result<SnapshotPtr> Create(std::string_view name);
  // FindForUse, then Create when missing.
  Result<SnapshotPtr> FindOrCreate(std::string_view ns, const NamespaceAuthorizer& authorize);
  // Replaces (or adds) a namespace's snapshot. Caller holds write_mu_.
  void Publish(SnapshotPtr snapshot);
  Result<std::vector<LimitDecision>> Decide(std::span<const LimitCheck> checks, UnixMillis now);
  // One call's checks, ready for the CounterStore, and what its results need.
  struct Planned {
    std::vector<LimitCheck> checks;
    std::vector<const RatelimitOverride*> applied;  // the override each request matched, or null
    std::vector<SnapshotPtr> namespaces;            // keep `applied` alive
    UnixMillis now = 0;
  };
  Result<Planned> Plan(std::span<const LimitRequest> requests, const NamespaceAuthorizer& authorize);
  static std::vector<LimitResult> Results(const Planned& planned, const std::vector<LimitDecision>& decisions);
  LimiterFailurePolicy failure_policy_ = LimiterFailurePolicy::kLocal;

  RatelimitStore& store_;
  CounterStore& counters_;
  Clock& clock_;
  std::mutex write_mu_;  // serialises writers: store, then publish
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, SnapshotPtr, TransparentStringHash, std::equal_to<>> by_name_;  // mu_
  std::unordered_map<std::string, std::string, TransparentStringHash, std::equal_to<>> name_by_id_;  // mu_
};
using RatelimitServicePtr = std::unique_ptr<RatelimitService>;

}  // namespace tollgate
