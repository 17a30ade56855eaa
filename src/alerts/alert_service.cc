#include "alerts/alert_service.h"

#include <algorithm>

#include "alerts/rule_policy.h"
#include "alerts/webhook_signature.h"
#include "alerts/webhook_url.h"
#include "common/ids.h"

namespace tollgate {
namespace {

// A page cursor is the seq of the last row shown, as decimal text.
Result<std::optional<std::int64_t>> ParseCursor(const std::optional<std::string>& cursor) {
  if (!cursor) return std::optional<std::int64_t>();
  const bool digits = !cursor->empty() && cursor->size() <= 18 &&
                      std::all_of(cursor->begin(), cursor->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    return Fail(Error::InvalidInput("body.cursor is not a cursor tollgate returned",
                                    {{"body.cursor", "is not a cursor tollgate returned",
                                      "pass pagination.cursor from the previous page, or leave it out for the first"}}));
  }
  return std::optional<std::int64_t>(std::stoll(*cursor));
}

// A page read by `read` from the cursor's position, with the next page's cursor as text.
template <typename Item, typename Read>
Result<Listing<Item>> PageOf(const std::optional<std::string>& cursor, Read read) {
  auto before = ParseCursor(cursor);
  if (!before) return Fail(std::move(before.error()));
  Result<HistoryPage<Item>> page = read(*before);
  if (!page) return Fail(std::move(page.error()));
  std::optional<std::string> next;
  if (page->next_before) next = std::to_string(*page->next_before);
  return Listing<Item>{std::move(page->items), std::move(next)};
}

}  // namespace

void AlertService::CheckScope(AlertRule& rule, std::vector<FieldError>& errors) const {
  const int scopes = !rule.identity_id.empty() + !rule.external_id.empty() + !rule.tier.empty();
  if (scopes > 1) {
    errors.push_back({"body", "names more than one of identityId, externalId and tier",
                      "give one identity (by identityId or externalId), one tier, or neither for every customer"});
    return;
  }
  if (!rule.identity_id.empty()) {
    IdentityPtr identity = keys_.cache().FindIdentityById(rule.identity_id);
    if (!identity) {
      errors.push_back({"body.identityId", "names no identity", "list them with identities.listIdentities"});
      return;
    }
    rule.external_id = identity->external_id;
  } else if (!rule.external_id.empty()) {
    IdentityPtr identity = keys_.cache().FindIdentityByExternalId(rule.external_id);
    if (!identity) {
      errors.push_back({"body.externalId", "names no identity",
                        "create it first with identities.createIdentity (or keys.createKey with this externalId)"});
      return;
    }
    rule.identity_id = identity->id;
  } else if (!rule.tier.empty() && tiers_.Find(rule.tier) == nullptr) {
    errors.push_back({"body.tier", "names no tier", "list them with tiers.listTiers"});
  }
}

Result<AlertRule> AlertService::CreateRule(CreateAlertRuleParams params) {
  std::vector<FieldError> errors =
      CheckRuleNumbers(params.kind, params.threshold, params.resolve_threshold, params.window_seconds);
  AlertRule rule;
  rule.id = NewId("arule");
  rule.name = std::move(params.name);
  rule.kind = params.kind;
  rule.threshold = params.threshold;
  rule.resolve_threshold = params.resolve_threshold.value_or(DefaultResolveThreshold(params.kind, params.threshold));
  if (params.kind == AlertKind::kRatelimitBreaches) rule.window_seconds = params.window_seconds.value_or(kDefaultWindowSeconds);
  rule.identity_id = std::move(params.identity_id);
  rule.external_id = std::move(params.external_id);
  rule.tier = std::move(params.tier);
  rule.created_at = clock_.NowMillis();
  CheckScope(rule, errors);
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) return Fail(status.error());
  if (auto inserted = store_.InsertAlertRule(rule); !inserted) return Fail(inserted.error());
  if (rules_changed_) rules_changed_();
  return rule;
}

Result<std::vector<AlertRule>> AlertService::ListRules() { return store_.ListAlertRules(); }

Status AlertService::DeleteRule(const std::string& rule_id) {
  if (auto deleted = store_.DeleteAlertRule(rule_id, clock_.NowMillis()); !deleted) return deleted;
  if (rules_changed_) rules_changed_();
  return {};
}

Result<Listing<Alert>> AlertService::ListAlerts(const AlertFilter& filter, const std::optional<std::string>& cursor,
                                                std::size_t limit) {
  return PageOf<Alert>(cursor, [&](std::optional<std::int64_t> before) { return store_.ListAlerts(filter, before, limit); });
}

Result<Webhook> AlertService::CreateWebhook(CreateWebhookParams params) {
  std::vector<FieldError> errors;
  if (auto url = ParseWebhookUrl(params.url); !url) {
    errors.push_back({"body.url", url.error().detail, ""});
  } else if (const std::string_view kind = NonPublicHostKind(url->host);
             !kind.empty() && !allow_private_webhook_addresses_) {
    errors.push_back({"body.url",
                      "points at " + url->host + ", a " + std::string(kind) + " address: tollgate sends webhooks only to "
                      "public addresses, so that a webhook cannot reach services on its own network",
                      "use the receiver's public host name or address, or start tollgate with "
                      "--webhook-allow-private-addresses=true if the receiver is on your network"});
  }
  if (params.events.empty()) params.events = {std::string(kAlertFiring), std::string(kAlertResolved)};
  for (std::size_t i = 0; i < params.events.size(); ++i) {
    if (params.events[i] != kAlertFiring && params.events[i] != kAlertResolved) {
      errors.push_back({"body.events[" + std::to_string(i) + "]", "is not an event type a webhook can receive",
                        "use \"alert.firing\" and/or \"alert.resolved\""});
    }
  }
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) return Fail(status.error());
  std::sort(params.events.begin(), params.events.end());
  params.events.erase(std::unique(params.events.begin(), params.events.end()), params.events.end());
  Webhook webhook;
  webhook.id = NewId("wh");
  webhook.url = std::move(params.url);
  webhook.description = std::move(params.description);
  webhook.format = params.format;
  webhook.events = std::move(params.events);
  webhook.secret = NewWebhookSecret();
  webhook.created_at = clock_.NowMillis();
  if (auto inserted = store_.InsertWebhook(webhook); !inserted) return Fail(inserted.error());
  return webhook;
}

Result<std::vector<Webhook>> AlertService::ListWebhooks() { return store_.ListWebhooks(); }

Status AlertService::DeleteWebhook(const std::string& webhook_id) {
  return store_.DeleteWebhook(webhook_id, clock_.NowMillis());
}

Result<Listing<WebhookDelivery>> AlertService::ListDeliveries(const DeliveryFilter& filter,
                                                              const std::optional<std::string>& cursor,
                                                              std::size_t limit) {
  return PageOf<WebhookDelivery>(cursor,
                                 [&](std::optional<std::int64_t> before) { return store_.ListDeliveries(filter, before, limit); });
}

}  // namespace tollgate
