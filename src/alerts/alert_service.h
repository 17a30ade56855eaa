// The admin side of customer alerts: rules, history, webhooks and their deliveries, for the
// alerts.* and webhooks.* routes. Validates what the routes' FieldReaders cannot (a rule's numbers
// per kind, that its identity and tier exist, a webhook's URL and events) and writes through the
// AlertStore. Evaluation and delivery are elsewhere (AlertMonitor, WebhookDispatcher).
//
// Threads: any worker thread; no state of its own besides what it borrows.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "alerts/alert_store.h"
#include "alerts/model.h"
#include "common/clock.h"
#include "common/result.h"
#include "keys/key_service.h"
#include "tiers/tier_service.h"

namespace tollgate {

// A rule watches one identity (by id or external id), one tier, or with none of them everyone.
struct CreateAlertRuleParams {
  std::string name;
  AlertKind kind = AlertKind::kQuotaPercent;
  std::int64_t threshold = 0;
  std::optional<std::int64_t> resolve_threshold;  // default: DefaultResolveThreshold
  std::optional<std::int64_t> window_seconds;     // ratelimit_breaches only; default 60
  std::string identity_id;
  std::string external_id;
  std::string tier;
};

struct CreateWebhookParams {
  std::string url;
  std::string description;
  WebhookFormat format = WebhookFormat::kTollgate;
  std::vector<std::string> events;  // empty: alert.firing and alert.resolved
};

// Pages of the routes: the store's pages with the cursor as text.
template <typename Item>
struct Listing {
  std::vector<Item> items;
  std::optional<std::string> cursor;
};

class AlertService {
 public:
  // `rules_changed` runs after a rule was created or deleted (the monitor then re-reads them).
  // Unless `allow_private_webhook_addresses` (--webhook-allow-private-addresses), a webhook URL
  // whose host is a loopback, private, link-local or unspecified address is refused
  // (webhook_url.h; names are checked when the sender resolves them).
  AlertService(AlertStore& store, const KeyService& keys, const TierService& tiers, Clock& clock,
               std::function<void()> rules_changed = {}, bool allow_private_webhook_addresses = false)
      : store_(store), keys_(keys), tiers_(tiers), clock_(clock), rules_changed_(std::move(rules_changed)),
        allow_private_webhook_addresses_(allow_private_webhook_addresses) {}

  Result<AlertRule> CreateRule(CreateAlertRuleParams params);
  Result<std::vector<AlertRule>> ListRules();
  Status DeleteRule(const std::string& rule_id);
  // `cursor` is a previous page's cursor; InvalidInput (body.cursor) for anything else.
  Result<Listing<Alert>> ListAlerts(const AlertFilter& filter, const std::optional<std::string>& cursor,
                                    std::size_t limit);

  // The new webhook, its secret included: the only time the secret leaves the store.
  Result<Webhook> CreateWebhook(CreateWebhookParams params);
  Result<std::vector<Webhook>> ListWebhooks();
  Status DeleteWebhook(const std::string& webhook_id);
  Result<Listing<WebhookDelivery>> ListDeliveries(const DeliveryFilter& filter, const std::optional<std::string>& cursor,
                                                  std::size_t limit);

 private:
  // Resolves the rule's identity (from its id or external id) and checks its tier.
  void CheckScope(AlertRule& rule, std::vector<FieldError>& errors) const;

  AlertStore& store_;
  const KeyService& keys_;
  const TierService& tiers_;
  Clock& clock_;
  std::function<void()> rules_changed_;
  const bool allow_private_webhook_addresses_;
};

}  // namespace tollgate
