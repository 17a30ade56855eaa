// OutboxRelay over a real SQLite store (in memory) and an in-process bus: what a write leaves in
// the outbox reaches the bus once, in order, and stays pending while the bus refuses it, then
// goes out as soon as the bus takes it again.
#include "events/outbox_relay.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "events/inprocess/in_process_event_bus.h"
#include "result_assertions.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

constexpr UnixMillis kStart = 1'800'000'000'000;

// A bus that refuses batches while `down` is set, as a broker that cannot be reached does.
class FlakyBus final : public EventBus {
 public:
  void Publish(const Event& event) override { inner.Publish(event); }
  Status PublishBatch(std::span<const Event> events) override {
    ++attempts;
    if (down) return Fail(Error::Unavailable("broker unreachable"));
    return inner.PublishBatch(events);
  }
  void Subscribe(const std::string& pattern, Handler handler) override { inner.Subscribe(pattern, std::move(handler)); }

  InProcessEventBus inner;
  bool down = false;
  int attempts = 0;
};

class OutboxRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_OK(store);
    store_ = std::move(*store);
    bus_.Subscribe("#", [this](const Event& event) { seen_.push_back(event.type + " " + event.payload_json); });
    ASSERT_OK(store_->InsertApi(Api{.id = "api_1", .name = "one", .created_at = kStart}));
  }

  // Writes a key (key.created) and deletes it (key.deleted).
  void WriteAndDeleteKey(const std::string& id) {
    Key key;
    key.id = id;
    key.api_id = "api_1";
    key.hash = "hash-" + id;
    key.start = "tg_x";
    key.created_at = key.updated_at = kStart;
    ASSERT_OK(store_->InsertKey(key));
    ASSERT_OK(store_->DeleteKey(id, false, kStart + 1));
  }

  ManualClock clock_{kStart};
  std::unique_ptr<SqliteStore> store_;
  FlakyBus bus_;
  std::vector<std::string> seen_;
};

TEST_F(OutboxRelayTest, PublishesPendingEventsInOrderOnceAndMarksThemSent) {
  OutboxRelay relay(*store_, bus_, clock_, {.batch_size = 2});
  WriteAndDeleteKey("key_1");
  WriteAndDeleteKey("key_2");

  for (std::size_t expected : {2u, 2u, 0u}) {
    auto round = relay.RunOnce();
    ASSERT_OK(round);
    EXPECT_EQ(*round, expected);
  }
  ASSERT_EQ(seen_.size(), 4u);
  EXPECT_EQ(seen_[0].rfind("key.created ", 0), 0u) << seen_[0];
  EXPECT_NE(seen_[0].find("key_1"), std::string::npos);
  EXPECT_EQ(seen_[1].rfind("key.deleted ", 0), 0u) << seen_[1];
  EXPECT_NE(seen_[3].find("key_2"), std::string::npos);
  EXPECT_EQ(relay.published(), 4u);
  auto pending = store_->OldestPendingOutboxAt();
  ASSERT_OK(pending);
  EXPECT_FALSE(pending->has_value());
}

TEST_F(OutboxRelayTest, EventsTheBusRefusedStayPendingAndGoOutOldestFirstOnceItIsBack) {
  OutboxRelay relay(*store_, bus_, clock_, {.batch_size = 2, .lease_ms = 30'000});
  WriteAndDeleteKey("key_1");
  bus_.down = true;
  auto failed = relay.RunOnce();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  auto pending = store_->OldestPendingOutboxAt();
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, std::optional<UnixMillis>(kStart));
  WriteAndDeleteKey("key_2");  // written during the outage
  clock_.Advance(1'000);
  ASSERT_FALSE(relay.RunOnce().has_value());

  bus_.down = false;
  // The batch the failed rounds kept goes out first, long before its 30 s lease runs out.
  for (std::size_t expected : {2u, 2u, 0u}) {
    auto round = relay.RunOnce();
    ASSERT_OK(round);
    EXPECT_EQ(*round, expected);
  }
  ASSERT_EQ(seen_.size(), 4u);
  EXPECT_NE(seen_[0].find("key_1"), std::string::npos) << seen_[0];
  EXPECT_NE(seen_[1].find("key_1"), std::string::npos) << seen_[1];
  EXPECT_NE(seen_[2].find("key_2"), std::string::npos) << seen_[2];
  EXPECT_EQ(bus_.attempts, 4);
}

TEST_F(OutboxRelayTest, ABatchKeptPastItsLeaseIsClaimedAgainNotPublishedTwice) {
  OutboxRelay relay(*store_, bus_, clock_, {.lease_ms = 30'000});
  WriteAndDeleteKey("key_1");
  bus_.down = true;
  ASSERT_FALSE(relay.RunOnce().has_value());
  // The lease runs out and another node's relay publishes the events meanwhile.
  clock_.Advance(30'000);
  auto taken = store_->ClaimOutboxEvents("other", 10, clock_.NowMillis(), 30'000);
  ASSERT_OK(taken);
  ASSERT_EQ(taken->size(), 2u);
  ASSERT_OK(store_->MarkOutboxSent(std::vector<std::int64_t>{(*taken)[0].seq, (*taken)[1].seq}, clock_.NowMillis()));

  bus_.down = false;
  auto round = relay.RunOnce();
  ASSERT_OK(round);
  EXPECT_EQ(*round, 0u);
  EXPECT_TRUE(seen_.empty());
}

TEST_F(OutboxRelayTest, TheThreadPublishesWhatIsWrittenAndDrainsAtStop) {
  OutboxRelay relay(*store_, bus_, clock_, {.poll_interval = std::chrono::milliseconds(10)});
  relay.Start();
  WriteAndDeleteKey("key_1");
  relay.Wake();
  WriteAndDeleteKey("key_2");
  relay.Stop();  // the final round publishes whatever the polls had not yet
  EXPECT_EQ(relay.published(), 4u);
  auto pending = store_->OldestPendingOutboxAt();
  ASSERT_OK(pending);
  EXPECT_FALSE(pending->has_value());
}

}  // namespace
}  // namespace tollgate
