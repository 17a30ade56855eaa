// The events the stores write into the outbox (events/outbox_store.h) together with the changes
// that cause them, built in one place so that every backend emits the same types and payloads.
//
// Payloads name what changed (ids, and what a consumer needs to find it again); they never hold a
// secret, a key hash or a whole row: a consumer that needs the state reads it from the store.
// Routing keys (types): key.created|updated|deleted, api.deleted, identity.created|updated|deleted,
// rootkey.created|deleted, ratelimit.override_set|override_deleted, tier.created|updated|deleted,
// invoice.finalized, usage.batch.
#pragma once

#include <span>
#include <string>
#include <string_view>

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

}  // namespace tollgate::storage
