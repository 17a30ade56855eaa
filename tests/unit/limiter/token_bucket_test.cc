#include "limiter/token_bucket.h"

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

TEST(TokenBucketTest, AFullBucketAdmitsTheLimitAtOnce) {
  TokenBucket::State state;
  for (std::int64_t expected_remaining : {2, 1, 0}) {
    const LimitDecision d = TokenBucket::Decide(state, Params(3, 1000), kT0);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, expected_remaining);
  }
  EXPECT_FALSE(TokenBucket::Decide(state, Params(3, 1000), kT0).allowed);
}

TEST(TokenBucketTest, RefillsFractionalTokensExactly) {
  TokenBucket::State state;
  TokenBucket::Decide(state, Params(3, 1000, 3), kT0);
  // One token takes 333⅓ ms: 0.999 tokens at +333, 1.002 at +334.
  const LimitDecision early = TokenBucket::Decide(state, Params(3, 1000), kT0 + 333);
  EXPECT_FALSE(early.allowed);
  EXPECT_EQ(early.reset_at, kT0 + 334);
  const LimitDecision on_time = TokenBucket::Decide(state, Params(3, 1000), kT0 + 334);
  EXPECT_TRUE(on_time.allowed);
  EXPECT_EQ(on_time.remaining, 0);
  // 0.002 tokens were left over: the next token is due at 666⅔ → 667, not 334 + 334 = 668.
  EXPECT_EQ(on_time.reset_at, kT0 + 667);
}

TEST(TokenBucketTest, NeverDriftsUnderSustainedDemand) {
  TokenBucket::State state;
  std::int64_t admitted = 0;
  for (UnixMillis t = kT0; t < kT0 + 100'000; ++t) {
    while (TokenBucket::Decide(state, Params(3, 1000), t).allowed) ++admitted;
  }
  // The full bucket plus ⌊99 999 · 3/1000⌋ refilled tokens.
  EXPECT_EQ(admitted, 3 + 299);
}

TEST(TokenBucketTest, AWindowBoundaryMeansNothing) {
  TokenBucket::State state;
  TokenBucket::Decide(state, Params(1000, 1000, 1000), kT0 + 999);
  const LimitDecision next = TokenBucket::Decide(state, Params(1000, 1000), kT0 + 1000);
  EXPECT_TRUE(next.allowed);  // one token per ms
  EXPECT_EQ(next.remaining, 0);
  EXPECT_FALSE(TokenBucket::Decide(state, Params(1000, 1000), kT0 + 1000).allowed);
}

TEST(TokenBucketTest, ResetAtWaitsForTheWholeCost) {
  TokenBucket::State state;
  TokenBucket::Decide(state, Params(10, 1000, 10), kT0);
  const LimitDecision d = TokenBucket::Decide(state, Params(10, 1000, 5), kT0 + 100);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 1);
  EXPECT_EQ(d.reset_at, kT0 + 500);
  EXPECT_FALSE(TokenBucket::Peek(state, Params(10, 1000, 5), kT0 + 499).allowed);
  EXPECT_TRUE(TokenBucket::Peek(state, Params(10, 1000, 5), kT0 + 500).allowed);
}

TEST(TokenBucketTest, CostAboveTheLimitIsAlwaysDenied) {
  TokenBucket::State state;
  const LimitDecision d = TokenBucket::Decide(state, Params(5, 1000, 6), kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 5);
  EXPECT_EQ(d.reset_at, kNeverAdmitted);
  EXPECT_EQ(state.spent, 0);
}

TEST(TokenBucketTest, PeekAndCostZeroDoNotCharge) {
  TokenBucket::State state;
  EXPECT_TRUE(TokenBucket::Peek(state, Params(1, 1000), kT0).allowed);
  EXPECT_EQ(TokenBucket::Decide(state, Params(1, 1000, 0), kT0).remaining, 1);
  EXPECT_TRUE(TokenBucket::Decide(state, Params(1, 1000), kT0).allowed);
  EXPECT_FALSE(TokenBucket::Peek(state, Params(1, 1000), kT0).allowed);
}

TEST(TokenBucketTest, ClockGoingBackRefillsNothing) {
  TokenBucket::State state;
  TokenBucket::Decide(state, Params(2, 1000, 2), kT0 + 5000);
  const LimitDecision back = TokenBucket::Decide(state, Params(2, 1000), kT0);
  EXPECT_FALSE(back.allowed);
  EXPECT_EQ(back.reset_at, kT0 + 5500);
}

TEST(TokenBucketTest, IdleOnceTheBucketIsFullAgain) {
  TokenBucket::State state;
  EXPECT_EQ(TokenBucket::IdleAt(state, Params(3, 1000)), 0);
  TokenBucket::Decide(state, Params(3, 1000), kT0);
  EXPECT_EQ(TokenBucket::IdleAt(state, Params(3, 1000)), kT0 + 334);
  TokenBucket::Decide(state, Params(3, 1000, 2), kT0);
  EXPECT_EQ(TokenBucket::IdleAt(state, Params(3, 1000)), kT0 + 1000);
}

// Greedy admission under the arrival curve L + L·(b − a)/W: admit a request iff, for every
// earlier admitted instant s (and s = now), what was admitted in [s, now] plus this cost still
// fits. A token bucket starting full is exactly this greedy shaper (tokens(t) = min over s of
// L + L·(t − s)/W − admitted in [s, t]), so TokenBucket must agree on every decision: that is
// both the upper bound and "never under-admits". O(n²), written for obviousness.
std::vector<bool> GreedyUnderArrivalCurve(const std::vector<Arrival>& arrivals, const LimitParams& shape) {
  std::vector<Arrival> admitted;
  std::vector<bool> decisions;
  for (const Arrival& a : arrivals) {
    bool fits = a.cost <= shape.limit;
    std::int64_t since = a.cost;
    for (auto it = admitted.rbegin(); fits && it != admitted.rend(); ++it) {
      since += it->cost;
      fits = since * shape.window_ms <= shape.limit * shape.window_ms + shape.limit * (a.at - it->at);
    }
    decisions.push_back(fits);
    if (fits) admitted.push_back(a);
  }
  return decisions;
}

TEST(TokenBucketTest, PropertyIsExactlyTheGreedyShaperUnderItsRateBound) {
  for (const LimitParams& shape : limiter_test::PropertyShapes()) {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      SCOPED_TRACE("limit " + std::to_string(shape.limit) + " per " + std::to_string(shape.window_ms) +
                   ", seed " + std::to_string(seed));
      const auto arrivals = limiter_test::RandomArrivals(seed, 4000, shape);
      const std::vector<bool> expected = GreedyUnderArrivalCurve(arrivals, shape);
      TokenBucket::State state;
      for (std::size_t i = 0; i < arrivals.size(); ++i) {
        const LimitParams params{shape.limit, shape.window_ms, arrivals[i].cost};
        ASSERT_EQ(TokenBucket::Decide(state, params, arrivals[i].at).allowed, expected[i])
            << "arrival " << i << " at " << arrivals[i].at;
      }
      EXPECT_TRUE(limiter_test::WithinRateBound(Admitted<TokenBucket>(arrivals, shape), shape));
    }
  }
}

TEST(TokenBucketTest, DecisionContractOnRandomArrivals) {
  limiter_test::ExpectContractOnRandomArrivals<TokenBucket>(2000);
}

}  // namespace
}  // namespace tollgate
