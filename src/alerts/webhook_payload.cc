#include "alerts/webhook_payload.h"

#include "alerts/alert_json.h"
#include "common/calendar.h"
#include "common/crypto.h"
#include "common/ids.h"

namespace tollgate {
namespace {

// Alertmanager's "not resolved yet" end time.
constexpr std::string_view kZeroTime = "0001-01-01T00:00:00Z";

std::string_view AlertName(AlertKind kind) {
  switch (kind) {
    case AlertKind::kQuotaPercent: return "TollgateQuotaPercent";
    case AlertKind::kCreditsBelow: return "TollgateCreditsBelow";
    case AlertKind::kRatelimitBreaches: return "TollgateRatelimitBreaches";
  }
  return "Tollgate";
}

// Who the alert is about, as a person reads it: the customer's external id, else the key.
std::string Who(const AlertSubject& subject) {
  return !subject.external_id.empty() ? subject.external_id : "key " + subject.key_id;
}

// The value as it stands in this transition: measured at resolution for a resolved alert.
std::int64_t CurrentValue(const Alert& alert) { return alert.resolved_value.value_or(alert.value); }

std::string Summary(const Alert& alert) {
  const std::string who = Who(alert.subject);
  const std::string value = std::to_string(CurrentValue(alert));
  const std::string threshold = std::to_string(alert.threshold);
  switch (alert.kind) {
    case AlertKind::kQuotaPercent: return who + ": " + value + "% of the monthly quota used (threshold " + threshold + "%)";
    case AlertKind::kCreditsBelow: return who + ": " + value + " credits left (threshold " + threshold + ")";
    case AlertKind::kRatelimitBreaches:
      return who + ": " + value + " rate-limited verifications in the window (threshold " + threshold + ")";
  }
  return who;
}

std::string Description(const Alert& alert) {
  std::string text = Summary(alert);
  if (!alert.subject.tier.empty()) text += "; tier " + alert.subject.tier;
  text += "; rule " + alert.rule_id;
  text += alert.state == AlertState::kFiring ? "; firing" : "; resolved";
  return text;
}

nlohmann::json Labels(const Alert& alert) {
  nlohmann::json labels = {{"alertname", AlertName(alert.kind)}, {"kind", AlertKindName(alert.kind)}, {"rule", alert.rule_id}};
  if (!alert.subject.external_id.empty()) labels["identity"] = alert.subject.external_id;
  if (!alert.subject.identity_id.empty()) labels["identity_id"] = alert.subject.identity_id;
  if (!alert.subject.key_id.empty()) labels["key"] = alert.subject.key_id;
  if (!alert.subject.tier.empty()) labels["tier"] = alert.subject.tier;
  return labels;
}

// The same for the firing and the resolved notice of one alert, as Alertmanager's is per label set.
std::string Fingerprint(const Alert& alert) {
  const Sha256Digest digest = Sha256(alert.rule_id + "\n" + alert.subject.key);
  return ToHex(digest.data(), 8);
}

}  // namespace

nlohmann::json TollgatePayload(std::string_view event_id, const Alert& alert, UnixMillis created_at) {
  return {{"id", event_id}, {"type", AlertEventType(alert.state)}, {"createdAt", created_at}, {"data", AlertToJson(alert)}};
}

nlohmann::json AlertmanagerPayload(const Alert& alert, std::string_view receiver) {
  const nlohmann::json labels = Labels(alert);
  const nlohmann::json annotations = {{"summary", Summary(alert)}, {"description", Description(alert)}};
  const std::string status(AlertStateName(alert.state));
  nlohmann::json entry = {{"status", status},
                          {"labels", labels},
                          {"annotations", annotations},
                          {"startsAt", FormatIsoMillis(alert.fired_at)},
                          {"endsAt", alert.resolved_at ? FormatIsoMillis(*alert.resolved_at) : std::string(kZeroTime)},
                          {"generatorURL", ""},
                          {"fingerprint", Fingerprint(alert)}};
  const nlohmann::json group = {{"alertname", labels["alertname"]}, {"rule", alert.rule_id}};
  return {{"version", "4"},
          {"groupKey", "{}:{alertname=\"" + std::string(AlertName(alert.kind)) + "\", rule=\"" + alert.rule_id + "\"}"},
          {"truncatedAlerts", 0},
          {"status", status},
          {"receiver", receiver},
          {"groupLabels", group},
          {"commonLabels", labels},
          {"commonAnnotations", annotations},
          {"externalURL", ""},
          {"alerts", nlohmann::json::array({std::move(entry)})}};
}

std::vector<WebhookDelivery> DeliveriesFor(std::string_view event_id, const Alert& alert,
                                           std::span<const Webhook> webhooks, UnixMillis now) {
  const std::string_view type = AlertEventType(alert.state);
  std::vector<WebhookDelivery> deliveries;
  for (const Webhook& webhook : webhooks) {
    if (!webhook.Receives(type)) continue;
    const nlohmann::json body =
        webhook.format == WebhookFormat::kAlertmanager
            ? AlertmanagerPayload(alert, webhook.description.empty() ? "tollgate" : webhook.description)
            : TollgatePayload(event_id, alert, now);
    WebhookDelivery delivery;
    delivery.id = NewId("dlv");
    delivery.webhook_id = webhook.id;
    delivery.event_id = std::string(event_id);
    delivery.event_type = std::string(type);
    // Names and ids come from the provider's customers: invalid UTF-8 becomes U+FFFD.
    delivery.payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    delivery.next_attempt_at = now;
    delivery.created_at = now;
    deliveries.push_back(std::move(delivery));
  }
  return deliveries;
}

}  // namespace tollgate
