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

class CounterStore {
 public:
  using Done = std::function<void(Result<std::vector<LimitDecision>>)>;
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
};
using CounterStorePtr = std::unique_ptr<CounterStore>;

}  // namespace tollgate
