// The routes of tollgate's HTTP API, registered on a Router. Each handler parses and validates
// its body with a FieldReader, checks the root key's scope, calls a domain service and shapes
// the answer; no handler holds state of its own.
#pragma once

#include <functional>

#include "alerts/alert_service.h"
#include "auth/root_key_service.h"
#include "billing/billing_service.h"
#include "common/result.h"
#include "metrics/registry.h"
#include "http/router.h"
#include "keys/key_service.h"
#include "ratelimit/ratelimit_service.h"
#include "usage/meter_store.h"
#include "usage/usage_export_store.h"
#include "usage/usage_query_store.h"
#include "usage/usage_recorder.h"
#include "verify/verification_metrics.h"
#include "verify/verifier.h"
#include "tiers/tier_service.h"

namespace tollgate {

void AddApiRoutes(Router& router, KeyService& keys);
void AddKeyRoutes(Router& router, KeyService& keys);
// What the verify routes use, all borrowed for the router's life.
struct VerifyRouteServices {
  KeyService& keys;
  Verifier& verifier;
  CounterStore& limiter;  // also throttles unknown keys on keys.authorize
  UsageRecorder& usage;   // one event per verification the Verifier answered
  Clock& clock;
  VerificationMetrics* metrics = nullptr;  // counts every verification answered; nullptr: none
};
// POST /v2/keys.verifyKey (root key) and GET /v2/keys.authorize (for gateways: the API key in
// Authorization or X-API-Key; repeated unknown keys from one client address are throttled
// through `limiter`, and such a throttled request is not a verification, so it records no usage).
void AddVerifyRoutes(Router& router, const VerifyRouteServices& services);
// identities.{create,get,list,update,delete}Identity (Unkey v2, plus "tier").
void AddIdentityRoutes(Router& router, KeyService& keys);
// ratelimit.{limit,multiLimit,setOverride,getOverride,listOverrides,deleteOverride} (Unkey v2,
// plus an optional "algorithm" on a limit). limit and multiLimit record one usage event per limit
// decided.
void AddRatelimitRoutes(Router& router, RatelimitService& ratelimits, UsageRecorder& usage, Clock& clock);
// tiers.{create,get,list,update,delete}Tier (tollgate's own).
void AddTierRoutes(Router& router, TierService& tiers);
void AddRootKeyRoutes(Router& router, RootKeyService& root_keys);
// usage.{summary,timeseries,topKeys,topIdentities} (tollgate's own; scope usage.*.read).
void AddUsageRoutes(Router& router, UsageQueryStore& usage);
// usage.export (scope usage.*.read): raw usage events as CSV or NDJSON, streamed (usage_export_routes.cc).
void AddUsageExportRoutes(Router& router, UsageExportStore& usage);
// usage.ingest (tollgate's own; scope usage.*.ingest): metered usage from the provider's systems,
// deduplicated by eventId; `keys` resolves a keyId to its identity.
void AddUsageIngestRoute(Router& router, MeterStore& meters, KeyService& keys, Clock& clock);
// billing.{previewInvoice,closePeriod,listInvoices,getInvoice,voidInvoice,exportInvoices} and
// GET /billing/invoices/<invoiceId>.html, a printable page (tollgate's own; scopes billing.*.read
// and billing.*.write).
void AddBillingRoutes(Router& router, BillingService& billing);
// alerts.{createRule,listRules,deleteRule,list} (scopes alerts.*.read / alerts.*.write) and
// webhooks.{createWebhook,listWebhooks,deleteWebhook,listDeliveries} (webhooks.*.read / .write);
// tollgate's own (alert_routes.cc).
void AddAlertRoutes(Router& router, AlertService& alerts);
// GET /livez, GET /readyz (503 naming the failing check), GET /v2/liveness.
// `ready` returns the name of the first failing check, or "" when all pass.
void AddHealthRoutes(Router& router, std::function<std::string()> ready);
// GET /metrics: the registry in Prometheus' text format (no root key, like /livez: scrapers
// rarely hold secrets, and nothing in it names a customer); 404 when `registry` is nullptr
// (--metrics false).
void AddMetricsRoute(Router& router, const MetricsRegistry* registry);
// operations.setLogLevel {level} (scope operations.*.write): the log level from now on; answers
// {level, previous}. Not persisted: a restart takes --log-level again.
struct LogLevelControl {
  std::function<Status(const std::string& level)> set;
  std::function<std::string()> get;
};
void AddLogLevelRoute(Router& router, LogLevelControl control);

}  // namespace tollgate
