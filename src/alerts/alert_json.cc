#include "alerts/alert_json.h"

#include <algorithm>

namespace tollgate {
namespace {

// Characters of a webhook secret shown after creation: "whsec_" and four of the random part.
constexpr std::size_t kSecretStartLength = 10;

template <typename T>
nlohmann::json OrNull(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

void PutIfSet(nlohmann::json& object, const char* name, const std::string& value) {
  if (!value.empty()) object[name] = value;
}

}  // namespace

nlohmann::json AlertToJson(const Alert& alert) {
  nlohmann::json subject = nlohmann::json::object();
  PutIfSet(subject, "identityId", alert.subject.identity_id);
  PutIfSet(subject, "externalId", alert.subject.external_id);
  PutIfSet(subject, "keyId", alert.subject.key_id);
  PutIfSet(subject, "tier", alert.subject.tier);
  return {{"alertId", alert.id},
          {"ruleId", alert.rule_id},
          {"kind", AlertKindName(alert.kind)},
          {"state", AlertStateName(alert.state)},
          {"subject", std::move(subject)},
          {"value", alert.value},
          {"threshold", alert.threshold},
          {"firedAt", alert.fired_at},
          {"resolvedAt", OrNull(alert.resolved_at)},
          {"resolvedValue", OrNull(alert.resolved_value)}};
}

nlohmann::json AlertRuleToJson(const AlertRule& rule) {
  nlohmann::json json = {{"ruleId", rule.id},
                         {"name", rule.name},
                         {"kind", AlertKindName(rule.kind)},
                         {"threshold", rule.threshold},
                         {"resolveThreshold", rule.resolve_threshold},
                         {"createdAt", rule.created_at}};
  if (rule.kind == AlertKind::kRatelimitBreaches) json["windowSeconds"] = rule.window_seconds;
  json["scope"] = !rule.identity_id.empty() ? "identity" : !rule.tier.empty() ? "tier" : "global";
  PutIfSet(json, "identityId", rule.identity_id);
  PutIfSet(json, "externalId", rule.external_id);
  PutIfSet(json, "tier", rule.tier);
  return json;
}

nlohmann::json WebhookToJson(const Webhook& webhook) {
  return {{"webhookId", webhook.id},
          {"url", webhook.url},
          {"description", webhook.description},
          {"format", WebhookFormatName(webhook.format)},
          {"events", webhook.events},
          {"secretStart", webhook.secret.substr(0, std::min(webhook.secret.size(), kSecretStartLength))},
          {"createdAt", webhook.created_at}};
}

nlohmann::json DeliveryToJson(const WebhookDelivery& delivery) {
  const bool pending = delivery.status == DeliveryStatus::kPending;
  return {{"deliveryId", delivery.id},
          {"webhookId", delivery.webhook_id},
          {"eventId", delivery.event_id},
          {"eventType", delivery.event_type},
          {"status", DeliveryStatusName(delivery.status)},
          {"attempts", delivery.attempts},
          {"lastStatusCode", OrNull(delivery.last_status_code)},
          {"lastError", delivery.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(delivery.last_error)},
          {"nextAttemptAt", pending ? nlohmann::json(delivery.next_attempt_at) : nlohmann::json(nullptr)},
          {"createdAt", delivery.created_at},
          {"deliveredAt", OrNull(delivery.delivered_at)}};
}

}  // namespace tollgate
