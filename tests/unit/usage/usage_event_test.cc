#include "usage/usage_event.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(UsageEventTest, JsonLineRoundTripsEveryField) {
  UsageEvent event{1'700'000'000'123, "api_1", "key_1", "acme", "RATE_LIMITED", 7, {"a", "b\"\n"}, "per-second", "verify"};
  const std::string line = UsageEventToJsonLine(event);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto back = UsageEventFromJsonLine(line);
  ASSERT_TRUE(back.has_value()) << back.error().detail;
  EXPECT_EQ(back->at, event.at);
  EXPECT_EQ(back->api_id, event.api_id);
  EXPECT_EQ(back->key_id, event.key_id);
  EXPECT_EQ(back->external_id, event.external_id);
  EXPECT_EQ(back->code, event.code);
  EXPECT_EQ(back->credits_spent, event.credits_spent);
  EXPECT_EQ(back->tags, event.tags);
  EXPECT_EQ(back->denied_by, event.denied_by);
  EXPECT_EQ(back->source, event.source);
}

TEST(UsageEventTest, JsonLineHoldsTextFieldsAsStringsOfAnyLength) {
  const std::string long_name(200, 'n');  // past UsageText's inline bytes
  UsageEvent event{5, "api_4f8QZk3rT9wJm2XbAcDeFg", "key_7Hq2LmN9pR4sTv6WxYzAb", "6f1c2a7e-9b3d-4c8a-a1f0-000000000042",
                   "VALID", 1, {}, long_name, "authorize"};
  const std::string line = UsageEventToJsonLine(event);
  EXPECT_NE(line.find(R"("externalId":"6f1c2a7e-9b3d-4c8a-a1f0-000000000042")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("deniedBy":")" + long_name + '"'), std::string::npos) << line;
  auto back = UsageEventFromJsonLine(line);
  ASSERT_TRUE(back.has_value()) << back.error().detail;
  EXPECT_EQ(back->api_id, "api_4f8QZk3rT9wJm2XbAcDeFg");
  EXPECT_EQ(back->external_id, event.external_id);
  EXPECT_EQ(back->denied_by, long_name);
  EXPECT_EQ(back->source, "authorize");
}

TEST(UsageEventTest, TornOrForeignLinesAreRefused) {
  const std::string line = UsageEventToJsonLine({1, "a", "k", "", "VALID", 0, {}, "", "verify"});
  EXPECT_FALSE(UsageEventFromJsonLine(line.substr(0, line.size() / 2)).has_value());
  EXPECT_FALSE(UsageEventFromJsonLine("[]").has_value());
  EXPECT_FALSE(UsageEventFromJsonLine(R"({"at":"soon"})").has_value());
}

}  // namespace
}  // namespace tollgate
