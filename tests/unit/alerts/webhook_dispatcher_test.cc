// The WebhookDispatcher on a real in-memory SQLite store with a scripted sender and a ManualClock:
// the signed request, delivery on a 2xx, the backoff schedule between retries with the same
// idempotency id, giving up after max_attempts, deliveries of a deleted webhook, an attempt cut
// off at shutdown, claims renewed before each attempt (and one lost meanwhile not sent twice),
// and the thread woken by new deliveries.
#include "alerts/webhook_dispatcher.h"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "alerts/webhook_signature.h"
#include "common/calendar.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

const UnixMillis kStart = FromCivil({2026, 3, 1}) + 1'234;

// Answers each Post with the next scripted result (a 200 when the script is empty) and keeps
// what was sent.
class ScriptedSender final : public WebhookSender {
 public:
  struct Sent {
    WebhookUrl url;
    HeaderList headers;
    std::string body;
  };

  SendResult Post(const WebhookUrl& url, const HeaderList& headers, const std::string& body) override {
    std::size_t index = 0;
    SendResult next{.status = 200};
    {
      std::lock_guard lock(mu);
      index = sent.size();
      sent.push_back({url, headers, body});
      if (!answers.empty()) {
        next = answers.front();
        answers.pop_front();
      }
    }
    if (during) during(index);  // what happens while the attempt takes its time
    return next;
  }
  void Cancel() override { cancelled = true; }

  std::string Header(std::size_t i, const std::string& name) {
    std::lock_guard lock(mu);
    for (const auto& [n, v] : sent.at(i).headers) {
      if (n == name) return v;
    }
    return "";
  }
  std::size_t Count() {
    std::lock_guard lock(mu);
    return sent.size();
  }

  std::mutex mu;
  std::deque<SendResult> answers;
  std::vector<Sent> sent;
  bool cancelled = false;
  std::function<void(std::size_t)> during;  // called in each Post with its index
};

SendResult Refused() { return {.error = "cannot connect to 127.0.0.1:9: Connection refused"}; }
SendResult Status(int status) { return {.status = status, .error = "answered HTTP " + std::to_string(status)}; }

class WebhookDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    webhook_.id = "wh_1";
    webhook_.url = "http://127.0.0.1:9/hooks?team=ops";
    webhook_.events = {"alert.firing", "alert.resolved"};
    webhook_.secret = "whsec_dispatcher";
    ASSERT_OK(store_->InsertWebhook(webhook_));
    AlertRule rule;
    rule.id = "arule_1";
    rule.threshold = 80;
    rule.resolve_threshold = 75;
    ASSERT_OK(store_->InsertAlertRule(rule));
  }

  std::unique_ptr<WebhookDispatcher> Dispatcher(RetryPolicy retry = {.base_ms = 1'000, .max_ms = 60'000, .max_attempts = 5}) {
    return std::make_unique<WebhookDispatcher>(*store_, sender_, clock_,
                                               WebhookDispatcherOptions{.node = "node-a", .retry = retry},
                                               [] { return 0.5; });
  }

  // Fires an alert: one pending delivery to the webhook, due now.
  WebhookDelivery Fire(const std::string& subject = "i:id_a") {
    Alert alert;
    alert.id = "alert_" + subject.substr(2);
    alert.rule_id = "arule_1";
    alert.subject.key = subject;
    alert.value = 80;
    alert.threshold = 80;
    alert.fired_at = clock_.NowMillis();
    EXPECT_TRUE(store_->OpenAlert(alert).value_or(false));
    return Only();
  }

  WebhookDelivery Only() {
    auto page = store_->ListDeliveries({}, std::nullopt, 10);
    EXPECT_TRUE(page.has_value());
    EXPECT_EQ(page->items.size(), 1u);
    return page->items.empty() ? WebhookDelivery{} : page->items.front();
  }

  std::size_t RunOnce(WebhookDispatcher& dispatcher) {
    auto claimed = dispatcher.RunOnce();
    EXPECT_TRUE(claimed.has_value()) << claimed.error().detail;
    return claimed.value_or(0);
  }

  ManualClock clock_{kStart};
  std::unique_ptr<SqliteStore> store_;
  Webhook webhook_;
  ScriptedSender sender_;
};

TEST_F(WebhookDispatcherTest, PostsTheStoredBodySignedAndMarksItDeliveredOnA2xx) {
  const WebhookDelivery pending = Fire();
  auto dispatcher = Dispatcher();
  EXPECT_EQ(RunOnce(*dispatcher), 1u);
  ASSERT_EQ(sender_.Count(), 1u);
  const auto& sent = sender_.sent[0];
  EXPECT_EQ(sent.url.host, "127.0.0.1");
  EXPECT_EQ(sent.url.port, "9");
  EXPECT_EQ(sent.url.target, "/hooks?team=ops");
  EXPECT_EQ(sent.body, pending.payload);
  EXPECT_EQ(sender_.Header(0, "Content-Type"), "application/json");
  EXPECT_EQ(sender_.Header(0, "User-Agent"), std::string("tollgate/") + TOLLGATE_TEST_VERSION);
  EXPECT_EQ(sender_.Header(0, "Tollgate-Event-Id"), pending.event_id);
  EXPECT_EQ(sender_.Header(0, "Tollgate-Event-Type"), "alert.firing");
  EXPECT_EQ(sender_.Header(0, "Tollgate-Signature"), WebhookSignature(webhook_.secret, kStart / 1000, pending.payload));

  const WebhookDelivery done = Only();
  EXPECT_EQ(done.status, DeliveryStatus::kDelivered);
  EXPECT_EQ(done.attempts, 1);
  EXPECT_EQ(done.last_status_code, 200);
  EXPECT_EQ(done.last_error, "");
  EXPECT_EQ(done.delivered_at, kStart);
  EXPECT_EQ(RunOnce(*dispatcher), 0u) << "a delivered delivery is never sent again";
  EXPECT_EQ(dispatcher->Counters().delivered, 1u);
}

TEST_F(WebhookDispatcherTest, RetriesWithBackoffAndTheSameEventIdUntilDelivered) {
  const WebhookDelivery pending = Fire();
  sender_.answers = {Status(500), Refused(), Status(302)};
  auto dispatcher = Dispatcher();
  // Jitter 0.5: 750 ms, 1.5 s, 3 s after the 1st, 2nd and 3rd failure (base 1 s).
  std::vector<UnixMillis> waits;
  for (int failure = 1; failure <= 3; ++failure) {
    EXPECT_EQ(RunOnce(*dispatcher), 1u);
    const WebhookDelivery retry = Only();
    EXPECT_EQ(retry.status, DeliveryStatus::kPending);
    EXPECT_EQ(retry.attempts, failure);
    waits.push_back(retry.next_attempt_at - clock_.NowMillis());
    clock_.Advance(retry.next_attempt_at - clock_.NowMillis() - 1);
    EXPECT_EQ(RunOnce(*dispatcher), 0u) << "not due yet";
    clock_.Advance(1);
  }
  EXPECT_EQ(waits, (std::vector<UnixMillis>{750, 1'500, 3'000}));
  EXPECT_EQ(RunOnce(*dispatcher), 1u);
  EXPECT_EQ(Only().status, DeliveryStatus::kDelivered);
  EXPECT_EQ(Only().attempts, 4);
  ASSERT_EQ(sender_.Count(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(sender_.Header(i, "Tollgate-Event-Id"), pending.event_id);
  EXPECT_TRUE(sender_.Header(0, "Tollgate-Signature").starts_with("t=" + std::to_string(kStart / 1000) + ","));
  EXPECT_NE(sender_.Header(3, "Tollgate-Signature"), sender_.Header(0, "Tollgate-Signature")) << "signed afresh";
  const auto counters = dispatcher->Counters();
  EXPECT_EQ(counters.retried, 3u);
  EXPECT_EQ(counters.delivered, 1u);
}

TEST_F(WebhookDispatcherTest, ARetryRecordsWhyTheAttemptFailed) {
  Fire();
  sender_.answers = {Status(503), Refused()};
  auto dispatcher = Dispatcher();
  RunOnce(*dispatcher);
  EXPECT_EQ(Only().last_status_code, 503);
  EXPECT_EQ(Only().last_error, "answered HTTP 503");
  clock_.Advance(10'000);
  RunOnce(*dispatcher);
  EXPECT_EQ(Only().last_status_code, std::nullopt);
  EXPECT_EQ(Only().last_error, "cannot connect to 127.0.0.1:9: Connection refused");
}

TEST_F(WebhookDispatcherTest, GivesUpAfterMaxAttempts) {
  Fire();
  sender_.answers = {Status(503), Status(503), Status(503)};
  auto dispatcher = Dispatcher({.base_ms = 100, .max_ms = 100, .max_attempts = 2});
  RunOnce(*dispatcher);
  clock_.Advance(1'000);
  RunOnce(*dispatcher);
  const WebhookDelivery failed = Only();
  EXPECT_EQ(failed.status, DeliveryStatus::kFailed);
  EXPECT_EQ(failed.attempts, 2);
  clock_.Advance(1'000);
  EXPECT_EQ(RunOnce(*dispatcher), 0u);
  EXPECT_EQ(sender_.Count(), 2u);
  EXPECT_EQ(dispatcher->Counters().failed, 1u);
}

TEST_F(WebhookDispatcherTest, DeletingTheWebhookFailsItsPendingDeliveries) {
  Fire();
  ASSERT_OK(store_->DeleteWebhook(webhook_.id, clock_.NowMillis()));
  auto dispatcher = Dispatcher();
  EXPECT_EQ(RunOnce(*dispatcher), 0u);
  EXPECT_EQ(sender_.Count(), 0u);
  EXPECT_EQ(Only().status, DeliveryStatus::kFailed);
  EXPECT_EQ(Only().last_error, "webhook deleted");
}

TEST_F(WebhookDispatcherTest, AnAttemptCutOffAtShutdownIsNotCountedAndIsDueAgainAtOnce) {
  Fire();
  sender_.answers = {{.cancelled = true}};
  auto dispatcher = Dispatcher();
  EXPECT_EQ(RunOnce(*dispatcher), 1u);
  const WebhookDelivery released = Only();
  EXPECT_EQ(released.status, DeliveryStatus::kPending);
  EXPECT_EQ(released.attempts, 0);
  EXPECT_EQ(released.next_attempt_at, kStart);
  EXPECT_EQ(RunOnce(*dispatcher), 1u) << "the claim was freed";
  EXPECT_EQ(Only().status, DeliveryStatus::kDelivered);
}

// Two deliveries due, claimed together by node-a for 2 x 20 s (attempt_budget 20 s).
class WebhookClaimTest : public WebhookDispatcherTest {
 protected:
  void SetUp() override {
    WebhookDispatcherTest::SetUp();
    Fire("i:id_a");
    clock_.Advance(1);
    Alert second;
    second.id = "alert_b";
    second.rule_id = "arule_1";
    second.subject.key = "i:id_b";
    second.fired_at = clock_.NowMillis();
    ASSERT_TRUE(store_->OpenAlert(second).value_or(false));
    dispatcher_ = std::make_unique<WebhookDispatcher>(
        *store_, sender_, clock_,
        WebhookDispatcherOptions{.node = "node-a", .batch = 2, .attempt_budget = std::chrono::seconds(20)},
        [] { return 0.5; });
  }

  // What node-b claims at this moment.
  std::size_t ClaimedByB() {
    auto claimed = store_->ClaimDueDeliveries("node-b", 10, clock_.NowMillis(), 60'000);
    EXPECT_TRUE(claimed.has_value());
    return claimed ? claimed->size() : 0;
  }

  std::unique_ptr<WebhookDispatcher> dispatcher_;
};

TEST_F(WebhookClaimTest, EachAttemptRenewsItsClaimSoALateStartKeepsIt) {
  std::size_t taken_by_b = 0;
  sender_.during = [&](std::size_t i) {
    if (i == 0) clock_.Advance(35'000);  // the first attempt runs long
    if (i == 1) {
      clock_.Advance(10'000);  // 45 s: past the batch's 40 s claim, within the second attempt's own
      taken_by_b = ClaimedByB();
    }
  };
  EXPECT_EQ(RunOnce(*dispatcher_), 2u);
  EXPECT_EQ(sender_.Count(), 2u);
  EXPECT_EQ(taken_by_b, 0u) << "the delivery under way was left to node-a";
  auto page = store_->ListDeliveries({.status = DeliveryStatus::kDelivered}, std::nullopt, 10);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->items.size(), 2u) << "both outcomes recorded: node-a held both claims throughout";
}

TEST_F(WebhookClaimTest, ADeliveryTakenOverWhileWaitingItsTurnIsNotSentAgain) {
  std::size_t taken_by_b = 0;
  sender_.during = [&](std::size_t i) {
    if (i != 0) return;
    clock_.Advance(50'000);  // an attempt far beyond its budget: both claims lapse
    taken_by_b = ClaimedByB();
  };
  EXPECT_EQ(RunOnce(*dispatcher_), 2u);
  EXPECT_EQ(taken_by_b, 2u);
  EXPECT_EQ(sender_.Count(), 1u) << "the second delivery is node-b's now: node-a does not send it as well";
  auto pending = store_->ListDeliveries({.status = DeliveryStatus::kPending}, std::nullopt, 10);
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->items.size(), 2u) << "node-a's late outcome of the first is refused; node-b records both";
}

TEST_F(WebhookDispatcherTest, TheThreadDeliversWhenWokenAndStopCancelsTheSender) {
  auto dispatcher = std::make_unique<WebhookDispatcher>(
      *store_, sender_, clock_,
      WebhookDispatcherOptions{.node = "node-a", .poll_interval = std::chrono::seconds(60)}, [] { return 0.5; });
  dispatcher->Start();
  Fire();
  dispatcher->Wake();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sender_.Count() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(sender_.Count(), 1u) << "woken, not left for the 60 s poll";
  dispatcher->Stop();
  EXPECT_TRUE(sender_.cancelled);
}

}  // namespace
}  // namespace tollgate
