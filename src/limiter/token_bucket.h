// Token bucket: a bucket of capacity L tokens (the burst) that refills continuously at L tokens
// per window of W ms; a request of cost c is admitted iff the bucket holds at least c tokens, and
// takes them. The right choice when customers should be able to burst and then sustain a rate.
//
// Fixed point, exact: one token is W units, and the bucket refills L units per ms, so every
// quantity is an integer and nothing is ever rounded (no drift however long the bucket lives).
// The state stores what has been spent, not what is left, so a zero state is a full bucket.
//
// Guarantees (L = limit, W = window_ms, times in integer ms):
// * Exact for its definition: a request is admitted iff tokens(now) >= cost, where
//   tokens(now) = min(L, tokens(last) + (now − last)·L/W) − what was taken, as rationals.
// * Upper bound: for any instants a <= b, the cost admitted at times in [a, b] is at most
//   L + L·(b − a)/W (the full bucket at a plus the refill until b). So one ms admits at most L,
//   and W consecutive ms at most 2·L − L/W.
// * It never under-admits: it is exactly the greedy shaper for that bound, denying a request only
//   if admitting it would break L + L·(b − a)/W for some interval ending now (token_bucket_test
//   checks every decision against a direct implementation of that rule). After W ms without
//   admissions the bucket is full again.
//
// Time: decisions depend only on the `now` passed in; if now goes backwards the bucket is judged
// at the last instant it saw (no refill, no extra admissions). A lowered limit applies at once.
// GCRA (gcra.h) is this same bucket in another form and decides identically.
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "limiter/counter_store.h"
#include "limiter/limit_params.h"

namespace tollgate {

class TokenBucket {
 public:
  // 16 bytes. A value-initialised State is a full bucket.
  struct State {
    UnixMillis updated_at = 0;  // the instant `spent` was measured at
    std::int64_t spent = 0;     // capacity − tokens, in units of 1/window_ms token: [0, L·W]
  };

  // The decision for a request of params.cost at now, without charging it.
  static LimitDecision Peek(const State& state, const LimitParams& params, UnixMillis now);
  // The same decision; if allowed, takes the cost from `state`. remaining and reset_at describe
  // the state after the charge.
  static LimitDecision Decide(State& state, const LimitParams& params, UnixMillis now);
  // From this instant on (the bucket is full again), `state` decides like a fresh State.
  static UnixMillis IdleAt(const State& state, const LimitParams& params);
};

}  // namespace tollgate
