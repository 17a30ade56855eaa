// Where rate-limit state lives. The limiter algorithms (issue 3) decide; a CounterStore holds
// their counters: in process memory for one node, in sharded Redis for many. The interface is
// asynchronous because a Redis-backed store answers from the network; the in-memory store
// completes before returning.
#pragma once

#include <cstdint>
#include <functional>
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

struct LimitDecision {
  bool allowed = false;
  std::int64_t remaining = 0;
  UnixMillis reset_at = 0;  // when the limit will next admit a request of this cost
};

class CounterStore {
 public:
  using Done = std::function<void(Result<std::vector<LimitDecision>>)>;
  virtual ~CounterStore() = default;

  // Checks every limit and charges all of them only if all allow: all-or-nothing. `done` gets
  // one decision per check, in order, or an error if the store could not be reached in time.
  virtual void CheckAndCharge(std::span<const LimitCheck> checks, UnixMillis now, Done done) = 0;
};
using CounterStorePtr = std::unique_ptr<CounterStore>;

}  // namespace tollgate
