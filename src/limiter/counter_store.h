// Where rate-limit state lives. The limiter algorithms (issue 3) decide; a CounterStore holds
// their counters: in process memory for one node, in sharded Redis for many. The interface is
// asynchronous because a Redis-backed store answers from the network; the in-memory store
// completes before returning.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

enum class LimitAlgorithm { kSlidingWindow, kTokenBucket, kFixedWindow, kGcra };

// One limit to check and charge, identified by a key that is stable across nodes
// (e.g. "k:<keyId>:<name>" or "i:<identityId>:<name>").
struct LimitCheck {
  std::string counter_key;
  LimitAlgorithm algorithm = LimitAlgorithm::kSlidingWindow;
  std::int64_t limit = 0;
  std::int64_t window_ms = 0;
  std::int64_t cost = 1;
};

// reset_at of a request that no amount of waiting admits (its cost exceeds the limit).
inline constexpr UnixMillis kNeverAdmitted = std::numeric_limits<UnixMillis>::max();

// One limit's answer. `allowed` says whether this limit admits the request; the request is
// admitted (and every limit charged) only if all limits of the call allow it. `remaining` and
// `reset_at` describe the counter after the call: what was charged if the request was admitted,
// nothing otherwise.
struct LimitDecision {
  bool allowed = false;
  std::int64_t remaining = 0;  // unit-cost requests this limit would still admit now (>= 0)
  UnixMillis reset_at = 0;     // when the limit will next admit a request of this cost: the
                               // earliest such instant, never earlier (now if it admits one now;
                               // kNeverAdmitted if cost > limit)
};

// What a store whose shared state cannot be reached (a Redis shard down or too slow) answers
// instead; each tier chooses (issue 7). kLocal decides in this node's memory with every limit
// divided by the expected number of nodes, so that the nodes together stay near the limit.
enum class LimiterFailurePolicy { kFailClosed, kFailOpen, kLocal };

struct CheckOptions {
  LimiterFailurePolicy on_failure = LimiterFailurePolicy::kLocal;
};

// A monthly quota counted together with a call's limits, in the same all-or-nothing step, by a
// store that keeps it where every node sees it (the Redis limiter).
struct QuotaCount {
  std::string counter_key;      // routed like the limits: "{<subject>}q:<yyyymm>"
  std::int64_t seed = 0;        // the count as this node knows it: the start if the shared one is gone
  std::int64_t blocks_at = -1;  // deny the call, charging nothing, once the count reached this; -1 never
  UnixMillis keep_until = 0;    // the shared counter may be forgotten after this instant
};

// What became of the quota of a counted call.
struct QuotaAnswer {
  bool counted = false;  // false: the store could not count it (the caller counts locally)
  bool blocked = false;  // the count had reached blocks_at: nothing was charged
  std::int64_t used = 0; // the count after the call
};

class CounterStore {
 public:
  using Done = std::function<void(Result<std::vector<LimitDecision>>)>;
  using CountedDone = std::function<void(Result<std::vector<LimitDecision>>, QuotaAnswer)>;
  virtual ~CounterStore() = default;

  // Checks every limit and charges all of them only if all allow: all-or-nothing. `done` gets
  // one decision per check, in order, or an error if the call is invalid. `checks` is read
  // before the call returns; `done` may run before it returns or later (CompletesInline).
  virtual void CheckAndCharge(std::span<const LimitCheck> checks, UnixMillis now, Done done) {
    CheckAndCharge(checks, now, CheckOptions{}, std::move(done));
  }
  // The same, saying what to answer when the store's shared state cannot be reached in time.
  virtual void CheckAndCharge(std::span<const LimitCheck> checks, UnixMillis now, const CheckOptions& options,
                              Done done) = 0;
  // True when `done` always runs before CheckAndCharge returns (the in-memory store).
  virtual bool CompletesInline() const { return true; }

  // True when CheckChargeAndCount counts quotas itself (shared by every node).
  virtual bool CountsQuota() const { return false; }
  // CheckAndCharge, and, only if every limit admits and the quota has not reached blocks_at, one
  // more on the quota, all in one step. A store that does not count quotas leaves them to the
  // caller (QuotaAnswer::counted false), as does one that could not reach its shared state.
  virtual void CheckChargeAndCount(std::span<const LimitCheck> checks, const QuotaCount& /*quota*/, UnixMillis now,
                                   const CheckOptions& options, CountedDone done) {
    CheckAndCharge(checks, now, options, [done = std::move(done)](Result<std::vector<LimitDecision>> decided) {
      done(std::move(decided), QuotaAnswer{});
    });
  }
};
using CounterStorePtr = std::unique_ptr<CounterStore>;

}  // namespace tollgate
