// What a webhook receives for an alert's transition, in the webhook's format, and the deliveries
// an alert.firing / alert.resolved event turns into. The stores call DeliveriesFor inside the
// transaction that writes the transition, so the bodies are fixed once (every retry sends the
// same bytes) and the set of webhooks is the one live at that commit.
//
// tollgate format: {"id": <event id>, "type": "alert.firing"|"alert.resolved", "createdAt": <ms>,
//                   "data": <the alert as alerts.list shows it>}
// alertmanager format: Alertmanager's webhook payload, version "4", with the alert as its one
//   entry: receivers written for Alertmanager (PagerDuty bridges, chat relays) take it as is.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "alerts/model.h"

namespace tollgate {

nlohmann::json TollgatePayload(std::string_view event_id, const Alert& alert, UnixMillis created_at);
// `receiver` names the webhook (its description, else "tollgate").
nlohmann::json AlertmanagerPayload(const Alert& alert, std::string_view receiver);

// One pending delivery, due at `now`, per webhook of `webhooks` that receives the alert's event
// type, each with its body in the webhook's format.
std::vector<WebhookDelivery> DeliveriesFor(std::string_view event_id, const Alert& alert,
                                           std::span<const Webhook> webhooks, UnixMillis now);

}  // namespace tollgate
