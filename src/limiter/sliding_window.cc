#include "limiter/sliding_window.h"

#include <algorithm>

namespace tollgate {
namespace {

// The counter as it stands at now. Counts are clamped to the limit, so every product below is
// at most limit × window_ms <= 2^62.
struct View {
  UnixMillis window_start;
  std::int64_t offset;  // e: ms since window_start, in [0, W)
  std::int64_t current;
  std::int64_t previous;
};

View See(const SlidingWindow::State& state, const LimitParams& params, UnixMillis now) {
  const std::int64_t w = params.window_ms;
  const std::int64_t offset = now % w;
  View view{now - offset, offset, 0, 0};
  if (state.window_start == view.window_start - w) {
    view.previous = std::min(state.current, params.limit);
    return view;
  }
  if (state.window_start > view.window_start && state.window_start % w == 0) {
    view = {state.window_start, 0, 0, 0};  // the clock went back: judge at the stored window's start
  }
  if (state.window_start == view.window_start) {
    view.current = std::min(state.current, params.limit);
    view.previous = std::min(state.previous, params.limit);
  }
  // Anything else is older than the previous window, or was stored under another window length.
  return view;
}

// previous·(W − e) + (current + cost)·W <= L·W, arranged so that no sum can overflow.
bool AdmitsAt(std::int64_t previous, std::int64_t current, std::int64_t offset,
              const LimitParams& params) {
  if (params.cost > params.limit || current > params.limit - params.cost) return false;
  return previous * (params.window_ms - offset) <= (params.limit - params.cost - current) * params.window_ms;
}

// The earliest offset e' in [from, W) of a window with these counts at which cost is admitted,
// or W if there is none. The estimate only falls as e' grows, so this is where admission starts.
std::int64_t FirstAdmittingOffset(std::int64_t previous, std::int64_t current, std::int64_t from,
                                  const LimitParams& params) {
  const std::int64_t w = params.window_ms;
  if (params.cost > params.limit || current > params.limit - params.cost) return w;
  if (previous == 0) return from;
  // previous·(W − e') <= room·W  ⇔  W − e' <= ⌊room·W / previous⌋
  const std::int64_t room = params.limit - params.cost - current;
  const std::int64_t span = room * w / previous;
  return std::max(from, w - std::min(span, w));
}

UnixMillis ResetAt(const View& view, const LimitParams& params, UnixMillis now) {
  if (params.cost > params.limit) return kNeverAdmitted;
  if (AdmitsAt(view.previous, view.current, view.offset, params)) return now;
  const std::int64_t w = params.window_ms;
  const std::int64_t here = FirstAdmittingOffset(view.previous, view.current, view.offset, params);
  if (here < w) return view.window_start + here;
  // Next window: the current count becomes the previous one.
  const std::int64_t next = FirstAdmittingOffset(view.current, 0, 0, params);
  if (next < w) return view.window_start + w + next;
  return view.window_start + 2 * w;  // both counts have aged out; cost <= limit is admitted
}

LimitDecision Describe(const View& view, const LimitParams& params, UnixMillis now, bool allowed) {
  const std::int64_t w = params.window_ms;
  LimitDecision decision;
  decision.allowed = allowed;
  // k more unit requests fit iff current + k <= ⌊(L·W − previous·(W − e)) / W⌋.
  const std::int64_t fits =
      view.previous == 0 ? params.limit : (params.limit * w - view.previous * (w - view.offset)) / w;
  decision.remaining = std::max<std::int64_t>(0, fits - view.current);
  decision.reset_at = ResetAt(view, params, now);
  return decision;
}

}  // namespace

LimitDecision SlidingWindow::Peek(const State& state, const LimitParams& params, UnixMillis now) {
  const View view = See(state, params, now);
  return Describe(view, params, now, AdmitsAt(view.previous, view.current, view.offset, params));
}

LimitDecision SlidingWindow::Decide(State& state, const LimitParams& params, UnixMillis now) {
  View view = See(state, params, now);
  if (!AdmitsAt(view.previous, view.current, view.offset, params)) return Describe(view, params, now, false);
  view.current += params.cost;
  state = {view.window_start, view.current, view.previous};
  return Describe(view, params, now, true);
}

UnixMillis SlidingWindow::IdleAt(const State& state, const LimitParams& params) {
  if (state.current > 0) return state.window_start + 2 * params.window_ms;
  if (state.previous > 0) return state.window_start + params.window_ms;
  return 0;
}

}  // namespace tollgate
