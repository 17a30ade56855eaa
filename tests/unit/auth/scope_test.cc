#include "auth/scope.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(ScopeMatchesTest, StarAloneMatchesEveryScope) {
  EXPECT_TRUE(ScopeMatches("*", "api.api_1.create_key"));
  EXPECT_TRUE(ScopeMatches("*", "rootkey.*.create"));
  EXPECT_TRUE(ScopeMatches("*", "anything"));
}

TEST(ScopeMatchesTest, StarSegmentMatchesExactlyOneSegment) {
  EXPECT_TRUE(ScopeMatches("api.*.create_key", "api.api_1.create_key"));
  EXPECT_TRUE(ScopeMatches("api.*.create_key", "api.api_2.create_key"));
  EXPECT_FALSE(ScopeMatches("api.*.create_key", "api.api_1.read_key"));
  EXPECT_FALSE(ScopeMatches("api.*.create_key", "ratelimit.api_1.create_key"));
}

TEST(ScopeMatchesTest, SegmentCountsMustAgree) {
  EXPECT_FALSE(ScopeMatches("api.*.create_key", "api.api_1.create_key.x"));
  EXPECT_FALSE(ScopeMatches("api.*.create_key", "api.create_key"));
  EXPECT_FALSE(ScopeMatches("api.*", "api.api_1.create_key"));
  EXPECT_FALSE(ScopeMatches("api.api_1.create_key", "api.api_1"));
  EXPECT_FALSE(ScopeMatches("api.api_1", "api.api_1.create_key"));
  // A trailing dot is one more (empty) segment, not nothing.
  EXPECT_FALSE(ScopeMatches("api.*.create_key", "api.api_1.create_key."));
  EXPECT_FALSE(ScopeMatches("api.api_1.create_key", "api.api_1.create_key."));
  EXPECT_FALSE(ScopeMatches("api.api_1.create_key.", "api.api_1.create_key"));
}

TEST(ScopeMatchesTest, WithoutStarsEverySegmentMustBeEqual) {
  EXPECT_TRUE(ScopeMatches("api.api_1.read_key", "api.api_1.read_key"));
  EXPECT_FALSE(ScopeMatches("api.api_1.read_key", "api.api_2.read_key"));
  EXPECT_FALSE(ScopeMatches("api.api_1.read_key", "api.api_10.read_key"));
  EXPECT_FALSE(ScopeMatches("api.api_1.read_key", "API.api_1.read_key"));
  EXPECT_FALSE(ScopeMatches("api.api_1.read_key", ""));
}

TEST(ScopeMatchesTest, StarInTheRequiredScopeIsNotAWildcard) {
  // A key scoped to one API must not satisfy (or grant) a scope over every API.
  EXPECT_FALSE(ScopeMatches("api.api_1.create_key", "api.*.create_key"));
  EXPECT_FALSE(ScopeMatches("api.*.create_key", "*"));
  EXPECT_TRUE(ScopeMatches("api.*.create_key", "api.*.create_key"));
}

TEST(ScopesAllowTest, AnyGrantedScopeSuffices) {
  const std::vector<std::string> granted = {"api.api_1.read_key", "api.*.verify_key"};
  EXPECT_TRUE(ScopesAllow(granted, "api.api_1.read_key"));
  EXPECT_TRUE(ScopesAllow(granted, "api.api_9.verify_key"));
  EXPECT_FALSE(ScopesAllow(granted, "api.api_9.read_key"));
  EXPECT_FALSE(ScopesAllow({}, "api.api_1.read_key"));
}

TEST(ScopesAllowAnyApiTest, TheActionOnOneApiOrOnEverySuffices) {
  EXPECT_TRUE(ScopesAllowAnyApi({"api.api_1.verify_key"}, "verify_key"));
  EXPECT_TRUE(ScopesAllowAnyApi({"tier.*.read_tier", "api.*.verify_key"}, "verify_key"));
  EXPECT_TRUE(ScopesAllowAnyApi({"api.api_1.*"}, "read_key"));
  EXPECT_TRUE(ScopesAllowAnyApi({"*.*.*"}, "read_key"));
  EXPECT_TRUE(ScopesAllowAnyApi({"*"}, "read_key"));
}

TEST(ScopesAllowAnyApiTest, OtherActionsResourcesAndShapesDoNot) {
  EXPECT_FALSE(ScopesAllowAnyApi({}, "verify_key"));
  EXPECT_FALSE(ScopesAllowAnyApi({"api.api_1.read_key", "api.*.update_key"}, "verify_key"));
  EXPECT_FALSE(ScopesAllowAnyApi({"tier.*.read_tier", "ratelimit.*.verify_key"}, "verify_key"));
  // Only three-segment scopes grant anything.
  EXPECT_FALSE(ScopesAllowAnyApi({"api.verify_key", "api.api_1.verify_key.x", "api", "api.."}, "verify_key"));
  EXPECT_FALSE(ScopesAllowAnyApi({"api.*.verify_key"}, "verify"));
}

TEST(ScopesAllowAnyApiTest, AgreesWithScopesAllowOnTheApiItFinds) {
  // Whenever some API is allowed, ScopesAllow allows the action on that API; when none is,
  // the wildcard scope a 403 names is not held either.
  const std::vector<std::vector<std::string>> sets = {
      {"api.api_1.verify_key"}, {"api.*.verify_key"}, {"*.api_2.*"}, {"api.api_1.read_key"}, {"*"}, {}};
  for (const auto& granted : sets) {
    bool some = false;
    for (const char* api : {"api_1", "api_2", "api_3"}) some = some || ScopesAllow(granted, ApiScope(api, "verify_key"));
    EXPECT_EQ(ScopesAllowAnyApi(granted, "verify_key"), some) << ::testing::PrintToString(granted);
    if (!ScopesAllowAnyApi(granted, "verify_key")) {
      EXPECT_FALSE(ScopesAllow(granted, ApiScope("*", "verify_key")));
    }
  }
}

TEST(IsValidScopeTest, AcceptsStarAndThreeSegments) {
  EXPECT_TRUE(IsValidScope("*"));
  EXPECT_TRUE(IsValidScope("api.*.create_key"));
  EXPECT_TRUE(IsValidScope("api.api_3xK9-z.verify_key"));
  EXPECT_TRUE(IsValidScope("*.*.*"));
  EXPECT_TRUE(IsValidScope("a.b." + std::string(252, 'c')));  // 256 characters
}

TEST(IsValidScopeTest, RefusesOtherShapes) {
  for (std::string scope : {"", "api", "api.x", "a.b.c.d", "a..b", ".a.b", "a.b.", "a.b..", "a. .c",
                            "api.a b.c", "api.a/b.c", "api.é.c", "api.x.create_key\n"}) {
    EXPECT_FALSE(IsValidScope(scope)) << '"' << scope << '"';
  }
  EXPECT_FALSE(IsValidScope("a.b." + std::string(253, 'c')));  // 257 characters
}

TEST(ApiScopeTest, JoinsResourceApiAndAction) {
  EXPECT_EQ(ApiScope("api_1", "create_key"), "api.api_1.create_key");
  EXPECT_TRUE(IsValidScope(ApiScope("api_1", "create_key")));
  EXPECT_TRUE(ScopeMatches("api.*.create_key", ApiScope("api_1", "create_key")));
}

}  // namespace
}  // namespace tollgate
