// The events the stores write into the outbox (events/outbox_store.h) together with the changes
// that cause them, built in one place so that every backend emits the same types and payloads.
//
// Payloads name what changed (ids, and what a consumer needs to find it again); they never hold a
// secret, a key hash or a whole row: a consumer that needs the state reads it from the store. The
// exception is an alert's transition, which is a message rather than a change of state: its
// payload is the alert itself, as alerts.list shows it.
// Routing keys (types): key.created|updated|deleted, api.deleted, identity.created|updated|deleted,
// rootkey.created|deleted, ratelimit.override_set|override_deleted, tier.created|updated|deleted,
// invoice.finalized, usage.batch, alert.firing|resolved.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/model.h"
#include "billing/model.h"
#include "common/clock.h"
#include "events/event_bus.h"
#include "keys/model.h"
#include "usage/usage_event.h"

namespace tollgate::storage {

// The name of this node, written into every event as its origin, so that a node can skip the
// events of its own changes (it applied them already). Set once at start, before any write;
// "" (the default) in a single-node setup and in tests.
void SetEventOrigin(std::string origin);

// {"keyId","apiId","externalId"}
Event KeyEvent(std::string_view type, const Key& key, UnixMillis at);
Event KeyDeletedEvent(std::string_view key_id, std::string_view api_id, UnixMillis at);
// {"apiId"}: every key of the API is gone with it.
Event ApiDeletedEvent(std::string_view api_id, UnixMillis at);
// {"identityId","externalId"}
Event IdentityEvent(std::string_view type, std::string_view identity_id, std::string_view external_id,
                    UnixMillis at);
// {"rootKeyId"}: rootkey.created|deleted
Event RootKeyEvent(std::string_view type, std::string_view root_key_id, UnixMillis at);
// {"namespaceId","identifier"}: ratelimit.override_set|override_deleted
Event RatelimitOverrideEvent(std::string_view type, std::string_view namespace_id, std::string_view identifier,
                             UnixMillis at);
// {"name"}
Event TierEvent(std::string_view type, std::string_view name, UnixMillis at);
// {"invoiceId","number","externalId","period","total","currency"}
Event InvoiceFinalizedEvent(const Invoice& invoice, UnixMillis at);
// {"events","valid","from","to"}: how many usage events a write stored, how many were VALID, and
// the time range they cover. One per WriteUsage batch.
Event UsageBatchEvent(std::span<const UsageEvent> events, UnixMillis at);

// What an alert's transition writes with it: its event (alert.firing or alert.resolved, by the
// alert's state; payload alerts/alert_json.h's AlertToJson) and a delivery of that event to each of
// `webhooks` that receives it (alerts/webhook_payload.h).
struct AlertNotice {
  Event event;
  std::vector<WebhookDelivery> deliveries;
};
AlertNotice AlertTransitionNotice(const Alert& alert, std::span<const Webhook> webhooks, UnixMillis at);

}  // namespace tollgate::storage
