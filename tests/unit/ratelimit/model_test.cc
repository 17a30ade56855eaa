// The pure parts of the rate limit model: wildcard patterns, namespace names and ids, algorithm
// names.
#include "ratelimit/model.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(WildcardMatchesTest, LiteralPatternsMatchOnlyThemselves) {
  EXPECT_TRUE(WildcardMatches("user_1", "user_1"));
  EXPECT_FALSE(WildcardMatches("user_1", "user_10"));
  EXPECT_FALSE(WildcardMatches("user_10", "user_1"));
  EXPECT_FALSE(WildcardMatches("", "a"));
  EXPECT_TRUE(WildcardMatches("", ""));
}

TEST(WildcardMatchesTest, StarMatchesAnyRunIncludingTheEmptyOne) {
  EXPECT_TRUE(WildcardMatches("premium_*", "premium_"));
  EXPECT_TRUE(WildcardMatches("premium_*", "premium_42"));
  EXPECT_FALSE(WildcardMatches("premium_*", "free_42"));
  EXPECT_TRUE(WildcardMatches("*_admin", "root_admin"));
  EXPECT_FALSE(WildcardMatches("*_admin", "root_admin2"));
  EXPECT_TRUE(WildcardMatches("*suspicious*", "very_suspicious_ip"));
  EXPECT_TRUE(WildcardMatches("*suspicious*", "suspicious"));
  EXPECT_FALSE(WildcardMatches("*suspicious*", "suspicous"));
  EXPECT_TRUE(WildcardMatches("*", ""));
  EXPECT_TRUE(WildcardMatches("*", "anything at all"));
  EXPECT_TRUE(WildcardMatches("a**b", "ab"));
}

TEST(WildcardMatchesTest, BacktracksWhenTheFirstChoiceOfRunFails) {
  EXPECT_TRUE(WildcardMatches("*ab", "aab"));
  EXPECT_TRUE(WildcardMatches("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(WildcardMatches("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(WildcardMatches("10.0.*.*", "10.0.3.17"));
  EXPECT_FALSE(WildcardMatches("10.0.*.*", "10.1.3.17"));
  // Worst case for backtracking at the largest allowed size stays cheap and correct.
  const std::string identifier(255, 'a');
  EXPECT_FALSE(WildcardMatches(std::string(127, '*') + "b", identifier));
  EXPECT_TRUE(WildcardMatches("*a*a*a*", identifier));
}

TEST(NamespaceNameTest, AcceptsUnkeysCharacterSetUpTo255) {
  EXPECT_TRUE(IsValidNamespaceName("api.requests"));
  EXPECT_TRUE(IsValidNamespaceName("tenant:42_sign-up"));
  EXPECT_TRUE(IsValidNamespaceName(std::string(255, 'n')));
  EXPECT_FALSE(IsValidNamespaceName(std::string(256, 'n')));
  EXPECT_FALSE(IsValidNamespaceName(""));
  EXPECT_FALSE(IsValidNamespaceName("has space"));
  EXPECT_FALSE(IsValidNamespaceName("slash/y"));
  EXPECT_FALSE(IsValidNamespaceName("star*"));
}

TEST(NamespaceNameTest, IdsAreRecognisedByTheirPrefix) {
  EXPECT_TRUE(LooksLikeNamespaceId("rlns_3xk9"));
  EXPECT_FALSE(LooksLikeNamespaceId("rlns_"));
  EXPECT_FALSE(LooksLikeNamespaceId("rlns"));
  EXPECT_FALSE(LooksLikeNamespaceId("rlnsx_1"));
  EXPECT_FALSE(LooksLikeNamespaceId("api.rlns_1"));
}

TEST(LimitAlgorithmNameTest, RoundTripsAndRejectsUnknownNames) {
  for (auto algorithm : {LimitAlgorithm::kSlidingWindow, LimitAlgorithm::kTokenBucket, LimitAlgorithm::kFixedWindow,
                         LimitAlgorithm::kGcra}) {
    EXPECT_EQ(ParseLimitAlgorithm(LimitAlgorithmName(algorithm)), algorithm);
  }
  EXPECT_EQ(LimitAlgorithmName(LimitAlgorithm::kSlidingWindow), "sliding_window");
  EXPECT_FALSE(ParseLimitAlgorithm("leaky_bucket").has_value());
  EXPECT_FALSE(ParseLimitAlgorithm("").has_value());
}

}  // namespace
}  // namespace tollgate
