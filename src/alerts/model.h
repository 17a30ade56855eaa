// Customer alerts (issue 8): rules that watch a customer's quota, credits or rate-limit breaches,
// the alerts they fire and resolve (Lago's trigger / resolve model: once per crossing, with
// hysteresis), the webhooks that hear of them, and each delivery to a webhook.
//
// A "subject" is what one alert is about: a quota subject of the QuotaTracker ("i:<identityId>",
// or "k:<keyId>" for a key without an identity), a key with credits ("k:<keyId>"), or the identity
// (else the key) whose verifications were rate limited. At most one alert is open (firing) per
// rule and subject; the store enforces it, so nodes evaluating the same data fire once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace tollgate {

enum class AlertKind {
  kQuotaPercent,       // used / included monthly quota x 100 >= threshold
  kCreditsBelow,       // a key's remaining credits < threshold
  kRatelimitBreaches,  // RATE_LIMITED verifications within window_seconds >= threshold
};
// "quota_percent", "credits_below", "ratelimit_breaches": the spelling in JSON and the store.
std::string_view AlertKindName(AlertKind kind);
std::optional<AlertKind> ParseAlertKind(std::string_view name);

enum class AlertState { kFiring, kResolved };
std::string_view AlertStateName(AlertState state);  // "firing", "resolved"
std::optional<AlertState> ParseAlertState(std::string_view name);

// Whom a rule watches: every subject (global), one identity's, or those of one tier.
struct AlertRule {
  std::string id;  // "arule_…"
  std::string name;
  AlertKind kind = AlertKind::kQuotaPercent;
  std::int64_t threshold = 0;
  std::int64_t resolve_threshold = 0;  // the other side of the hysteresis band
  std::int64_t window_seconds = 0;     // ratelimit_breaches only; 0 for the other kinds
  std::string identity_id;             // set (with external_id) for an identity's rule
  std::string external_id;
  std::string tier;                    // set for a tier's rule
  UnixMillis created_at = 0;
};

struct AlertSubject {
  std::string key;  // "i:<identityId>" or "k:<keyId>": one open alert per rule and key
  std::string identity_id;
  std::string external_id;
  std::string key_id;
  std::string tier;  // the tier that applies to the subject now, "" for none
};

struct Alert {
  std::string id;  // "alert_…"
  std::string rule_id;
  AlertKind kind = AlertKind::kQuotaPercent;
  AlertState state = AlertState::kFiring;
  AlertSubject subject;
  std::int64_t value = 0;      // what was measured when it fired (percent, credits, breaches)
  std::int64_t threshold = 0;  // the rule's threshold then
  std::string origin;          // the node that answers for it: the one that fired it, or one that took
                               // it over when that node was gone (alert_monitor.h)
  UnixMillis fired_at = 0;
  std::optional<UnixMillis> resolved_at;
  std::optional<std::int64_t> resolved_value;  // what was measured when it resolved
};

inline constexpr std::string_view kAlertFiring = "alert.firing";
inline constexpr std::string_view kAlertResolved = "alert.resolved";
// The event type of an alert in `state`: alert.firing or alert.resolved.
std::string_view AlertEventType(AlertState state);

enum class WebhookFormat { kTollgate, kAlertmanager };
std::string_view WebhookFormatName(WebhookFormat format);  // "tollgate", "alertmanager"
std::optional<WebhookFormat> ParseWebhookFormat(std::string_view name);

struct Webhook {
  std::string id;  // "wh_…"
  std::string url;
  std::string description;
  WebhookFormat format = WebhookFormat::kTollgate;
  std::vector<std::string> events;  // event types it receives (alert.firing, alert.resolved)
  std::string secret;               // "whsec_…": signs every delivery, shown in full once
  UnixMillis created_at = 0;

  bool Receives(std::string_view event_type) const;
};

enum class DeliveryStatus { kPending, kDelivered, kFailed };
std::string_view DeliveryStatusName(DeliveryStatus status);  // "pending", "delivered", "failed"
std::optional<DeliveryStatus> ParseDeliveryStatus(std::string_view name);

// One event for one webhook. The body is fixed when the delivery is written, so every retry
// sends the same bytes (only the signature's timestamp changes).
struct WebhookDelivery {
  std::string id;  // "dlv_…"
  std::string webhook_id;
  std::string event_id;    // the idempotency id: Tollgate-Event-Id, the same on every retry
  std::string event_type;
  std::string payload;     // the JSON body
  DeliveryStatus status = DeliveryStatus::kPending;
  std::int64_t attempts = 0;
  std::optional<std::int64_t> last_status_code;  // the last HTTP status, none without an answer
  std::string last_error;                         // "" after a success
  UnixMillis next_attempt_at = 0;
  UnixMillis created_at = 0;
  std::optional<UnixMillis> delivered_at;
};

}  // namespace tollgate
