// alerts.{createRule,listRules,deleteRule,list} and webhooks.{createWebhook,listWebhooks,
// deleteWebhook,listDeliveries} (issue 8; tollgate's own). Reading takes alerts.*.read or
// webhooks.*.read, changing alerts.*.write or webhooks.*.write. Shapes: alerts/alert_json.h.
#include <optional>
#include <string>

#include "alerts/alert_json.h"
#include "alerts/alert_service.h"
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/routes.h"

namespace tollgate {
namespace {

constexpr const char* kAlertsRead = "alerts.*.read";
constexpr const char* kAlertsWrite = "alerts.*.write";
constexpr const char* kWebhooksRead = "webhooks.*.read";
constexpr const char* kWebhooksWrite = "webhooks.*.write";

constexpr std::int64_t kDefaultPage = 50;

// An optional field holding one of an enum's names; an error listing them otherwise.
template <typename Enum>
std::optional<Enum> ReadChoice(FieldReader& body, const char* name, std::optional<Enum> (*parse)(std::string_view),
                               const char* choices) {
  const auto text = body.OptionalString(name, 1, 64);
  if (!text) return std::nullopt;
  auto value = parse(*text);
  if (!value) body.AddError(body.At(name), std::string("must be one of ") + choices);
  return value;
}

CreateAlertRuleParams ReadRule(FieldReader& body) {
  CreateAlertRuleParams params;
  params.name = body.OptionalString("name", 0, 255).value_or("");
  if (!body.Has("kind")) body.AddError(body.At("kind"), "is required", "quota_percent, credits_below or ratelimit_breaches");
  params.kind = ReadChoice(body, "kind", ParseAlertKind, "quota_percent, credits_below, ratelimit_breaches")
                    .value_or(AlertKind::kQuotaPercent);
  // The ranges depend on the kind: the service checks them (alerts/rule_policy.h).
  params.threshold = body.RequiredInt("threshold");
  params.resolve_threshold = body.OptionalInt("resolveThreshold");
  params.window_seconds = body.OptionalInt("windowSeconds");
  params.identity_id = body.OptionalString("identityId", 1, 255).value_or("");
  params.external_id = body.OptionalString("externalId", 1, 255).value_or("");
  params.tier = body.OptionalString("tier", 1, 64).value_or("");
  return params;
}

std::size_t ReadLimit(FieldReader& body) {
  return static_cast<std::size_t>(body.OptionalInt("limit", 1, 100).value_or(kDefaultPage));
}

template <typename Item>
nlohmann::json ToJsonArray(const std::vector<Item>& items, nlohmann::json (*to_json)(const Item&)) {
  nlohmann::json array = nlohmann::json::array();
  for (const Item& item : items) array.push_back(to_json(item));
  return array;
}

void AddRuleRoutes(Router& router, AlertService& alerts) {
  router.AddRpc("/v2/alerts.createRule", [&alerts](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    CreateAlertRuleParams params = ReadRule(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kAlertsWrite); !s) return Fail(s.error());
    auto rule = alerts.CreateRule(std::move(params));
    if (!rule) return Fail(rule.error());
    return OkResponse(ctx.request.request_id, AlertRuleToJson(*rule));
  });

  router.AddRpc("/v2/alerts.listRules", [&alerts](const RpcContext& ctx) -> Result<HttpResponse> {
    if (auto s = RequireScope(ctx.root_key, kAlertsRead); !s) return Fail(s.error());
    auto rules = alerts.ListRules();
    if (!rules) return Fail(rules.error());
    return ListResponse(ctx.request.request_id, ToJsonArray(*rules, AlertRuleToJson), std::nullopt);
  });

  router.AddRpc("/v2/alerts.deleteRule", [&alerts](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string rule_id = body.RequiredString("ruleId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kAlertsWrite); !s) return Fail(s.error());
    if (auto s = alerts.DeleteRule(rule_id); !s) return Fail(s.error());
    return OkResponse(ctx.request.request_id, nlohmann::json::object());
  });

  router.AddRpc("/v2/alerts.list", [&alerts](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    AlertFilter filter;
    filter.rule_id = body.OptionalString("ruleId", 1, 255).value_or("");
    filter.identity_id = body.OptionalString("identityId", 1, 255).value_or("");
    filter.state = ReadChoice(body, "state", ParseAlertState, "firing, resolved");
    const std::size_t limit = ReadLimit(body);
    const auto cursor = body.OptionalString("cursor", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kAlertsRead); !s) return Fail(s.error());
    auto page = alerts.ListAlerts(filter, cursor, limit);
    if (!page) return Fail(page.error());
    return ListResponse(ctx.request.request_id, ToJsonArray(page->items, AlertToJson), page->cursor);
  });
}

void AddWebhookRoutes(Router& router, AlertService& alerts) {
  router.AddRpc("/v2/webhooks.createWebhook", [&alerts](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    CreateWebhookParams params;
    params.url = body.RequiredString("url", 1, 2048);
    params.description = body.OptionalString("description", 0, 1024).value_or("");
    params.format = ReadChoice(body, "format", ParseWebhookFormat, "tollgate, alertmanager").value_or(WebhookFormat::kTollgate);
    if (auto events = body.OptionalStringArray("events", 10)) {
      if (events->empty()) body.AddError(body.At("events"), "must name at least one event type", "leave it out for both");
      params.events = std::move(*events);
    }
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kWebhooksWrite); !s) return Fail(s.error());
    auto webhook = alerts.CreateWebhook(std::move(params));
    if (!webhook) return Fail(webhook.error());
    nlohmann::json data = WebhookToJson(*webhook);
    data["secret"] = webhook->secret;  // the one time it is shown
    return OkResponse(ctx.request.request_id, std::move(data));
  });

  router.AddRpc("/v2/webhooks.listWebhooks", [&alerts](const RpcContext& ctx) -> Result<HttpResponse> {
    if (auto s = RequireScope(ctx.root_key, kWebhooksRead); !s) return Fail(s.error());
    auto webhooks = alerts.ListWebhooks();
    if (!webhooks) return Fail(webhooks.error());
    return ListResponse(ctx.request.request_id, ToJsonArray(*webhooks, WebhookToJson), std::nullopt);
  });

  router.AddRpc("/v2/webhooks.deleteWebhook", [&alerts](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string webhook_id = body.RequiredString("webhookId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kWebhooksWrite); !s) return Fail(s.error());
    if (auto s = alerts.DeleteWebhook(webhook_id); !s) return Fail(s.error());
    return OkResponse(ctx.request.request_id, nlohmann::json::object());
  });

  router.AddRpc("/v2/webhooks.listDeliveries", [&alerts](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    DeliveryFilter filter;
    filter.webhook_id = body.OptionalString("webhookId", 1, 255).value_or("");
    filter.status = ReadChoice(body, "status", ParseDeliveryStatus, "pending, delivered, failed");
    const std::size_t limit = ReadLimit(body);
    const auto cursor = body.OptionalString("cursor", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kWebhooksRead); !s) return Fail(s.error());
    auto page = alerts.ListDeliveries(filter, cursor, limit);
    if (!page) return Fail(page.error());
    return ListResponse(ctx.request.request_id, ToJsonArray(page->items, DeliveryToJson), page->cursor);
  });
}

}  // namespace

void AddAlertRoutes(Router& router, AlertService& alerts) {
  AddRuleRoutes(router, alerts);
  AddWebhookRoutes(router, alerts);
}

}  // namespace tollgate
