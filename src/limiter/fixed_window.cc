#include "limiter/fixed_window.h"

#include <algorithm>

namespace tollgate {
namespace {

// The counter as it stands at now: which window counts, and what it holds.
struct View {
  UnixMillis window_start;
  std::int64_t count;
};

View See(const FixedWindow::State& state, const LimitParams& params, UnixMillis now) {
  UnixMillis start = AlignedWindowStart(now, params.window_ms);
  if (state.window_start > start && state.window_start % params.window_ms == 0) {
    start = state.window_start;  // the clock went back: count against the stored window
  }
  // A stored window that is older, or from another window length, counts nothing.
  const std::int64_t count = state.window_start == start ? std::min(state.count, params.limit) : 0;
  return {start, count};
}

LimitDecision Describe(const View& view, const LimitParams& params, UnixMillis now, bool allowed) {
  LimitDecision decision;
  decision.allowed = allowed;
  decision.remaining = params.limit - view.count;
  if (params.cost > params.limit) {
    decision.reset_at = kNeverAdmitted;
  } else if (view.count <= params.limit - params.cost) {
    decision.reset_at = now;
  } else {
    decision.reset_at = view.window_start + params.window_ms;  // a fresh window admits any cost <= limit
  }
  return decision;
}

bool Admits(const View& view, const LimitParams& params) {
  return params.cost <= params.limit && view.count <= params.limit - params.cost;
}

}  // namespace

LimitDecision FixedWindow::Peek(const State& state, const LimitParams& params, UnixMillis now) {
  const View view = See(state, params, now);
  return Describe(view, params, now, Admits(view, params));
}

LimitDecision FixedWindow::Decide(State& state, const LimitParams& params, UnixMillis now) {
  View view = See(state, params, now);
  if (!Admits(view, params)) return Describe(view, params, now, false);
  view.count += params.cost;
  state = {view.window_start, view.count};
  return Describe(view, params, now, true);
}

UnixMillis FixedWindow::IdleAt(const State& state, const LimitParams& params) {
  return state.count > 0 ? state.window_start + params.window_ms : 0;
}

}  // namespace tollgate
