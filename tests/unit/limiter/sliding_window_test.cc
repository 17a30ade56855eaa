#include "limiter/sliding_window.h"

#include <map>

#include <gtest/gtest.h>

#include "algorithm_properties.h"

namespace tollgate {
namespace {

using limiter_test::Admitted;
using limiter_test::Arrival;

constexpr UnixMillis kT0 = 1'700'000'040'000;  // aligned to 1 s and to 1 min

LimitParams Params(std::int64_t limit, std::int64_t window_ms, std::int64_t cost = 1) {
  return {limit, window_ms, cost};
}

// The documented bound on any window_ms consecutive ms: 2·L − ⌈2·L/W⌉ (L for W = 1).
std::int64_t OverAdmissionBound(const LimitParams& shape) {
  if (shape.window_ms == 1) return shape.limit;
  return 2 * shape.limit - CeilDiv(2 * shape.limit, shape.window_ms);
}

TEST(SlidingWindowTest, AdmitsUpToTheLimitInAFreshWindow) {
  SlidingWindow::State state;
  for (std::int64_t expected_remaining : {2, 1, 0}) {
    const LimitDecision d = SlidingWindow::Decide(state, Params(3, 1000), kT0 + 10);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, expected_remaining);
  }
  EXPECT_FALSE(SlidingWindow::Decide(state, Params(3, 1000), kT0 + 999).allowed);
}

TEST(SlidingWindowTest, WeighsThePreviousWindowByTheUnelapsedPartOfTheCurrent) {
  SlidingWindow::State state;
  SlidingWindow::Decide(state, Params(10, 1000, 10), kT0 + 300);
  // 100 ms into the next window the estimate is 10·0.9 = 9: one more fits, exactly.
  EXPECT_FALSE(SlidingWindow::Peek(state, Params(10, 1000), kT0 + 1099).allowed);
  const LimitDecision one = SlidingWindow::Decide(state, Params(10, 1000), kT0 + 1100);
  EXPECT_TRUE(one.allowed);
  EXPECT_EQ(one.remaining, 0);
  // The next needs 10·(1000 − e)/1000 + 2 <= 10: e >= 200.
  EXPECT_EQ(one.reset_at, kT0 + 1200);
  const LimitDecision denied = SlidingWindow::Decide(state, Params(10, 1000), kT0 + 1150);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reset_at, kT0 + 1200);
  EXPECT_TRUE(SlidingWindow::Decide(state, Params(10, 1000), kT0 + 1200).allowed);
}

TEST(SlidingWindowTest, TheLastMsOfAWindowStillCountsFullyAtTheFirstMsOfTheNext) {
  SlidingWindow::State state;
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(SlidingWindow::Decide(state, Params(10, 1000), kT0 + 999).allowed);
  const LimitDecision d = SlidingWindow::Decide(state, Params(10, 1000), kT0 + 1000);
  EXPECT_FALSE(d.allowed);  // a fixed window would admit 10 more here
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.reset_at, kT0 + 1100);
  EXPECT_EQ(SlidingWindow::Peek(state, Params(10, 1000), kT0 + 1550).remaining, 5);
}

TEST(SlidingWindowTest, ResetAtCanLieInTheNextWindow) {
  SlidingWindow::State state;
  SlidingWindow::Decide(state, Params(10, 1000, 10), kT0 + 500);
  const LimitDecision d = SlidingWindow::Decide(state, Params(10, 1000), kT0 + 600);
  EXPECT_FALSE(d.allowed);
  // Next window: previous = 10, so 10·(1000 − e) <= 9·1000 needs e >= 100.
  EXPECT_EQ(d.reset_at, kT0 + 1100);
}

TEST(SlidingWindowTest, ResetAtCanLieTwoWindowsAhead) {
  SlidingWindow::State state;
  SlidingWindow::Decide(state, Params(3, 10, 3), kT0 + 5);
  // Cost 3 needs both counts at zero: the start of the window after next.
  const LimitDecision d = SlidingWindow::Decide(state, Params(3, 10, 3), kT0 + 6);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reset_at, kT0 + 20);
  EXPECT_FALSE(SlidingWindow::Peek(state, Params(3, 10, 3), kT0 + 19).allowed);
  EXPECT_TRUE(SlidingWindow::Peek(state, Params(3, 10, 3), kT0 + 20).allowed);
}

TEST(SlidingWindowTest, ChargesTheCostAndDeniesCostAboveTheLimit) {
  SlidingWindow::State state;
  EXPECT_EQ(SlidingWindow::Decide(state, Params(10, 1000, 4), kT0).remaining, 6);
  const LimitDecision too_big = SlidingWindow::Decide(state, Params(10, 1000, 11), kT0);
  EXPECT_FALSE(too_big.allowed);
  EXPECT_EQ(too_big.reset_at, kNeverAdmitted);
  EXPECT_EQ(too_big.remaining, 6);
  EXPECT_FALSE(SlidingWindow::Decide(state, Params(10, 1000, 7), kT0).allowed);
  EXPECT_TRUE(SlidingWindow::Decide(state, Params(10, 1000, 6), kT0).allowed);
  EXPECT_FALSE(SlidingWindow::Peek(SlidingWindow::State{}, Params(10, 1000, 11), kT0 + 5000).allowed);
}

TEST(SlidingWindowTest, PeekAndCostZeroDoNotCharge) {
  SlidingWindow::State state;
  EXPECT_TRUE(SlidingWindow::Peek(state, Params(1, 1000), kT0).allowed);
  EXPECT_EQ(SlidingWindow::Decide(state, Params(1, 1000, 0), kT0).remaining, 1);
  EXPECT_TRUE(SlidingWindow::Decide(state, Params(1, 1000), kT0).allowed);
  EXPECT_FALSE(SlidingWindow::Peek(state, Params(1, 1000), kT0).allowed);
}

TEST(SlidingWindowTest, UnderAdmitsWhenThePreviousWindowsTrafficCameAtItsStart) {
  SlidingWindow::State state;
  SlidingWindow::Decide(state, Params(5, 1000, 5), kT0);
  // Nothing was admitted in (kT0, kT0 + 1000], yet the estimate still weighs all 5.
  EXPECT_FALSE(SlidingWindow::Peek(state, Params(5, 1000), kT0 + 1000).allowed);
}

TEST(SlidingWindowTest, ClockGoingBackIsJudgedAtTheStartOfTheStoredWindow) {
  SlidingWindow::State state;
  SlidingWindow::Decide(state, Params(10, 1000, 10), kT0 + 500);
  EXPECT_TRUE(SlidingWindow::Decide(state, Params(10, 1000, 9), kT0 + 1999).allowed);  // 0.01 + 9
  // Back into window kT0: judged at kT0 + 1000 + 0, where the estimate is 10 + 9.
  const LimitDecision back = SlidingWindow::Peek(state, Params(10, 1000), kT0 + 500);
  EXPECT_FALSE(back.allowed);
  EXPECT_EQ(back.remaining, 0);
  EXPECT_EQ(back.reset_at, kT0 + 2000);
}

TEST(SlidingWindowTest, IdleAtTwoWindowsAfterTheLastCharge) {
  SlidingWindow::State state;
  EXPECT_EQ(SlidingWindow::IdleAt(state, Params(3, 1000)), 0);
  SlidingWindow::Decide(state, Params(3, 1000), kT0 + 999);
  EXPECT_EQ(SlidingWindow::IdleAt(state, Params(3, 1000)), kT0 + 2000);
}

// The worst case of the bound, constructed: nothing in window k−2, L at the last ms of window
// k−1, then as much as admitted at offset W − 2 of window k. Within those W ms:
// 2·L − ⌈2·L/W⌉.
TEST(SlidingWindowTest, TheOverAdmissionBoundIsReached) {
  for (const LimitParams& shape : {Params(10, 1000), Params(1000, 100), Params(7, 10), Params(100, 60'000)}) {
    const std::int64_t w = shape.window_ms;
    std::vector<Arrival> arrivals;
    for (std::int64_t i = 0; i < shape.limit; ++i) arrivals.push_back({kT0 + w - 1, 1});
    for (std::int64_t i = 0; i < 2 * shape.limit; ++i) arrivals.push_back({kT0 + 2 * w - 2, 1});
    const auto admitted = Admitted<SlidingWindow>(arrivals, shape);
    EXPECT_EQ(limiter_test::MaxInAnyInterval(admitted, w), OverAdmissionBound(shape))
        << shape.limit << " per " << w;
  }
}

// Claims: within one aligned window at most L; in any W consecutive ms at most 2·L − ⌈2·L/W⌉;
// and each decision is the weighted estimate (checked against a per-window tally).
TEST(SlidingWindowTest, PropertyStaysWithinItsDocumentedBound) {
  for (const LimitParams& shape : limiter_test::PropertyShapes()) {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      SCOPED_TRACE("limit " + std::to_string(shape.limit) + " per " + std::to_string(shape.window_ms) +
                   ", seed " + std::to_string(seed));
      const std::int64_t l = shape.limit;
      const std::int64_t w = shape.window_ms;
      const auto arrivals = limiter_test::RandomArrivals(seed, 5000, shape);
      SlidingWindow::State state;
      std::map<UnixMillis, std::int64_t> tally;  // window start -> admitted
      for (const Arrival& a : arrivals) {
        const UnixMillis start = a.at - a.at % w;
        const std::int64_t previous = tally.contains(start - w) ? tally[start - w] : 0;
        std::int64_t& current = tally[start];
        const bool fits = a.cost <= l && previous * (w - a.at % w) + (current + a.cost) * w <= l * w;
        ASSERT_EQ(SlidingWindow::Decide(state, {l, w, a.cost}, a.at).allowed, fits) << a.at;
        if (fits) current += a.cost;
      }
      const auto admitted = Admitted<SlidingWindow>(arrivals, shape);
      EXPECT_LE(limiter_test::MaxInAlignedWindow(admitted, w), l);
      EXPECT_LE(limiter_test::MaxInAnyInterval(admitted, w), OverAdmissionBound(shape));
    }
  }
}

TEST(SlidingWindowTest, DecisionContractOnRandomArrivals) {
  limiter_test::ExpectContractOnRandomArrivals<SlidingWindow>(2000);
}

}  // namespace
}  // namespace tollgate
