// EventInbox: each event is applied once, whether it comes by the bus, again by the bus, or by
// following the outbox; a node's own events are skipped; a failed application is retried.
#include "events/event_inbox.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"
#include "storage/domain_events.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

constexpr UnixMillis kStart = 1'800'000'000'000;

class EventInboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_OK(store);
    store_ = std::move(*store);
    inbox_ = std::make_unique<EventInbox>(*store_, EventInboxOptions{.node = "node-b"});
    inbox_->On("api.*", [this](const Event& event) -> Status {
      if (failing_) return Fail(Error::Unavailable("store down"));
      if (event.payload_json == "{}") return Fail(Error::InvalidInput("event has no apiId"));
      ++applied_[event.id];
      return {};
    });
  }

  // An API deletion written by node `origin` (api.deleted in the outbox).
  void DeleteApiOn(const std::string& origin, const std::string& api_id) {
    storage::SetEventOrigin(origin);
    const auto inserted = store_->InsertApi(Api{.id = api_id, .name = "x", .created_at = kStart});
    const auto deleted = store_->DeleteApi(api_id, kStart + 1);
    storage::SetEventOrigin("");
    ASSERT_OK(inserted);
    ASSERT_OK(deleted);
  }

  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<EventInbox> inbox_;
  std::map<std::string, int> applied_;
  bool failing_ = false;
};

Event Delivered(const std::string& id, const std::string& origin) {
  return Event{.id = id, .type = "api.deleted", .payload_json = R"({"apiId":"api_1"})", .at = kStart, .origin = origin};
}

TEST_F(EventInboxTest, AnEventDeliveredTwiceIsAppliedOnce) {
  auto first = inbox_->Deliver(Delivered("evt_1", "node-a"));
  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  auto again = inbox_->Deliver(Delivered("evt_1", "node-a"));
  ASSERT_OK(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(applied_["evt_1"], 1);
  EXPECT_EQ(inbox_->applied(), 1u);
}

TEST_F(EventInboxTest, ItsOwnEventsAreSkipped) {
  auto own = inbox_->Deliver(Delivered("evt_own", "node-b"));
  ASSERT_OK(own);
  EXPECT_FALSE(*own);
  EXPECT_TRUE(applied_.empty());
}

TEST_F(EventInboxTest, FollowingTheOutboxAppliesOtherNodesChangesOnceAlsoAfterTheBus) {
  ASSERT_OK(inbox_->FollowOnce());  // from the start: nothing yet
  DeleteApiOn("node-a", "api_1");
  DeleteApiOn("node-b", "api_2");  // its own: skipped
  auto written = store_->OutboxEventsAfter(0, 10);
  ASSERT_OK(written);
  ASSERT_EQ(written->size(), 2u);
  // The bus brings node-a's event first; the follower then finds it in the outbox too.
  ASSERT_OK(inbox_->Deliver(written->front().event));
  auto followed = inbox_->FollowOnce();
  ASSERT_OK(followed);
  EXPECT_EQ(*followed, 0u);
  EXPECT_EQ(applied_.size(), 1u);
  EXPECT_EQ(applied_[written->front().event.id], 1);
}

TEST_F(EventInboxTest, AFailedApplicationIsRetriedByTheNextFollow) {
  DeleteApiOn("node-a", "api_1");
  failing_ = true;
  EXPECT_FALSE(inbox_->FollowOnce().has_value());
  EXPECT_TRUE(applied_.empty());
  failing_ = false;
  auto followed = inbox_->FollowOnce();
  ASSERT_OK(followed);
  EXPECT_EQ(*followed, 1u);
  DeleteApiOn("node-a", "api_3");
  followed = inbox_->FollowOnce();
  ASSERT_OK(followed);
  EXPECT_EQ(*followed, 1u);  // only the new one
  EXPECT_EQ(applied_.size(), 2u);
}

TEST_F(EventInboxTest, AnEventNoApplierCanReadIsSkippedNotRetriedForever) {
  Event unreadable = Delivered("evt_bad", "node-a");
  unreadable.payload_json = "{}";
  auto skipped = inbox_->Deliver(unreadable);
  ASSERT_OK(skipped);  // logged and skipped: a retry would fail the same way
  EXPECT_TRUE(applied_.empty());
  auto next = inbox_->Deliver(Delivered("evt_good", "node-a"));
  ASSERT_OK(next);
  EXPECT_TRUE(*next);
}

TEST_F(EventInboxTest, EventsNoApplierWantsAreNotApplied) {
  Event usage = Delivered("evt_usage", "node-a");
  usage.type = "usage.batch";
  auto delivered = inbox_->Deliver(usage);
  ASSERT_OK(delivered);
  EXPECT_FALSE(*delivered);
  EXPECT_EQ(inbox_->applied(), 0u);
}

}  // namespace
}  // namespace tollgate
