// The JSON shapes of alerts, rules, webhooks and deliveries: what the alerts.* and webhooks.*
// routes answer, and (for an alert) the "data" of a webhook payload and of the alert.* events.
// Optional fields are absent ("" subject parts) or null (resolvedAt of a firing alert), never "".
#pragma once

#include <nlohmann/json.hpp>

#include "alerts/model.h"

namespace tollgate {

// {alertId, ruleId, kind, state, subject: {identityId?, externalId?, keyId?, tier?}, value,
//  threshold, firedAt, resolvedAt|null, resolvedValue|null}
nlohmann::json AlertToJson(const Alert& alert);
// {ruleId, name, kind, threshold, resolveThreshold, windowSeconds? (ratelimit_breaches),
//  scope: "global"|"identity"|"tier", identityId?, externalId?, tier?, createdAt}
nlohmann::json AlertRuleToJson(const AlertRule& rule);
// {webhookId, url, description, format, events, secretStart, createdAt}: the secret's first
// characters only; it is shown whole once, by webhooks.createWebhook.
nlohmann::json WebhookToJson(const Webhook& webhook);
// {deliveryId, webhookId, eventId, eventType, status, attempts, lastStatusCode|null,
//  lastError|null, nextAttemptAt|null (pending only), createdAt, deliveredAt|null}
nlohmann::json DeliveryToJson(const WebhookDelivery& delivery);

}  // namespace tollgate
