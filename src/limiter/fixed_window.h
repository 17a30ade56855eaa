// Fixed window: one counter per window of window_ms aligned to the Unix epoch ([k·W, (k+1)·W)),
// reset to zero when the next window starts. The cheapest algorithm, and the easiest to explain
// to a customer ("100 per minute, counted per calendar minute").
//
// Guarantees (L = limit, W = window_ms, times in integer ms):
// * Exact per aligned window: the cost admitted within one aligned window never exceeds L, and a
//   request is denied only if admitting it would exceed L in its window.
// * Not a sliding limit: up to 2·L can be admitted within W consecutive ms (even within 2 ms: L
//   at the last ms of one window and L at the first ms of the next). More generally n >= 1
//   consecutive ms touch at most ⌈(n − 1)/W⌉ + 1 windows, so admit at most L·(⌈(n − 1)/W⌉ + 1).
//
// Time: decisions depend only on the `now` passed in. If now goes backwards into an earlier window
// than the stored one, the request is counted against the stored (later) window, so a clock step
// back never admits extra. A change of limit applies at once (a count above a lowered limit counts
// as the limit); a change of window_ms that moves window starts starts a fresh count.
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "limiter/counter_store.h"
#include "limiter/limit_params.h"

namespace tollgate {

class FixedWindow {
 public:
  // 16 bytes. A value-initialised State is a fresh counter.
  struct State {
    UnixMillis window_start = 0;  // start of the window `count` belongs to
    std::int64_t count = 0;       // cost admitted in that window
  };

  // The decision for a request of params.cost at now, without charging it.
  static LimitDecision Peek(const State& state, const LimitParams& params, UnixMillis now);
  // The same decision; if allowed, charges the cost to `state`. remaining and reset_at describe
  // the state after the charge.
  static LimitDecision Decide(State& state, const LimitParams& params, UnixMillis now);
  // From this instant on, `state` decides exactly like a fresh State under the same params: the
  // moment a store may forget it.
  static UnixMillis IdleAt(const State& state, const LimitParams& params);
};

}  // namespace tollgate
