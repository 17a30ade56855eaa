#include "events/inprocess/in_process_event_bus.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

Event MakeEvent(std::string type) {
  Event event;
  event.id = "evt_" + type;
  event.type = std::move(type);
  event.payload_json = "{}";
  return event;
}

TEST(EventTypeMatchesTest, HashMatchesEverything) {
  EXPECT_TRUE(EventTypeMatches("#", "key.created"));
  EXPECT_TRUE(EventTypeMatches("#", "a"));
  EXPECT_TRUE(EventTypeMatches("#", "key.a.b"));
}

TEST(EventTypeMatchesTest, ExactType) {
  EXPECT_TRUE(EventTypeMatches("key.created", "key.created"));
  EXPECT_FALSE(EventTypeMatches("key.created", "key.updated"));
  EXPECT_FALSE(EventTypeMatches("key.created", "key.created.x"));
  EXPECT_FALSE(EventTypeMatches("key", "key.created"));
}

TEST(EventTypeMatchesTest, StarMatchesOneWord) {
  EXPECT_TRUE(EventTypeMatches("key.*", "key.created"));
  EXPECT_TRUE(EventTypeMatches("key.*", "key.deleted"));
  EXPECT_FALSE(EventTypeMatches("key.*", "keys.created"));
  EXPECT_FALSE(EventTypeMatches("key.*", "key.a.b"));
  EXPECT_FALSE(EventTypeMatches("key.*", "key"));
  EXPECT_FALSE(EventTypeMatches("key.*", "api.created"));
}

TEST(InProcessEventBusTest, PublishReachesMatchingSubscribersOnly) {
  InProcessEventBus bus;
  std::vector<std::string> all, keys, created, apis;
  bus.Subscribe("#", [&](const Event& e) { all.push_back(e.type); });
  bus.Subscribe("key.*", [&](const Event& e) { keys.push_back(e.type); });
  bus.Subscribe("key.created", [&](const Event& e) { created.push_back(e.type); });
  bus.Subscribe("api.*", [&](const Event& e) { apis.push_back(e.type); });

  bus.Publish(MakeEvent("key.created"));
  bus.Publish(MakeEvent("key.deleted"));
  bus.Publish(MakeEvent("identity.updated"));

  EXPECT_EQ(all, (std::vector<std::string>{"key.created", "key.deleted", "identity.updated"}));
  EXPECT_EQ(keys, (std::vector<std::string>{"key.created", "key.deleted"}));
  EXPECT_EQ(created, (std::vector<std::string>{"key.created"}));
  EXPECT_TRUE(apis.empty());
}

TEST(InProcessEventBusTest, HandlersSeeTheWholeEvent) {
  InProcessEventBus bus;
  Event seen;
  bus.Subscribe("key.updated", [&](const Event& e) { seen = e; });
  Event event = MakeEvent("key.updated");
  event.payload_json = R"({"keyId":"key_1"})";
  event.at = 1234;
  bus.Publish(event);
  EXPECT_EQ(seen.id, event.id);
  EXPECT_EQ(seen.payload_json, event.payload_json);
  EXPECT_EQ(seen.at, 1234);
}

TEST(InProcessEventBusTest, PublishWithoutSubscribersIsANoOp) {
  InProcessEventBus bus;
  bus.Publish(MakeEvent("key.created"));
}

TEST(InProcessEventBusTest, HandlerMayPublishWithoutDeadlock) {
  InProcessEventBus bus;
  std::vector<std::string> seen;
  bus.Subscribe("key.deleted", [&](const Event&) { bus.Publish(MakeEvent("audit.logged")); });
  bus.Subscribe("audit.*", [&](const Event& e) { seen.push_back(e.type); });
  bus.Publish(MakeEvent("key.deleted"));
  EXPECT_EQ(seen, std::vector<std::string>{"audit.logged"});
}

TEST(InProcessEventBusTest, HandlerMaySubscribeWithoutDeadlock) {
  InProcessEventBus bus;
  int late_calls = 0;
  bus.Subscribe("key.created", [&](const Event&) {
    bus.Subscribe("key.created", [&](const Event&) { ++late_calls; });
  });
  bus.Publish(MakeEvent("key.created"));
  // The subscriber added during delivery does not see the event being delivered.
  EXPECT_EQ(late_calls, 0);
  bus.Publish(MakeEvent("key.created"));
  EXPECT_EQ(late_calls, 1);
}

TEST(InProcessEventBusTest, ConcurrentPublishAndSubscribe) {
  InProcessEventBus bus;
  std::atomic<int> delivered{0};
  bus.Subscribe("#", [&](const Event&) { delivered.fetch_add(1, std::memory_order_relaxed); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) bus.Publish(MakeEvent("key.updated"));
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 100; ++i) bus.Subscribe("nothing.*", [](const Event&) {});
  });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(delivered.load(), 4000);
}

}  // namespace
}  // namespace tollgate
