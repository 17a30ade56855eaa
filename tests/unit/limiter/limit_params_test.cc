#include "limiter/limit_params.h"

#include <vector>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

LimitCheck Check(std::string key, std::int64_t limit = 10, std::int64_t window_ms = 1000,
                 std::int64_t cost = 1) {
  return {std::move(key), LimitAlgorithm::kSlidingWindow, limit, window_ms, cost};
}

TEST(LimitParamsTest, AcceptsTheBounds) {
  EXPECT_TRUE(IsValid({1, 1, 0}));
  EXPECT_TRUE(IsValid({kMaxLimitTimesWindow, 1, 1}));
  EXPECT_TRUE(IsValid({1, kMaxWindowMs, 1}));
  EXPECT_TRUE(IsValid({kMaxLimitTimesWindow / kMaxWindowMs, kMaxWindowMs, 1}));
  EXPECT_TRUE(IsValid({std::int64_t{1} << 31, std::int64_t{1} << 31, 5}));
  EXPECT_TRUE(ValidateLimitChecks(std::vector{Check("a"), Check("b", 1, 1, 0)}, 0).has_value());
  EXPECT_TRUE(ValidateLimitChecks(std::vector{Check("a")}, kMaxNow).has_value());
  EXPECT_TRUE(ValidateLimitChecks({}, 0).has_value());
}

TEST(LimitParamsTest, RejectsWhatWouldOverflowOrMeansNothing) {
  EXPECT_FALSE(IsValid({0, 1000, 1}));
  EXPECT_FALSE(IsValid({10, 0, 1}));
  EXPECT_FALSE(IsValid({10, 1000, -1}));
  EXPECT_FALSE(IsValid({(std::int64_t{1} << 31) + 1, std::int64_t{1} << 31, 1}));
  EXPECT_FALSE(IsValid({1, kMaxWindowMs + 1, 1}));
}

TEST(LimitParamsTest, NamesTheOffendingFieldOfTheOffendingCheck) {
  const auto check = [](std::vector<LimitCheck> checks, UnixMillis now = 0) {
    const Status status = ValidateLimitChecks(checks, now);
    EXPECT_FALSE(status.has_value());
    if (status.has_value()) return std::string();
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidInput);
    return status.error().fields.empty() ? std::string("(no field)") : status.error().fields[0].location;
  };
  EXPECT_EQ(check({Check("a"), Check("b", 0)}), "checks[1].limit");
  EXPECT_EQ(check({Check("a", 10, 0)}), "checks[0].windowMs");
  EXPECT_EQ(check({Check("a", 1, kMaxWindowMs + 1)}), "checks[0].windowMs");
  EXPECT_EQ(check({Check("a", 10, 1000, -2)}), "checks[0].cost");
  EXPECT_EQ(check({Check("")}), "checks[0].counterKey");
  EXPECT_EQ(check({Check("a"), Check("b"), Check("a")}), "checks[2].counterKey");
  EXPECT_EQ(check({Check("a", kMaxLimitTimesWindow, 2)}), "checks[0].limit");
  LimitCheck unknown = Check("a");
  unknown.algorithm = static_cast<LimitAlgorithm>(9);
  EXPECT_EQ(check({unknown}), "checks[0].algorithm");
  EXPECT_EQ(check({Check("a")}, -1), "(no field)");
  EXPECT_EQ(check({Check("a")}, kMaxNow + 1), "(no field)");
}

}  // namespace
}  // namespace tollgate
