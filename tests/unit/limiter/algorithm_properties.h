// Shared machinery for the limiter algorithm tests: seeded random arrival sequences shaped to
// stress limiters (bursts in one ms, clusters at the last and first ms of aligned windows, idle
// stretches), measurements over what an algorithm admitted, and the decision contract every
// algorithm must keep (reset_at is exact, remaining is exact, IdleAt really means idle).
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "limiter/counter_store.h"
#include "limiter/limit_params.h"

namespace tollgate::limiter_test {

inline constexpr LimitAlgorithm kAllAlgorithms[] = {LimitAlgorithm::kSlidingWindow, LimitAlgorithm::kTokenBucket,
                                                   LimitAlgorithm::kFixedWindow, LimitAlgorithm::kGcra};

// For test traces.
inline const char* AlgorithmName(LimitAlgorithm algorithm) {
  switch (algorithm) {
    case LimitAlgorithm::kSlidingWindow: return "sliding window";
    case LimitAlgorithm::kTokenBucket: return "token bucket";
    case LimitAlgorithm::kFixedWindow: return "fixed window";
    case LimitAlgorithm::kGcra: return "gcra";
  }
  return "?";
}

struct Arrival {
  UnixMillis at = 0;
  std::int64_t cost = 1;
};

// The limit shapes the property tests sweep: small and large limits against short and long
// windows, limits above the window length (fractional ms per token) and below.
inline std::vector<LimitParams> PropertyShapes() {
  return {{1, 1000, 1}, {3, 1000, 1}, {10, 1000, 1}, {7, 10, 1}, {5, 2, 1},
          {100, 60'000, 1}, {1000, 100, 1}, {64, 64, 1}};
}

// `count` arrivals from `seed`, starting at an unaligned epoch instant. Costs are mostly 1, else
// up to limit + 1 (so some always exceed the limit). The jumps to the last ms of a window and
// then to offset W − 2 of the next are the sliding window's worst case.
inline std::vector<Arrival> RandomArrivals(std::uint64_t seed, std::size_t count, const LimitParams& shape) {
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  const std::int64_t w = shape.window_ms;
  const std::int64_t spacing = std::max<std::int64_t>(1, w / shape.limit);
  std::vector<Arrival> arrivals;
  arrivals.reserve(count);
  UnixMillis t = 1'700'000'123'457;
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t mode = uniform(0, 99);
    const UnixMillis window_start = t - t % w;
    if (mode < 35) {
      // same ms: a burst
    } else if (mode < 60) {
      t += uniform(1, 2 * spacing + 1);
    } else if (mode < 72) {
      t += uniform(0, w);
    } else if (mode < 84) {
      t = std::max(t, window_start + w - 1);  // the last ms of this window
    } else if (mode < 90) {
      t = window_start + w;  // the first ms of the next
    } else if (mode < 96) {
      t = window_start + w + std::max<std::int64_t>(0, w - 2);  // the sliding window's worst ms
    } else {
      t += uniform(w, 3 * w);  // idle
    }
    const std::int64_t cost = uniform(0, 9) < 7 ? 1 : uniform(0, shape.limit + 1);
    arrivals.push_back({t, cost});
  }
  return arrivals;
}

// What `Algorithm` admits of `arrivals`, in order, starting from a fresh state.
template <typename Algorithm>
std::vector<Arrival> Admitted(const std::vector<Arrival>& arrivals, const LimitParams& shape) {
  typename Algorithm::State state{};
  std::vector<Arrival> admitted;
  for (const Arrival& a : arrivals) {
    if (Algorithm::Decide(state, {shape.limit, shape.window_ms, a.cost}, a.at).allowed) admitted.push_back(a);
  }
  return admitted;
}

// The largest total cost among admitted arrivals within any `length` consecutive ms.
inline std::int64_t MaxInAnyInterval(const std::vector<Arrival>& admitted, std::int64_t length) {
  std::int64_t best = 0;
  std::int64_t sum = 0;
  std::size_t left = 0;
  for (std::size_t right = 0; right < admitted.size(); ++right) {
    sum += admitted[right].cost;
    while (admitted[right].at - admitted[left].at >= length) sum -= admitted[left++].cost;
    best = std::max(best, sum);
  }
  return best;
}

// The largest total cost admitted within one epoch-aligned window.
inline std::int64_t MaxInAlignedWindow(const std::vector<Arrival>& admitted, std::int64_t window_ms) {
  std::int64_t best = 0;
  std::int64_t sum = 0;
  UnixMillis current = -1;
  for (const Arrival& a : admitted) {
    const UnixMillis start = a.at - a.at % window_ms;
    if (start != current) {
      current = start;
      sum = 0;
    }
    sum += a.cost;
    best = std::max(best, sum);
  }
  return best;
}

// Whether, for every pair of admitted arrivals a <= b, the cost admitted at times in [a, b] is
// at most L + L·(b − a)/W, in integers: sum·W <= L·W + L·(b − a). O(n): with P the running sum,
// the condition is P_j·W − L·t_j − L·W <= min over i <= j of (P_(i−1)·W − L·t_i).
inline bool WithinRateBound(const std::vector<Arrival>& admitted, const LimitParams& shape) {
  const std::int64_t l = shape.limit;
  const std::int64_t w = shape.window_ms;
  const UnixMillis origin = admitted.empty() ? 0 : admitted.front().at;
  std::int64_t before = 0;  // P_(j−1)
  std::int64_t lowest = 0;
  for (std::size_t j = 0; j < admitted.size(); ++j) {
    const std::int64_t t = admitted[j].at - origin;
    const std::int64_t candidate = before * w - l * t;
    lowest = j == 0 ? candidate : std::min(lowest, candidate);
    before += admitted[j].cost;
    if (before * w - l * t - l * w > lowest) return false;
  }
  return true;
}

// The decision contract, checked after one decision on `state` at `now` for `params`:
// * reset_at: a request of this cost is admitted at reset_at and (if reset_at > now) not one ms
//   earlier; the estimate only falls with time, so that pins the earliest instant exactly.
// * remaining: exactly that many unit-cost requests are admitted now, one after another.
// * IdleAt: from IdleAt on, the state decides like a fresh one.
template <typename Algorithm>
void ExpectDecisionContract(const typename Algorithm::State& state, const LimitParams& params,
                            UnixMillis now, const LimitDecision& decision, const std::string& context) {
  SCOPED_TRACE(context);
  if (params.cost > params.limit) {
    EXPECT_EQ(decision.reset_at, kNeverAdmitted);
  } else {
    ASSERT_GE(decision.reset_at, now);
    EXPECT_TRUE(Algorithm::Peek(state, params, decision.reset_at).allowed)
        << "at reset_at " << decision.reset_at;
    if (decision.reset_at > now) {
      EXPECT_FALSE(Algorithm::Peek(state, params, decision.reset_at - 1).allowed)
          << "one ms before reset_at " << decision.reset_at;
    }
  }
  ASSERT_GE(decision.remaining, 0);
  ASSERT_LE(decision.remaining, params.limit);
  typename Algorithm::State copy = state;
  const LimitParams unit{params.limit, params.window_ms, 1};
  for (std::int64_t i = 0; i < decision.remaining; ++i) {
    ASSERT_TRUE(Algorithm::Decide(copy, unit, now).allowed)
        << "unit request " << i << " of " << decision.remaining;
  }
  EXPECT_FALSE(Algorithm::Decide(copy, unit, now).allowed)
      << "one more than remaining " << decision.remaining;

  const UnixMillis idle = std::max(now, Algorithm::IdleAt(state, params));
  const typename Algorithm::State fresh{};
  for (UnixMillis t : {idle, idle + 1, idle + params.window_ms / 2 + 7}) {
    for (std::int64_t cost : {std::int64_t{1}, params.limit}) {
      const LimitParams p{params.limit, params.window_ms, cost};
      const LimitDecision a = Algorithm::Peek(state, p, t);
      const LimitDecision b = Algorithm::Peek(fresh, p, t);
      EXPECT_EQ(a.allowed, b.allowed) << "idle at " << idle << ", t " << t;
      EXPECT_EQ(a.remaining, b.remaining) << "idle at " << idle << ", t " << t;
      EXPECT_EQ(a.reset_at, b.reset_at) << "idle at " << idle << ", t " << t;
    }
  }
}

// Drives `Algorithm` over random arrivals for every shape and several seeds, checking the
// decision contract after every decision and that Peek agrees with Decide without charging.
template <typename Algorithm>
void ExpectContractOnRandomArrivals(std::size_t arrivals_per_run) {
  for (const LimitParams& shape : PropertyShapes()) {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      typename Algorithm::State state{};
      for (const Arrival& a : RandomArrivals(seed, arrivals_per_run, shape)) {
        const LimitParams params{shape.limit, shape.window_ms, a.cost};
        const typename Algorithm::State before = state;
        const LimitDecision peeked = Algorithm::Peek(state, params, a.at);
        const LimitDecision decided = Algorithm::Decide(state, params, a.at);
        const std::string context = "limit " + std::to_string(shape.limit) + " per " +
                                    std::to_string(shape.window_ms) + " ms, seed " + std::to_string(seed) +
                                    ", cost " + std::to_string(a.cost) + " at " + std::to_string(a.at);
        ASSERT_EQ(peeked.allowed, decided.allowed) << context;
        if (!decided.allowed) {
          EXPECT_EQ(peeked.remaining, decided.remaining) << context;
          EXPECT_EQ(peeked.reset_at, decided.reset_at) << context;
        }
        ExpectDecisionContract<Algorithm>(before, params, a.at, peeked, context + " (peek)");
        ExpectDecisionContract<Algorithm>(state, params, a.at, decided, context);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

}  // namespace tollgate::limiter_test
