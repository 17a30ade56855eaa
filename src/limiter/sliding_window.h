// Sliding-window counter (the default algorithm): the approximation used by Cloudflare and
// Envoy. It keeps the counts of the current and the previous epoch-aligned window of W ms and
// estimates the cost admitted in the last W ms as
//
//     estimate(now) = previous · (W − e) / W + current,   e = now − start of the current window,
//
// i.e. it assumes the previous window's traffic was spread evenly. A request of cost c is
// admitted iff estimate + c <= L, evaluated exactly in integers (previous·(W − e) + (current +
// c)·W <= L·W), never in floating point. Two counts and a timestamp: 24 bytes per counter.
//
// Guarantees (L = limit, W = window_ms, times in integer ms):
// * Within one aligned window the admitted cost never exceeds L (current <= estimate <= L).
// * Over-admission: in any W consecutive ms it admits at most 2·L − ⌈2·L/W⌉ (< 2·L; just L when
//   W = 1), and this is reached. Derivation: W consecutive ms that are not one aligned window run
//   from some ms of window k−1 to offset e <= W − 2 of window k. Let P <= L be the cost admitted
//   in window k−1. Whatever window k admitted up to e passed previous·(W − e')/W + current <= L
//   at its own offset e' <= e, so current(e) <= L − P·(W − e)/W, and the interval holds at most
//   P + L − P·(W − e)/W = L + P·e/W <= L + L·(W − 2)/W, i.e. 2·L − ⌈2·L/W⌉ in integers. It is
//   reached when window k−2 was empty, L arrived at the last ms of window k−1 and window k's
//   allowance at its offset W − 2: the estimate over-admits when the previous window's traffic
//   was bunched at its end.
// * Under-admission: when the previous window's traffic was bunched at its start, the estimate
//   still weighs it although it has left the true sliding window: it can deny a request while
//   nothing at all was admitted in the last W ms (L at the first ms of window k−1 denies every
//   request at the first ms of window k).
//
// Time: decisions depend only on the `now` passed in. If now goes backwards before the stored
// window, the request is judged at the start of the stored window (the most conservative point),
// so a clock step back never admits extra. A lowered limit applies at once (counts above it
// count as the limit); a change of window_ms that moves window starts starts afresh.
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "limiter/counter_store.h"
#include "limiter/limit_params.h"

namespace tollgate {

class SlidingWindow {
 public:
  // 24 bytes. A value-initialised State is a fresh counter.
  struct State {
    UnixMillis window_start = 0;  // start of the window `current` belongs to
    std::int64_t current = 0;     // cost admitted in that window
    std::int64_t previous = 0;    // cost admitted in the window before it
  };

  // The decision for a request of params.cost at now, without charging it.
  static LimitDecision Peek(const State& state, const LimitParams& params, UnixMillis now);
  // The same decision; if allowed, charges the cost to `state`. remaining and reset_at describe
  // the state after the charge.
  static LimitDecision Decide(State& state, const LimitParams& params, UnixMillis now);
  // From this instant on, `state` decides exactly like a fresh State under the same params.
  static UnixMillis IdleAt(const State& state, const LimitParams& params);
};

}  // namespace tollgate
