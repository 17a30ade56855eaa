// RATE_LIMITED answers counted per customer (else per key) in one-second buckets.
#include "alerts/breach_counter.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

UsageEvent Event(UnixMillis at, std::string code, std::string key_id, std::string external_id = "") {
  UsageEvent event;
  event.at = at;
  event.code = code;
  event.key_id = key_id;
  event.external_id = external_id;
  return event;
}

TEST(BreachCounterTest, CountsOnlyRateLimitedAnswersPerCustomerElsePerKey) {
  BreachCounter counter;
  const std::vector<UsageEvent> events = {
      Event(10'000, "RATE_LIMITED", "key_a", "acme"), Event(10'500, "RATE_LIMITED", "key_b", "acme"),
      Event(11'000, "VALID", "key_a", "acme"),        Event(11'000, "USAGE_EXCEEDED", "key_a", "acme"),
      Event(12'000, "RATE_LIMITED", "key_c"),
  };
  counter.Add(events);
  EXPECT_EQ(counter.CountSince({"acme", ""}, 0), 2);  // both of acme's keys
  EXPECT_EQ(counter.CountSince({"", "key_c"}, 0), 1);
  EXPECT_EQ(counter.CountSince({"", "key_a"}, 0), 0);  // counted under acme
  auto counts = counter.CountsSince(0);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].first.external_id, "acme");
  EXPECT_EQ(counts[0].first.key_id, "key_a") << "the first key seen, for a customer's breaches";
  EXPECT_EQ(counts[1].first.key_id, "key_c");
}

TEST(BreachCounterTest, AWindowCountsWholeSecondsSinceItsStartAndForgetDropsOlderOnes) {
  BreachCounter counter;
  std::vector<UsageEvent> events;
  for (UnixMillis at : {1'000, 1'999, 2'000, 5'500, 9'999}) events.push_back(Event(at, "RATE_LIMITED", "k", "acme"));
  counter.Add(events);
  EXPECT_EQ(counter.CountSince({"acme", ""}, 0), 5);
  EXPECT_EQ(counter.CountSince({"acme", ""}, 1'500), 5) << "the second of 1.5 s counts whole";
  EXPECT_EQ(counter.CountSince({"acme", ""}, 2'000), 3);
  EXPECT_EQ(counter.CountSince({"acme", ""}, 6'000), 1);
  EXPECT_TRUE(counter.CountsSince(10'000).empty());
  counter.Forget(5'000);
  EXPECT_EQ(counter.CountSince({"acme", ""}, 0), 2);
  counter.Forget(10'000);
  EXPECT_TRUE(counter.CountsSince(0).empty());
}

}  // namespace
}  // namespace tollgate
