#include "limiter/token_bucket.h"

#include <algorithm>

namespace tollgate {
namespace {

// The bucket at now (or at the last instant it saw, if now went backwards).
struct View {
  UnixMillis at;
  std::int64_t spent;  // in [0, L·W]
};

View See(const TokenBucket::State& state, const LimitParams& params, UnixMillis now) {
  const UnixMillis at = std::max(now, state.updated_at);
  // After W ms any bucket is full again; clamping first keeps elapsed·L <= L·W.
  const std::int64_t elapsed = std::min(at - state.updated_at, params.window_ms);
  const std::int64_t spent = std::min(state.spent, params.limit * params.window_ms);
  return {at, std::max<std::int64_t>(0, spent - elapsed * params.limit)};
}

// spent + cost·W <= L·W, without the sum.
bool Admits(const View& view, const LimitParams& params) {
  return params.cost <= params.limit &&
         view.spent <= (params.limit - params.cost) * params.window_ms;
}

LimitDecision Describe(const View& view, const LimitParams& params, UnixMillis now, bool allowed) {
  const std::int64_t w = params.window_ms;
  LimitDecision decision;
  decision.allowed = allowed;
  decision.remaining = (params.limit * w - view.spent) / w;
  if (params.cost > params.limit) {
    decision.reset_at = kNeverAdmitted;
  } else {
    // The bucket sheds L units per ms; wait until spent <= (L − cost)·W.
    const std::int64_t excess = view.spent - (params.limit - params.cost) * w;
    decision.reset_at = excess <= 0 ? now : view.at + CeilDiv(excess, params.limit);
  }
  return decision;
}

}  // namespace

LimitDecision TokenBucket::Peek(const State& state, const LimitParams& params, UnixMillis now) {
  const View view = See(state, params, now);
  return Describe(view, params, now, Admits(view, params));
}

LimitDecision TokenBucket::Decide(State& state, const LimitParams& params, UnixMillis now) {
  View view = See(state, params, now);
  if (!Admits(view, params)) return Describe(view, params, now, false);
  view.spent += params.cost * params.window_ms;
  state = {view.at, view.spent};
  return Describe(view, params, now, true);
}

UnixMillis TokenBucket::IdleAt(const State& state, const LimitParams& params) {
  const std::int64_t spent = std::min(state.spent, params.limit * params.window_ms);
  return spent > 0 ? state.updated_at + CeilDiv(spent, params.limit) : 0;
}

}  // namespace tollgate
