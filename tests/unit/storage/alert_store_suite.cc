// The AlertStore part of the Store contract (store_suite.h says how a backend runs it): rules,
// one open alert per rule and subject with its event and deliveries in the same write, history in
// pages with any combination of filters, webhooks, the claims of due deliveries and their renewal,
// and the nodes' heartbeats with the takeover of a gone node's alerts.

#include <algorithm>
#include <atomic>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "result_assertions.h"
#include "store_suite.h"

namespace tollgate::store_suite {
namespace {

AlertRule Rule(const std::string& id, AlertKind kind = AlertKind::kQuotaPercent) {
  AlertRule rule;
  rule.id = id;
  rule.name = "rule " + id;
  rule.kind = kind;
  rule.threshold = 80;
  rule.resolve_threshold = 75;
  rule.window_seconds = kind == AlertKind::kRatelimitBreaches ? 60 : 0;
  rule.tier = "pro";
  rule.created_at = 1'000;
  return rule;
}

Alert Firing(const std::string& id, const std::string& rule_id, const std::string& identity, UnixMillis at) {
  Alert alert;
  alert.id = id;
  alert.rule_id = rule_id;
  alert.subject = {.key = "i:" + identity, .identity_id = identity, .external_id = "ext-" + identity, .key_id = "",
                   .tier = "pro"};
  alert.value = 80;
  alert.threshold = 80;
  alert.origin = "node-a";
  alert.fired_at = at;
  return alert;
}

Webhook Hook(const std::string& id, std::vector<std::string> events, WebhookFormat format = WebhookFormat::kTollgate) {
  Webhook webhook;
  webhook.id = id;
  webhook.url = "https://example.com/" + id;
  webhook.description = "hook " + id;
  webhook.format = format;
  webhook.events = std::move(events);
  webhook.secret = "whsec_" + id;
  webhook.created_at = 500;
  return webhook;
}

std::vector<std::string> Types(const std::vector<OutboxEvent>& events) {
  std::vector<std::string> types;
  for (const OutboxEvent& e : events) types.push_back(e.event.type);
  return types;
}

std::vector<WebhookDelivery> Deliveries(Store& store, const DeliveryFilter& filter = {}) {
  auto page = store.ListDeliveries(filter, std::nullopt, 100);
  EXPECT_TRUE(page.has_value()) << page.error().detail;
  return page ? page->items : std::vector<WebhookDelivery>{};
}

std::vector<OutboxEvent> Events(Store& store) {
  auto events = store.OutboxEventsAfter(0, 100);
  EXPECT_TRUE(events.has_value());
  return events.value_or(std::vector<OutboxEvent>{});
}

TEST_P(StoreTest, AlertRulesRoundTripAndAreDeletedSoftly) {
  AlertRule identity = Rule("arule_1");
  identity.tier.clear();
  identity.identity_id = "id_a";
  identity.external_id = "acme";
  AlertRule breaches = Rule("arule_2", AlertKind::kRatelimitBreaches);
  breaches.created_at = 2'000;
  ASSERT_OK(store_->InsertAlertRule(identity));
  ASSERT_OK(store_->InsertAlertRule(breaches));
  auto rules = store_->ListAlertRules();
  ASSERT_OK(rules);
  ASSERT_EQ(rules->size(), 2u);
  const AlertRule& got = (*rules)[0];
  EXPECT_EQ(got.id, "arule_1");
  EXPECT_EQ(got.name, "rule arule_1");
  EXPECT_EQ(got.kind, AlertKind::kQuotaPercent);
  EXPECT_EQ(got.threshold, 80);
  EXPECT_EQ(got.resolve_threshold, 75);
  EXPECT_EQ(got.identity_id, "id_a");
  EXPECT_EQ(got.external_id, "acme");
  EXPECT_EQ(got.tier, "");
  EXPECT_EQ(got.created_at, 1'000);
  EXPECT_EQ((*rules)[1].kind, AlertKind::kRatelimitBreaches);
  EXPECT_EQ((*rules)[1].window_seconds, 60);

  ASSERT_OK(store_->DeleteAlertRule("arule_1", 3'000));
  EXPECT_ERROR(store_->DeleteAlertRule("arule_1", 4'000), kNotFound);
  EXPECT_ERROR(store_->DeleteAlertRule("arule_none", 4'000), kNotFound);
  rules = store_->ListAlertRules();
  ASSERT_OK(rules);
  ASSERT_EQ(rules->size(), 1u);
  EXPECT_EQ((*rules)[0].id, "arule_2");
}

TEST_P(StoreTest, AlertOpensOncePerRuleAndSubjectWithItsEventAndDeliveriesInTheSameWrite) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_all", {"alert.firing", "alert.resolved"})));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_resolved", {"alert.resolved"})));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_gone", {"alert.firing"})));
  ASSERT_OK(store_->DeleteWebhook("wh_gone", 600));

  auto opened = store_->OpenAlert(Firing("alert_1", "arule_1", "id_a", 5'000));
  ASSERT_OK(opened);
  EXPECT_TRUE(*opened);
  auto again = store_->OpenAlert(Firing("alert_2", "arule_1", "id_a", 6'000));
  ASSERT_OK(again);
  EXPECT_FALSE(*again) << "one open alert per rule and subject";

  const auto events = Events(*store_);
  ASSERT_EQ(Types(events), std::vector<std::string>{"alert.firing"});
  const auto payload = nlohmann::json::parse(events[0].event.payload_json);
  EXPECT_EQ(payload["alertId"], "alert_1");
  EXPECT_EQ(payload["subject"]["externalId"], "ext-id_a");
  EXPECT_EQ(events[0].event.at, 5'000);
  const auto deliveries = Deliveries(*store_);
  ASSERT_EQ(deliveries.size(), 1u) << "the live webhook that receives alert.firing";
  EXPECT_EQ(deliveries[0].webhook_id, "wh_all");
  EXPECT_EQ(deliveries[0].event_id, events[0].event.id);
  EXPECT_EQ(deliveries[0].event_type, "alert.firing");
  EXPECT_EQ(deliveries[0].status, DeliveryStatus::kPending);
  EXPECT_EQ(deliveries[0].next_attempt_at, 5'000);
  EXPECT_EQ(nlohmann::json::parse(deliveries[0].payload)["data"]["alertId"], "alert_1");

  auto other = store_->OpenAlert(Firing("alert_3", "arule_1", "id_b", 7'000));
  ASSERT_OK(other);
  EXPECT_TRUE(*other) << "another subject";
  auto open = store_->ListOpenAlerts();
  ASSERT_OK(open);
  ASSERT_EQ(open->size(), 2u);
  EXPECT_EQ((*open)[0].id, "alert_1");
  EXPECT_EQ((*open)[0].origin, "node-a");
  EXPECT_EQ((*open)[0].subject.tier, "pro");
  EXPECT_EQ((*open)[0].resolved_at, std::nullopt);
}

TEST_P(StoreTest, ResolvingAnAlertAnnouncesItAndFreesItsSubjectForTheNextCrossing) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_all", {"alert.firing", "alert.resolved"})));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_resolved", {"alert.resolved"}, WebhookFormat::kAlertmanager)));
  ASSERT_OK(store_->OpenAlert(Firing("alert_1", "arule_1", "id_a", 5'000)));

  auto resolved = store_->ResolveAlert("arule_1", "i:id_a", 3, 9'000);
  ASSERT_OK(resolved);
  ASSERT_TRUE(resolved->has_value());
  EXPECT_EQ((*resolved)->id, "alert_1");
  EXPECT_EQ((*resolved)->state, AlertState::kResolved);
  EXPECT_EQ((*resolved)->value, 80);
  EXPECT_EQ((*resolved)->resolved_value, 3);
  EXPECT_EQ((*resolved)->resolved_at, 9'000);
  auto none = store_->ResolveAlert("arule_1", "i:id_a", 2, 9'500);
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value()) << "nothing open any more";

  EXPECT_EQ(Types(Events(*store_)), (std::vector<std::string>{"alert.firing", "alert.resolved"}));
  const auto resolved_deliveries = Deliveries(*store_, {.webhook_id = "wh_resolved"});
  ASSERT_EQ(resolved_deliveries.size(), 1u);
  EXPECT_EQ(resolved_deliveries[0].event_type, "alert.resolved");
  EXPECT_EQ(nlohmann::json::parse(resolved_deliveries[0].payload)["status"], "resolved");
  EXPECT_EQ(Deliveries(*store_, {.webhook_id = "wh_all"}).size(), 2u);

  auto reopened = store_->OpenAlert(Firing("alert_2", "arule_1", "id_a", 10'000));
  ASSERT_OK(reopened);
  EXPECT_TRUE(*reopened);
}

TEST_P(StoreTest, ConcurrentOpeningsOfOneAlertWriteItOnce) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_all", {"alert.firing"})));
  constexpr int kThreads = 6;
  std::latch start(kThreads);
  std::atomic<int> opened{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto result = store_->OpenAlert(Firing("alert_" + std::to_string(i), "arule_1", "id_a", 5'000 + i));
      if (!result) ++failed;
      else if (*result) ++opened;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(opened.load(), 1);
  EXPECT_EQ(Types(Events(*store_)), std::vector<std::string>{"alert.firing"});
  EXPECT_EQ(Deliveries(*store_).size(), 1u);
}

TEST_P(StoreTest, AlertHistoryPagesNewestFirstAndFilters) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_2")));
  ASSERT_OK(store_->OpenAlert(Firing("alert_1", "arule_1", "id_a", 1'000)));
  ASSERT_OK(store_->OpenAlert(Firing("alert_2", "arule_2", "id_a", 2'000)));
  ASSERT_OK(store_->OpenAlert(Firing("alert_3", "arule_1", "id_b", 3'000)));
  ASSERT_OK(store_->ResolveAlert("arule_1", "i:id_a", 0, 4'000));
  ASSERT_OK(store_->OpenAlert(Firing("alert_4", "arule_1", "id_a", 5'000)));

  auto ids = [](const AlertPage& page) {
    std::vector<std::string> out;
    for (const Alert& a : page.items) out.push_back(a.id);
    return out;
  };
  auto first = store_->ListAlerts({}, std::nullopt, 3);
  ASSERT_OK(first);
  EXPECT_EQ(ids(*first), (std::vector<std::string>{"alert_4", "alert_3", "alert_2"}));
  ASSERT_TRUE(first->next_before.has_value());
  auto second = store_->ListAlerts({}, first->next_before, 3);
  ASSERT_OK(second);
  EXPECT_EQ(ids(*second), std::vector<std::string>{"alert_1"});
  EXPECT_FALSE(second->next_before.has_value());

  auto by_rule = store_->ListAlerts({.rule_id = "arule_1"}, std::nullopt, 10);
  ASSERT_OK(by_rule);
  EXPECT_EQ(ids(*by_rule), (std::vector<std::string>{"alert_4", "alert_3", "alert_1"}));
  auto by_identity = store_->ListAlerts({.identity_id = "id_a"}, std::nullopt, 10);
  ASSERT_OK(by_identity);
  EXPECT_EQ(ids(*by_identity), (std::vector<std::string>{"alert_4", "alert_2", "alert_1"}));
  auto resolved = store_->ListAlerts({.state = AlertState::kResolved}, std::nullopt, 10);
  ASSERT_OK(resolved);
  EXPECT_EQ(ids(*resolved), std::vector<std::string>{"alert_1"});
  auto firing = store_->ListAlerts({.rule_id = "arule_1", .identity_id = "id_a", .state = AlertState::kFiring},
                                   std::nullopt, 10);
  ASSERT_OK(firing);
  EXPECT_EQ(ids(*firing), std::vector<std::string>{"alert_4"});
}

// The origin of every open alert, by alert id.
std::map<std::string, std::string> Origins(Store& store) {
  auto open = store.ListOpenAlerts();
  EXPECT_TRUE(open.has_value());
  std::map<std::string, std::string> origins;
  for (const Alert& alert : open.value_or(std::vector<Alert>{})) origins[alert.id] = alert.origin;
  return origins;
}

TEST_P(StoreTest, TheOpenAlertsOfANodeNotSeenSinceAGivenTimeAreTakenOverOnce) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1", AlertKind::kCreditsBelow)));
  const std::map<std::string, std::string> fired = {{"alert_a", "node-a"}, {"alert_b", "node-b"}, {"alert_c", "node-old"}};
  for (const auto& [id, node] : fired) {
    Alert alert = Firing(id, "arule_1", "id_" + id, 1'000);
    alert.origin = node;
    ASSERT_OK(store_->OpenAlert(alert));
  }
  ASSERT_OK(store_->TouchAlertNode("node-a", 50'000));
  ASSERT_OK(store_->TouchAlertNode("node-b", 10'000));
  ASSERT_OK(store_->TouchAlertNode("node-b", 9'000));  // a late heartbeat does not turn the clock back
  // node-old never wrote a heartbeat: gone. node-b was seen at 10 s.
  auto adopted = store_->AdoptAlertsOfGoneNodes("node-a", 9'500);
  ASSERT_OK(adopted);
  EXPECT_EQ(*adopted, 1);
  EXPECT_EQ(Origins(*store_),
            (std::map<std::string, std::string>{{"alert_a", "node-a"}, {"alert_b", "node-b"}, {"alert_c", "node-a"}}));
  adopted = store_->AdoptAlertsOfGoneNodes("node-a", 15'000);
  ASSERT_OK(adopted);
  EXPECT_EQ(*adopted, 1) << "node-b was not seen since 15 s";
  adopted = store_->AdoptAlertsOfGoneNodes("node-c", 15'000);
  ASSERT_OK(adopted);
  EXPECT_EQ(*adopted, 0) << "taken over once: node-a is alive";
  EXPECT_EQ(Origins(*store_),
            (std::map<std::string, std::string>{{"alert_a", "node-a"}, {"alert_b", "node-a"}, {"alert_c", "node-a"}}));

  // Later node-a is gone in turn; its resolved alerts stay as they are.
  ASSERT_OK(store_->ResolveAlert("arule_1", "i:id_alert_a", 20, 55'000));
  ASSERT_OK(store_->TouchAlertNode("node-b", 90'000));  // forgotten at 15 s, back under the same name
  adopted = store_->AdoptAlertsOfGoneNodes("node-b", 60'000);
  ASSERT_OK(adopted);
  EXPECT_EQ(*adopted, 2);
  EXPECT_EQ(Origins(*store_), (std::map<std::string, std::string>{{"alert_b", "node-b"}, {"alert_c", "node-b"}}));
  auto resolved = store_->ListAlerts({.state = AlertState::kResolved}, std::nullopt, 10);
  ASSERT_OK(resolved);
  ASSERT_EQ(resolved->items.size(), 1u);
  EXPECT_EQ(resolved->items[0].origin, "node-a");
}

TEST_P(StoreTest, WebhooksRoundTripWithTheirSecretAndDeletingOneFailsItsPendingDeliveries) {
  ASSERT_OK(store_->InsertWebhook(Hook("wh_1", {"alert.firing", "alert.resolved"}, WebhookFormat::kAlertmanager)));
  auto webhooks = store_->ListWebhooks();
  ASSERT_OK(webhooks);
  ASSERT_EQ(webhooks->size(), 1u);
  const Webhook& got = (*webhooks)[0];
  EXPECT_EQ(got.url, "https://example.com/wh_1");
  EXPECT_EQ(got.description, "hook wh_1");
  EXPECT_EQ(got.format, WebhookFormat::kAlertmanager);
  EXPECT_EQ(got.events, (std::vector<std::string>{"alert.firing", "alert.resolved"}));
  EXPECT_EQ(got.secret, "whsec_wh_1");
  EXPECT_EQ(got.created_at, 500);

  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->OpenAlert(Firing("alert_1", "arule_1", "id_a", 1'000)));
  auto pending = store_->CountPendingDeliveries();
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 1);
  ASSERT_OK(store_->DeleteWebhook("wh_1", 2'000));
  EXPECT_ERROR(store_->DeleteWebhook("wh_1", 3'000), kNotFound);
  webhooks = store_->ListWebhooks();
  ASSERT_OK(webhooks);
  EXPECT_TRUE(webhooks->empty());
  const auto deliveries = Deliveries(*store_);
  ASSERT_EQ(deliveries.size(), 1u);
  EXPECT_EQ(deliveries[0].status, DeliveryStatus::kFailed);
  EXPECT_EQ(deliveries[0].last_error, "webhook deleted");
  pending = store_->CountPendingDeliveries();
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 0);
}

TEST_P(StoreTest, ADueDeliveryIsClaimedByOneNodeUntilItsLeaseRunsOut) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_1", {"alert.firing"})));
  ASSERT_OK(store_->OpenAlert(Firing("alert_1", "arule_1", "id_a", 1'000)));
  ASSERT_OK(store_->OpenAlert(Firing("alert_2", "arule_1", "id_b", 1'500)));

  auto early = store_->ClaimDueDeliveries("node-a", 10, 999, 30'000);
  ASSERT_OK(early);
  EXPECT_TRUE(early->empty()) << "not due yet";
  auto a = store_->ClaimDueDeliveries("node-a", 1, 2'000, 30'000);
  ASSERT_OK(a);
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ(a->front().next_attempt_at, 1'000) << "soonest due first";
  auto b = store_->ClaimDueDeliveries("node-b", 10, 2'000, 30'000);
  ASSERT_OK(b);
  ASSERT_EQ(b->size(), 1u) << "the other one";
  EXPECT_NE(b->front().id, a->front().id);
  auto none = store_->ClaimDueDeliveries("node-b", 10, 31'999, 30'000);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty()) << "both leases still run";

  // node-a's lease runs out: node-b takes the delivery over, and node-a's late outcome is refused.
  auto taken = store_->ClaimDueDeliveries("node-b", 1, 32'000, 30'000);
  ASSERT_OK(taken);
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front().id, a->front().id);
  DeliveryAttempt late{.delivery_id = a->front().id, .status = DeliveryStatus::kDelivered, .attempts = 1,
                       .status_code = 200, .error = "", .next_attempt_at = 0, .delivered_at = 32'500};
  EXPECT_ERROR(store_->RecordDeliveryAttempt("node-a", late), kConflict);
  ASSERT_OK(store_->RecordDeliveryAttempt("node-b", late));
  EXPECT_ERROR(store_->RecordDeliveryAttempt("node-b", late), kConflict);  // recorded once
}

TEST_P(StoreTest, AClaimIsRenewedOnlyByTheNodeHoldingItWhileTheDeliveryIsPending) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_1", {"alert.firing"})));
  ASSERT_OK(store_->OpenAlert(Firing("alert_1", "arule_1", "id_a", 1'000)));
  auto claimed = store_->ClaimDueDeliveries("node-a", 10, 1'000, 10'000);  // until 11 s
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  const std::string id = claimed->front().id;

  auto renewed = store_->RenewDeliveryClaim("node-a", id, 30'000);
  ASSERT_OK(renewed);
  EXPECT_TRUE(*renewed);
  auto none = store_->ClaimDueDeliveries("node-b", 10, 20'000, 10'000);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty()) << "renewed until 30 s";
  auto not_holder = store_->RenewDeliveryClaim("node-b", id, 40'000);
  ASSERT_OK(not_holder);
  EXPECT_FALSE(*not_holder);

  auto taken = store_->ClaimDueDeliveries("node-b", 10, 30'000, 10'000);
  ASSERT_OK(taken);
  ASSERT_EQ(taken->size(), 1u) << "lapsed at 30 s";
  auto lost = store_->RenewDeliveryClaim("node-a", id, 50'000);
  ASSERT_OK(lost);
  EXPECT_FALSE(*lost) << "node-b holds it now";
  ASSERT_OK(store_->RecordDeliveryAttempt("node-b", {.delivery_id = id, .status = DeliveryStatus::kDelivered,
                                                     .attempts = 1, .status_code = 200, .error = "",
                                                     .next_attempt_at = 0, .delivered_at = 31'000}));
  auto settled = store_->RenewDeliveryClaim("node-b", id, 50'000);
  ASSERT_OK(settled);
  EXPECT_FALSE(*settled) << "delivered: nothing left to claim";
}

TEST_P(StoreTest, ARecordedAttemptUpdatesTheDeliveryAndFreesItsClaim) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_1", {"alert.firing"})));
  ASSERT_OK(store_->OpenAlert(Firing("alert_1", "arule_1", "id_a", 1'000)));
  auto claimed = store_->ClaimDueDeliveries("node-a", 10, 1'000, 30'000);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  const std::string id = claimed->front().id;
  ASSERT_OK(store_->RecordDeliveryAttempt("node-a", {.delivery_id = id, .status = DeliveryStatus::kPending, .attempts = 1,
                                                     .status_code = 503, .error = "answered HTTP 503",
                                                     .next_attempt_at = 2'000, .delivered_at = std::nullopt}));
  auto page = store_->ListDeliveries({}, std::nullopt, 10);
  ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 1u);
  const WebhookDelivery& retry = page->items[0];
  EXPECT_EQ(retry.status, DeliveryStatus::kPending);
  EXPECT_EQ(retry.attempts, 1);
  EXPECT_EQ(retry.last_status_code, 503);
  EXPECT_EQ(retry.last_error, "answered HTTP 503");
  EXPECT_EQ(retry.next_attempt_at, 2'000);
  EXPECT_EQ(retry.created_at, 1'000);
  auto too_early = store_->ClaimDueDeliveries("node-a", 10, 1'999, 30'000);
  ASSERT_OK(too_early);
  EXPECT_TRUE(too_early->empty());
  auto again = store_->ClaimDueDeliveries("node-b", 10, 2'000, 30'000);
  ASSERT_OK(again);
  ASSERT_EQ(again->size(), 1u) << "the claim was freed with the record";
  EXPECT_EQ(again->front().attempts, 1);
}

TEST_P(StoreTest, DeliveriesPageNewestFirstAndFilterByWebhookAndStatus) {
  ASSERT_OK(store_->InsertAlertRule(Rule("arule_1")));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_1", {"alert.firing"})));
  ASSERT_OK(store_->InsertWebhook(Hook("wh_2", {"alert.firing"})));
  for (const char* identity : {"id_a", "id_b", "id_c"}) {
    ASSERT_OK(store_->OpenAlert(Firing(std::string("alert_") + identity, "arule_1", identity, 1'000)));
  }
  auto all = store_->ListDeliveries({}, std::nullopt, 4);
  ASSERT_OK(all);
  ASSERT_EQ(all->items.size(), 4u);
  ASSERT_TRUE(all->next_before.has_value());
  auto rest = store_->ListDeliveries({}, all->next_before, 4);
  ASSERT_OK(rest);
  EXPECT_EQ(rest->items.size(), 2u);
  EXPECT_FALSE(rest->next_before.has_value());
  EXPECT_EQ(nlohmann::json::parse(all->items[0].payload)["data"]["alertId"], "alert_id_c") << "newest first";
  auto wh2 = store_->ListDeliveries({.webhook_id = "wh_2"}, std::nullopt, 10);
  ASSERT_OK(wh2);
  EXPECT_EQ(wh2->items.size(), 3u);
  auto claimed = store_->ClaimDueDeliveries("node-a", 1, 1'000, 30'000);
  ASSERT_OK(claimed);
  ASSERT_OK(store_->RecordDeliveryAttempt("node-a", {.delivery_id = claimed->front().id, .status = DeliveryStatus::kDelivered,
                                                     .attempts = 1, .status_code = 200, .error = "", .next_attempt_at = 0,
                                                     .delivered_at = 1'100}));
  auto delivered = store_->ListDeliveries({.status = DeliveryStatus::kDelivered}, std::nullopt, 10);
  ASSERT_OK(delivered);
  ASSERT_EQ(delivered->items.size(), 1u);
  EXPECT_EQ(delivered->items[0].delivered_at, 1'100);
  const std::string done_hook = claimed->front().webhook_id;
  const std::string other_hook = done_hook == "wh_1" ? "wh_2" : "wh_1";
  auto both = store_->ListDeliveries({.webhook_id = done_hook, .status = DeliveryStatus::kDelivered}, std::nullopt, 10);
  ASSERT_OK(both);
  ASSERT_EQ(both->items.size(), 1u);
  EXPECT_EQ(both->items[0].id, claimed->front().id);
  auto pending_of_done = store_->ListDeliveries({.webhook_id = done_hook, .status = DeliveryStatus::kPending}, std::nullopt, 1);
  ASSERT_OK(pending_of_done);
  EXPECT_EQ(pending_of_done->items.size(), 1u);
  EXPECT_TRUE(pending_of_done->next_before.has_value()) << "2 pending: a second page";
  auto none_delivered = store_->ListDeliveries({.webhook_id = other_hook, .status = DeliveryStatus::kDelivered},
                                               std::nullopt, 10);
  ASSERT_OK(none_delivered);
  EXPECT_TRUE(none_delivered->items.empty());
  auto pending = store_->CountPendingDeliveries();
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 5);
}

}  // namespace
}  // namespace tollgate::store_suite
