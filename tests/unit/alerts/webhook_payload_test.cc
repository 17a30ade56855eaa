// What a receiver gets: tollgate's envelope around the alert, and Alertmanager's webhook payload
// (version 4) for receivers written for Alertmanager; and which webhooks get a delivery.
#include "alerts/webhook_payload.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

Alert QuotaAlert() {
  Alert alert;
  alert.id = "alert_1";
  alert.rule_id = "arule_1";
  alert.kind = AlertKind::kQuotaPercent;
  alert.subject = {.key = "i:id_a", .identity_id = "id_a", .external_id = "acme", .key_id = "", .tier = "pro"};
  alert.value = 80;
  alert.threshold = 80;
  alert.origin = "node-1";
  alert.fired_at = 1'767'225'600'123;  // 2026-01-01T00:00:00.123Z
  return alert;
}

Webhook Hook(std::string id, WebhookFormat format, std::vector<std::string> events, std::string description = "") {
  Webhook webhook;
  webhook.id = std::move(id);
  webhook.url = "https://example.com/" + webhook.id;
  webhook.format = format;
  webhook.events = std::move(events);
  webhook.description = std::move(description);
  webhook.secret = "whsec_x";
  return webhook;
}

TEST(WebhookPayloadTest, TollgateFormatWrapsTheAlertAsAlertsListShowsIt) {
  const nlohmann::json payload = TollgatePayload("evt_9", QuotaAlert(), 1'767'225'600'500);
  EXPECT_EQ(payload, nlohmann::json::parse(R"({
    "id": "evt_9", "type": "alert.firing", "createdAt": 1767225600500,
    "data": {"alertId": "alert_1", "ruleId": "arule_1", "kind": "quota_percent", "state": "firing",
             "subject": {"identityId": "id_a", "externalId": "acme", "tier": "pro"},
             "value": 80, "threshold": 80, "firedAt": 1767225600123, "resolvedAt": null, "resolvedValue": null}
  })"));
}

TEST(WebhookPayloadTest, AlertmanagerFormatIsVersion4WithOneAlert) {
  const nlohmann::json firing = AlertmanagerPayload(QuotaAlert(), "ops");
  const nlohmann::json labels = {{"alertname", "TollgateQuotaPercent"}, {"kind", "quota_percent"}, {"rule", "arule_1"},
                                 {"identity", "acme"}, {"identity_id", "id_a"}, {"tier", "pro"}};
  EXPECT_EQ(firing["version"], "4");
  EXPECT_EQ(firing["status"], "firing");
  EXPECT_EQ(firing["receiver"], "ops");
  EXPECT_EQ(firing["truncatedAlerts"], 0);
  EXPECT_EQ(firing["groupKey"], "{}:{alertname=\"TollgateQuotaPercent\", rule=\"arule_1\"}");
  EXPECT_EQ(firing["groupLabels"], (nlohmann::json{{"alertname", "TollgateQuotaPercent"}, {"rule", "arule_1"}}));
  EXPECT_EQ(firing["commonLabels"], labels);
  EXPECT_EQ(firing["externalURL"], "");
  ASSERT_EQ(firing["alerts"].size(), 1u);
  const nlohmann::json& entry = firing["alerts"][0];
  EXPECT_EQ(entry["status"], "firing");
  EXPECT_EQ(entry["labels"], labels);
  EXPECT_EQ(entry["annotations"]["summary"], "acme: 80% of the monthly quota used (threshold 80%)");
  EXPECT_EQ(firing["commonAnnotations"], entry["annotations"]);
  EXPECT_EQ(entry["startsAt"], "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(entry["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(entry["generatorURL"], "");
  const std::string fingerprint = entry["fingerprint"];
  EXPECT_EQ(fingerprint.size(), 16u);
  EXPECT_EQ(fingerprint.find_first_not_of("0123456789abcdef"), std::string::npos);

  Alert resolved = QuotaAlert();
  resolved.state = AlertState::kResolved;
  resolved.resolved_at = 1'769'904'000'000;  // 2026-02-01T00:00:00.000Z
  resolved.resolved_value = 0;
  const nlohmann::json ended = AlertmanagerPayload(resolved, "ops");
  EXPECT_EQ(ended["status"], "resolved");
  EXPECT_EQ(ended["alerts"][0]["endsAt"], "2026-02-01T00:00:00.000Z");
  EXPECT_EQ(ended["alerts"][0]["fingerprint"], fingerprint) << "one alert, one fingerprint, firing or resolved";
  EXPECT_EQ(ended["alerts"][0]["annotations"]["summary"], "acme: 0% of the monthly quota used (threshold 80%)");
}

TEST(WebhookPayloadTest, OneDeliveryPerWebhookThatReceivesTheEventEachInItsFormat) {
  const std::vector<Webhook> webhooks = {
      Hook("wh_all", WebhookFormat::kTollgate, {"alert.firing", "alert.resolved"}),
      Hook("wh_resolved", WebhookFormat::kTollgate, {"alert.resolved"}),
      Hook("wh_am", WebhookFormat::kAlertmanager, {"alert.firing"}, "pager"),
  };
  const auto deliveries = DeliveriesFor("evt_1", QuotaAlert(), webhooks, 5'000);
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(deliveries[0].webhook_id, "wh_all");
  EXPECT_EQ(deliveries[1].webhook_id, "wh_am");
  for (const WebhookDelivery& d : deliveries) {
    EXPECT_TRUE(d.id.starts_with("dlv_")) << d.id;
    EXPECT_EQ(d.event_id, "evt_1");
    EXPECT_EQ(d.event_type, "alert.firing");
    EXPECT_EQ(d.status, DeliveryStatus::kPending);
    EXPECT_EQ(d.next_attempt_at, 5'000);
    EXPECT_EQ(d.attempts, 0);
  }
  EXPECT_EQ(nlohmann::json::parse(deliveries[0].payload)["id"], "evt_1");
  const auto am = nlohmann::json::parse(deliveries[1].payload);
  EXPECT_EQ(am["version"], "4");
  EXPECT_EQ(am["receiver"], "pager");
}

TEST(WebhookPayloadTest, TextThatIsNotUtf8StillMakesAPayload) {
  Alert alert = QuotaAlert();
  alert.subject.external_id = std::string("bad\xff", 4);
  const auto deliveries = DeliveriesFor("evt_1", alert, std::vector<Webhook>{Hook("wh", WebhookFormat::kTollgate, {"alert.firing"})}, 0);
  ASSERT_EQ(deliveries.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(deliveries[0].payload)["data"]["subject"]["externalId"], "bad\xef\xbf\xbd");
}

}  // namespace
}  // namespace tollgate
