#include "storage/domain_events.h"

#include <algorithm>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "alerts/alert_json.h"
#include "alerts/webhook_payload.h"
#include "common/ids.h"

namespace tollgate::storage {
namespace {

// Written once at start-up before any thread writes, read by every writer afterwards.
std::string& Origin() {
  static std::string origin;
  return origin;
}

Event Make(std::string_view type, const nlohmann::json& payload, UnixMillis at) {
  Event event;
  event.id = NewId("evt");
  event.type = std::string(type);
  // Invalid UTF-8 in a user-chosen name or external id becomes U+FFFD rather than an exception.
  event.payload_json = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  event.at = at;
  event.origin = Origin();
  return event;
}

}  // namespace

void SetEventOrigin(std::string origin) { Origin() = std::move(origin); }

Event KeyEvent(std::string_view type, const Key& key, UnixMillis at) {
  return Make(type, {{"keyId", key.id}, {"apiId", key.api_id}, {"externalId", key.external_id}}, at);
}

Event KeyDeletedEvent(std::string_view key_id, std::string_view api_id, UnixMillis at) {
  return Make("key.deleted", {{"keyId", key_id}, {"apiId", api_id}}, at);
}

Event ApiDeletedEvent(std::string_view api_id, UnixMillis at) { return Make("api.deleted", {{"apiId", api_id}}, at); }

Event IdentityEvent(std::string_view type, std::string_view identity_id, std::string_view external_id,
                    UnixMillis at) {
  return Make(type, {{"identityId", identity_id}, {"externalId", external_id}}, at);
}

Event RootKeyEvent(std::string_view type, std::string_view root_key_id, UnixMillis at) {
  return Make(type, {{"rootKeyId", root_key_id}}, at);
}

Event RatelimitOverrideEvent(std::string_view type, std::string_view namespace_id, std::string_view identifier,
                             UnixMillis at) {
  return Make(type, {{"namespaceId", namespace_id}, {"identifier", identifier}}, at);
}

Event TierEvent(std::string_view type, std::string_view name, UnixMillis at) {
  return Make(type, {{"name", name}}, at);
}

Event InvoiceFinalizedEvent(const Invoice& invoice, UnixMillis at) {
  return Make("invoice.finalized",
              {{"invoiceId", invoice.id},
               {"number", invoice.number},
               {"externalId", invoice.external_id},
               {"period", invoice.period},
               {"total", invoice.total_minor},
               {"currency", invoice.currency}},
              at);
}

Event UsageBatchEvent(std::span<const UsageEvent> events, UnixMillis at) {
  std::int64_t valid = 0;
  UnixMillis from = events.empty() ? 0 : events.front().at;
  UnixMillis to = from;
  for (const auto& event : events) {
    if (std::string_view(event.code) == "VALID") ++valid;
    from = std::min(from, event.at);
    to = std::max(to, event.at);
  }
  return Make("usage.batch", {{"events", events.size()}, {"valid", valid}, {"from", from}, {"to", to}}, at);
}

AlertNotice AlertTransitionNotice(const Alert& alert, std::span<const Webhook> webhooks, UnixMillis at) {
  AlertNotice notice;
  notice.event = Make(AlertEventType(alert.state), AlertToJson(alert), at);
  notice.deliveries = DeliveriesFor(notice.event.id, alert, webhooks, at);
  return notice;
}

}  // namespace tollgate::storage
