// The backoff schedule: doubling from the base, capped, with "equal jitter" (between half and all
// of the step).
#include "alerts/retry_policy.h"

#include <vector>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(RetryPolicyTest, DoublesFromTheBaseUpToTheCap) {
  const RetryPolicy policy{.base_ms = 1'000, .max_ms = 10'000, .max_attempts = 20};
  std::vector<std::int64_t> longest, shortest;
  for (std::int64_t failed = 1; failed <= 6; ++failed) {
    longest.push_back(RetryDelayMs(policy, failed, 0.999999));
    shortest.push_back(RetryDelayMs(policy, failed, 0.0));
  }
  EXPECT_EQ(longest, (std::vector<std::int64_t>{999, 1'999, 3'999, 7'999, 9'999, 9'999}));
  EXPECT_EQ(shortest, (std::vector<std::int64_t>{500, 1'000, 2'000, 4'000, 5'000, 5'000}));
}

TEST(RetryPolicyTest, JitterSpreadsBetweenHalfAndAllOfTheStep) {
  const RetryPolicy policy{.base_ms = 200, .max_ms = 600'000, .max_attempts = 20};
  EXPECT_EQ(RetryDelayMs(policy, 3, 0.5), 600);  // step 800: 400 + 0.5 x 400
  EXPECT_EQ(RetryDelayMs(policy, 3, 0.25), 500);
}

TEST(RetryPolicyTest, ManyAttemptsStayAtTheCapWithoutOverflow) {
  const RetryPolicy policy{.base_ms = 1'000, .max_ms = 600'000, .max_attempts = 1'000};
  EXPECT_EQ(RetryDelayMs(policy, 1'000, 0.0), 300'000);
  EXPECT_EQ(RetryDelayMs(policy, 1'000, 1.0), 600'000);
}

TEST(RetryPolicyTest, ABaseAboveTheCapIsTheCap) {
  const RetryPolicy policy{.base_ms = 5'000, .max_ms = 1'000, .max_attempts = 3};
  EXPECT_EQ(RetryDelayMs(policy, 1, 1.0), 1'000);
}

}  // namespace
}  // namespace tollgate
