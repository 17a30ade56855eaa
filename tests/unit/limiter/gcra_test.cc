#include "limiter/gcra.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "algorithm_properties.h"
#include "limiter/token_bucket.h"

namespace tollgate {
namespace {

using limiter_test::Admitted;
using limiter_test::Arrival;

constexpr UnixMillis kT0 = 1'700'000'040'000;  // aligned to 1 s and to 1 min

LimitParams Params(std::int64_t limit, std::int64_t window_ms, std::int64_t cost = 1) {
  return {limit, window_ms, cost};
}

TEST(GcraTest, ABurstOfTheLimitIsAdmittedAtOnce) {
  Gcra::State state;
  for (std::int64_t expected_remaining : {2, 1, 0}) {
    const LimitDecision d = Gcra::Decide(state, Params(3, 1000), kT0);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, expected_remaining);
  }
  const LimitDecision denied = Gcra::Decide(state, Params(3, 1000), kT0);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reset_at, kT0 + 334);
}

TEST(GcraTest, KeepsTheTheoreticalArrivalTimeExactlyInThirdsOfAMs) {
  Gcra::State state;
  Gcra::Decide(state, Params(3, 1000), kT0);
  EXPECT_EQ(state.tat, kT0 + 333);  // T = 333⅓ ms
  EXPECT_EQ(state.tat_frac, 1);
  Gcra::Decide(state, Params(3, 1000), kT0);
  EXPECT_EQ(state.tat, kT0 + 666);
  EXPECT_EQ(state.tat_frac, 2);
  Gcra::Decide(state, Params(3, 1000), kT0);
  EXPECT_EQ(state.tat, kT0 + 1000);
  EXPECT_EQ(state.tat_frac, 0);
}

TEST(GcraTest, SpacesSustainedRequestsByTheEmissionIntervalWithoutDrift) {
  Gcra::State state;
  std::int64_t admitted = 0;
  for (UnixMillis t = kT0; t < kT0 + 100'000; ++t) {
    while (Gcra::Decide(state, Params(3, 1000), t).allowed) ++admitted;
  }
  EXPECT_EQ(admitted, 3 + 299);
}

TEST(GcraTest, ResetAtIsExactForCostAboveOne) {
  Gcra::State state;
  Gcra::Decide(state, Params(10, 1000, 10), kT0);
  const LimitDecision d = Gcra::Decide(state, Params(10, 1000, 5), kT0 + 100);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 1);
  EXPECT_EQ(d.reset_at, kT0 + 500);
  EXPECT_FALSE(Gcra::Peek(state, Params(10, 1000, 5), kT0 + 499).allowed);
  EXPECT_TRUE(Gcra::Peek(state, Params(10, 1000, 5), kT0 + 500).allowed);
}

TEST(GcraTest, WindowBoundariesMeanNothing) {
  Gcra::State state;
  Gcra::Decide(state, Params(1000, 1000, 1000), kT0 + 999);
  EXPECT_TRUE(Gcra::Decide(state, Params(1000, 1000), kT0 + 1000).allowed);
  EXPECT_FALSE(Gcra::Decide(state, Params(1000, 1000), kT0 + 1000).allowed);
}

TEST(GcraTest, CostAboveTheLimitIsAlwaysDenied) {
  Gcra::State state;
  const LimitDecision d = Gcra::Decide(state, Params(5, 1000, 6), kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 5);
  EXPECT_EQ(d.reset_at, kNeverAdmitted);
  EXPECT_EQ(state.tat, 0);
}

TEST(GcraTest, PeekAndCostZeroDoNotCharge) {
  Gcra::State state;
  EXPECT_TRUE(Gcra::Peek(state, Params(1, 1000), kT0).allowed);
  EXPECT_EQ(Gcra::Decide(state, Params(1, 1000, 0), kT0).remaining, 1);
  EXPECT_TRUE(Gcra::Decide(state, Params(1, 1000), kT0).allowed);
  EXPECT_FALSE(Gcra::Peek(state, Params(1, 1000), kT0).allowed);
}

TEST(GcraTest, ClockGoingBackOnlyMakesItStricter) {
  Gcra::State state;
  Gcra::Decide(state, Params(2, 1000, 2), kT0 + 5000);
  const LimitDecision back = Gcra::Decide(state, Params(2, 1000), kT0);
  EXPECT_FALSE(back.allowed);
  EXPECT_EQ(back.remaining, 0);
  EXPECT_EQ(back.reset_at, kT0 + 5500);
}

TEST(GcraTest, IdleAtTheTheoreticalArrivalTimeRoundedUp) {
  Gcra::State state;
  Gcra::Decide(state, Params(3, 1000), kT0);
  EXPECT_EQ(Gcra::IdleAt(state, Params(3, 1000)), kT0 + 334);
}

// Claim: GCRA with burst L and rate L/W is the token bucket: on any arrival sequence both
// decide alike and report the same remaining and reset_at. Its bound is therefore the token
// bucket's, L + L·(b − a)/W over any [a, b], checked directly too.
TEST(GcraTest, PropertyDecidesExactlyLikeTheTokenBucket) {
  for (const LimitParams& shape : limiter_test::PropertyShapes()) {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      SCOPED_TRACE("limit " + std::to_string(shape.limit) + " per " + std::to_string(shape.window_ms) +
                   ", seed " + std::to_string(seed));
      const auto arrivals = limiter_test::RandomArrivals(seed, 5000, shape);
      Gcra::State gcra;
      TokenBucket::State bucket;
      for (std::size_t i = 0; i < arrivals.size(); ++i) {
        const LimitParams params{shape.limit, shape.window_ms, arrivals[i].cost};
        const LimitDecision g = Gcra::Decide(gcra, params, arrivals[i].at);
        const LimitDecision b = TokenBucket::Decide(bucket, params, arrivals[i].at);
        ASSERT_EQ(g.allowed, b.allowed) << "arrival " << i;
        ASSERT_EQ(g.remaining, b.remaining) << "arrival " << i;
        ASSERT_EQ(g.reset_at, b.reset_at) << "arrival " << i;
        const UnixMillis at = arrivals[i].at;
        ASSERT_EQ(std::max(at, Gcra::IdleAt(gcra, params)), std::max(at, TokenBucket::IdleAt(bucket, params)))
            << "arrival " << i;
      }
      EXPECT_TRUE(limiter_test::WithinRateBound(Admitted<Gcra>(arrivals, shape), shape));
    }
  }
}

TEST(GcraTest, DecisionContractOnRandomArrivals) {
  limiter_test::ExpectContractOnRandomArrivals<Gcra>(2000);
}

}  // namespace
}  // namespace tollgate
