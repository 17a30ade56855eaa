// GCRA, the generic cell rate algorithm (virtual-scheduling form). Requests are spaced by the
// emission interval T = W/L ms; the state is one instant, the theoretical arrival time (TAT) at
// which the counter would be idle again. A request of cost c at t is admitted iff
//
//     max(TAT, t) + c·T <= t + W        (burst tolerance W − T: up to L at once)
//
// and then TAT := max(TAT, t) + c·T. Its single timestamp is what a Redis script stores in one
// key with one expiry, which is why it is offered next to the token bucket.
//
// Exact, no rounding: T is rarely a whole number of ms (3 per second → 333⅓ ms), so TAT is kept
// as whole ms plus a remainder in units of 1/L ms, and every comparison is exact in integers.
//
// Guarantees (L = limit, W = window_ms, times in integer ms):
// * With burst = L and rate L/W this is the token bucket of capacity L refilled at L per W:
//   tokens(t) = (t + W − max(TAT, t))/T. It admits exactly the same requests as TokenBucket
//   (token_bucket.h) and reports the same remaining and reset_at (gcra_test drives both through
//   the same random arrivals and compares every decision), so it has the same bounds: the cost
//   admitted at times in any [a, b] is at most L + L·(b − a)/W, and a request of cost <= L is
//   denied only while fewer than cost tokens have accrued.
//
// Time: decisions depend only on the `now` passed in. If now goes backwards, max(TAT, now) − now
// grows, so GCRA grows stricter (it never admits extra) until the clock catches up. After a
// change of limit or window the stored TAT is kept and judged by the new rule.
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "limiter/counter_store.h"
#include "limiter/limit_params.h"

namespace tollgate {

class Gcra {
 public:
  // 16 bytes. A value-initialised State is a fresh (idle) counter.
  struct State {
    UnixMillis tat = 0;           // whole ms of the theoretical arrival time
    std::int64_t tat_frac = 0;    // plus tat_frac/limit ms, in [0, limit)
  };

  // The decision for a request of params.cost at now, without charging it.
  static LimitDecision Peek(const State& state, const LimitParams& params, UnixMillis now);
  // The same decision; if allowed, advances TAT by cost·T. remaining and reset_at describe the
  // state after the charge.
  static LimitDecision Decide(State& state, const LimitParams& params, UnixMillis now);
  // TAT rounded up: from then on `state` decides like a fresh State.
  static UnixMillis IdleAt(const State& state, const LimitParams& params);
};

}  // namespace tollgate
