#include "limiter/fixed_window.h"

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

TEST(FixedWindowTest, AdmitsUpToTheLimitWithinOneWindow) {
  FixedWindow::State state;
  for (std::int64_t expected_remaining : {2, 1, 0}) {
    const LimitDecision d = FixedWindow::Decide(state, Params(3, 1000), kT0 + 10);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, expected_remaining);
  }
  const LimitDecision denied = FixedWindow::Decide(state, Params(3, 1000), kT0 + 999);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.remaining, 0);
  EXPECT_EQ(denied.reset_at, kT0 + 1000);
}

TEST(FixedWindowTest, LastMsOfAWindowAndFirstMsOfTheNextAdmitTwiceTheLimit) {
  FixedWindow::State state;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(FixedWindow::Decide(state, Params(3, 1000), kT0 + 999).allowed);
  EXPECT_FALSE(FixedWindow::Decide(state, Params(3, 1000), kT0 + 999).allowed);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(FixedWindow::Decide(state, Params(3, 1000), kT0 + 1000).allowed);
  EXPECT_FALSE(FixedWindow::Decide(state, Params(3, 1000), kT0 + 1000).allowed);
}

TEST(FixedWindowTest, ChargesTheCost) {
  FixedWindow::State state;
  EXPECT_EQ(FixedWindow::Decide(state, Params(10, 1000, 4), kT0).remaining, 6);
  EXPECT_EQ(FixedWindow::Decide(state, Params(10, 1000, 4), kT0).remaining, 2);
  const LimitDecision denied = FixedWindow::Decide(state, Params(10, 1000, 4), kT0);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.remaining, 2);
  EXPECT_EQ(denied.reset_at, kT0 + 1000);
  const LimitDecision fits = FixedWindow::Decide(state, Params(10, 1000, 2), kT0);
  EXPECT_TRUE(fits.allowed);
  EXPECT_EQ(fits.remaining, 0);
}

TEST(FixedWindowTest, CostAboveTheLimitIsAlwaysDenied) {
  FixedWindow::State state;
  const LimitDecision d = FixedWindow::Decide(state, Params(5, 1000, 6), kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 5);
  EXPECT_EQ(d.reset_at, kNeverAdmitted);
  EXPECT_EQ(state.count, 0);
  EXPECT_FALSE(FixedWindow::Peek(state, Params(5, 1000, 6), kT0 + 100'000).allowed);
}

TEST(FixedWindowTest, ResetAtIsTheNextWindowAndAdmitsExactlyThen) {
  FixedWindow::State state;
  FixedWindow::Decide(state, Params(2, 1000, 2), kT0 + 10);
  const LimitDecision denied = FixedWindow::Decide(state, Params(2, 1000), kT0 + 500);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reset_at, kT0 + 1000);
  EXPECT_FALSE(FixedWindow::Peek(state, Params(2, 1000), denied.reset_at - 1).allowed);
  EXPECT_TRUE(FixedWindow::Peek(state, Params(2, 1000), denied.reset_at).allowed);
}

TEST(FixedWindowTest, ResetAtIsNowWhileAnotherRequestFits) {
  FixedWindow::State state;
  const LimitDecision d = FixedWindow::Decide(state, Params(3, 1000), kT0 + 10);
  EXPECT_EQ(d.reset_at, kT0 + 10);
  const LimitDecision last = FixedWindow::Decide(state, Params(3, 1000, 2), kT0 + 10);
  EXPECT_TRUE(last.allowed);
  EXPECT_EQ(last.reset_at, kT0 + 1000);  // no room for another request of cost 2
}

TEST(FixedWindowTest, PeekAndCostZeroDoNotCharge) {
  FixedWindow::State state;
  EXPECT_TRUE(FixedWindow::Peek(state, Params(1, 1000), kT0).allowed);
  const LimitDecision asked = FixedWindow::Decide(state, Params(1, 1000, 0), kT0);
  EXPECT_TRUE(asked.allowed);
  EXPECT_EQ(asked.remaining, 1);
  EXPECT_TRUE(FixedWindow::Decide(state, Params(1, 1000), kT0).allowed);
  EXPECT_FALSE(FixedWindow::Peek(state, Params(1, 1000), kT0).allowed);
  EXPECT_TRUE(FixedWindow::Decide(state, Params(1, 1000, 0), kT0).allowed);  // zero always fits
}

TEST(FixedWindowTest, ClockGoingBackCountsAgainstTheLaterWindow) {
  FixedWindow::State state;
  FixedWindow::Decide(state, Params(2, 1000, 2), kT0 + 1500);
  const LimitDecision d = FixedWindow::Decide(state, Params(2, 1000), kT0 + 900);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reset_at, kT0 + 2000);
}

TEST(FixedWindowTest, ALoweredLimitAppliesAtOnce) {
  FixedWindow::State state;
  FixedWindow::Decide(state, Params(10, 1000, 8), kT0);
  const LimitDecision d = FixedWindow::Decide(state, Params(5, 1000), kT0 + 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
}

TEST(FixedWindowTest, IdleAtTheEndOfTheWindowItCounted) {
  FixedWindow::State state;
  EXPECT_EQ(FixedWindow::IdleAt(state, Params(3, 1000)), 0);
  FixedWindow::Decide(state, Params(3, 1000), kT0 + 999);
  EXPECT_EQ(FixedWindow::IdleAt(state, Params(3, 1000)), kT0 + 1000);
}

// Claim: exact per aligned window: never more than L admitted in one aligned window, and a
// request is denied only if it would not fit (checked against a plain per-window tally).
TEST(FixedWindowTest, PropertyExactPerAlignedWindow) {
  for (const LimitParams& shape : limiter_test::PropertyShapes()) {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      SCOPED_TRACE("limit " + std::to_string(shape.limit) + " per " + std::to_string(shape.window_ms) +
                   ", seed " + std::to_string(seed));
      const auto arrivals = limiter_test::RandomArrivals(seed, 5000, shape);
      FixedWindow::State state;
      std::map<UnixMillis, std::int64_t> tally;
      for (const Arrival& a : arrivals) {
        std::int64_t& used = tally[a.at - a.at % shape.window_ms];
        const bool fits = a.cost <= shape.limit - used;
        const LimitParams params{shape.limit, shape.window_ms, a.cost};
        ASSERT_EQ(FixedWindow::Decide(state, params, a.at).allowed, fits) << a.at;
        if (fits) used += a.cost;
      }
      const auto admitted = Admitted<FixedWindow>(arrivals, shape);
      EXPECT_LE(limiter_test::MaxInAlignedWindow(admitted, shape.window_ms), shape.limit);
      EXPECT_LE(limiter_test::MaxInAnyInterval(admitted, shape.window_ms), 2 * shape.limit);
    }
  }
}

TEST(FixedWindowTest, TwiceTheLimitWithinOneWindowLengthIsReached) {
  const LimitParams shape = Params(10, 1000);
  std::vector<Arrival> arrivals;
  for (int i = 0; i < 10; ++i) arrivals.push_back({kT0 + 999, 1});
  for (int i = 0; i < 11; ++i) arrivals.push_back({kT0 + 1000, 1});
  const auto admitted = Admitted<FixedWindow>(arrivals, shape);
  EXPECT_EQ(limiter_test::MaxInAnyInterval(admitted, 2), 20);  // within 2 ms, let alone 1000
}

TEST(FixedWindowTest, DecisionContractOnRandomArrivals) {
  limiter_test::ExpectContractOnRandomArrivals<FixedWindow>(2000);
}

}  // namespace
}  // namespace tollgate
