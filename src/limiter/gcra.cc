#include "limiter/gcra.h"

#include <algorithm>

namespace tollgate {
namespace {

// An instant or a duration as whole ms plus frac/L ms, frac in [0, L).
struct Mixed {
  std::int64_t ms;
  std::int64_t frac;
};

Mixed Add(Mixed a, Mixed b, std::int64_t limit) {
  Mixed sum{a.ms + b.ms, a.frac + b.frac};
  if (sum.frac >= limit) {
    sum.frac -= limit;
    sum.ms += 1;
  }
  return sum;
}

// The stored TAT under the current limit (a remainder stored under a larger limit is clamped).
Mixed Tat(const Gcra::State& state, const LimitParams& params) {
  return {state.tat, std::clamp<std::int64_t>(state.tat_frac, 0, params.limit - 1)};
}

bool After(Mixed t, UnixMillis now) { return t.ms > now || (t.ms == now && t.frac > 0); }

// cost·T = cost·W/L ms. Requires cost <= L, so that cost·W <= L·W <= 2^62.
Mixed EmissionTime(const LimitParams& params) {
  const std::int64_t scaled = params.cost * params.window_ms;
  return {scaled / params.limit, scaled % params.limit};
}

// The first whole ms t with max(TAT, t) + cost·T <= t + W, i.e. ⌈TAT + cost·T − W⌉, which is at
// or before TAT because cost·T <= W. Requires cost <= limit.
UnixMillis FirstAdmitting(Mixed tat, Mixed emission, const LimitParams& params) {
  const Mixed end = Add(tat, emission, params.limit);
  return end.ms - params.window_ms + (end.frac > 0 ? 1 : 0);
}

LimitDecision Describe(Mixed tat, Mixed emission, const LimitParams& params, UnixMillis now, bool allowed) {
  const std::int64_t w = params.window_ms;
  LimitDecision decision;
  decision.allowed = allowed;
  // tokens = (W − D)·L/W with D = max(TAT, now) − now.
  if (!After(tat, now)) {
    decision.remaining = params.limit;
  } else if (tat.ms - now >= w) {
    decision.remaining = 0;
  } else {
    const std::int64_t debt = (tat.ms - now) * params.limit + tat.frac;  // D·L < L·W
    decision.remaining = (params.limit * w - debt) / w;
  }
  decision.reset_at = params.cost > params.limit ? kNeverAdmitted
                                                 : std::max(now, FirstAdmitting(tat, emission, params));
  return decision;
}

bool Admits(Mixed tat, Mixed emission, const LimitParams& params, UnixMillis now) {
  return params.cost <= params.limit && FirstAdmitting(tat, emission, params) <= now;
}

}  // namespace

LimitDecision Gcra::Peek(const State& state, const LimitParams& params, UnixMillis now) {
  const Mixed tat = Tat(state, params);
  if (params.cost > params.limit) return Describe(tat, {}, params, now, false);
  const Mixed emission = EmissionTime(params);
  return Describe(tat, emission, params, now, Admits(tat, emission, params, now));
}

LimitDecision Gcra::Decide(State& state, const LimitParams& params, UnixMillis now) {
  Mixed tat = Tat(state, params);
  if (params.cost > params.limit) return Describe(tat, {}, params, now, false);
  const Mixed emission = EmissionTime(params);
  if (!Admits(tat, emission, params, now)) return Describe(tat, emission, params, now, false);
  if (!After(tat, now)) tat = {now, 0};
  tat = Add(tat, emission, params.limit);
  state = {tat.ms, tat.frac};
  return Describe(tat, emission, params, now, true);
}

UnixMillis Gcra::IdleAt(const State& state, const LimitParams& params) {
  const Mixed tat = Tat(state, params);
  return tat.ms + (tat.frac > 0 ? 1 : 0);
}

}  // namespace tollgate
