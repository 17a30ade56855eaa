// PostgresStore's AlertStore (alerts/alert_store.h): rules, alert history, webhooks, deliveries,
// and the nodes' heartbeats. Schema: migrations 2 and 3.
//
// Between nodes: two nodes opening the same alert insert into the partial unique index
// alerts_open; the second waits for the first's commit and then inserts nothing (ON CONFLICT DO
// NOTHING), so it writes neither an event nor deliveries. Resolving is one UPDATE of the firing
// row: the second resolver finds none. Due deliveries are claimed with FOR UPDATE SKIP LOCKED, so
// dispatchers claiming at once take different rows without waiting for each other. Two nodes taking
// over a gone node's alerts at once: the second's UPDATE waits for the first's row locks, then
// finds the rows' origin alive (the first node) and leaves them.
#include <algorithm>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "storage/domain_events.h"
#include "storage/history_query.h"
#include "storage/postgres/postgres_internal.h"
#include "storage/postgres/postgres_store.h"
#include "storage/row_json.h"
#include "storage/store_internal.h"

namespace tollgate {
namespace {

using postgres_internal::InTransaction;
using postgres_internal::QueryOnce;
using postgres_internal::RunOnOne;
using storage::During;

constexpr std::string_view kInsertRule =
    "INSERT INTO alert_rules (id, name, kind, threshold, resolve_threshold, window_seconds, identity_id, external_id, "
    "tier, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
constexpr std::string_view kListRules =
    "SELECT id, name, kind, threshold, resolve_threshold, window_seconds, identity_id, external_id, tier, created_at "
    "FROM alert_rules WHERE deleted_at IS NULL ORDER BY created_at, id";
constexpr std::string_view kDeleteRule = "UPDATE alert_rules SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL";

#define TOLLGATE_ALERT_COLUMNS                                                                              \
  "seq, id, rule_id, kind, subject, identity_id, external_id, key_id, tier, value, threshold, state, origin, " \
  "fired_at, resolved_at, resolved_value"
// ON CONFLICT without a target: the partial unique index alerts_open is the one that can conflict.
constexpr std::string_view kOpenAlert =
    "INSERT INTO alerts (id, rule_id, kind, subject, identity_id, external_id, key_id, tier, value, threshold, state, "
    "origin, fired_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'firing', $11, $12) ON CONFLICT DO NOTHING";
constexpr std::string_view kResolveAlert =
    "UPDATE alerts SET state = 'resolved', resolved_at = $3, resolved_value = $4 "
    "WHERE rule_id = $1 AND subject = $2 AND state = 'firing' RETURNING " TOLLGATE_ALERT_COLUMNS;
constexpr std::string_view kOpenAlerts =
    "SELECT " TOLLGATE_ALERT_COLUMNS " FROM alerts WHERE state = 'firing' ORDER BY seq";
// alerts.list: filtered by the filters set (storage/history_query.h).
constexpr std::string_view kSelectAlerts = "SELECT " TOLLGATE_ALERT_COLUMNS " FROM alerts";
#undef TOLLGATE_ALERT_COLUMNS

constexpr std::string_view kTouchNode =
    "INSERT INTO alert_nodes (node, last_seen) VALUES ($1, $2) "
    "ON CONFLICT (node) DO UPDATE SET last_seen = GREATEST(alert_nodes.last_seen, excluded.last_seen)";
constexpr std::string_view kAdoptAlerts =
    "UPDATE alerts SET origin = $1 WHERE state = 'firing' AND origin <> $1 "
    "AND origin NOT IN (SELECT node FROM alert_nodes WHERE last_seen >= $2)";
constexpr std::string_view kForgetNodes = "DELETE FROM alert_nodes WHERE last_seen < $1";

constexpr std::string_view kInsertWebhook =
    "INSERT INTO webhooks (id, url, description, format, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
constexpr std::string_view kListWebhooks =
    "SELECT id, url, description, format, events, secret, created_at FROM webhooks WHERE deleted_at IS NULL "
    "ORDER BY created_at, id";
constexpr std::string_view kDeleteWebhook = "UPDATE webhooks SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL";
constexpr std::string_view kFailDeliveriesOf =
    "UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook deleted', claimed_by = NULL, "
    "claimed_until = NULL WHERE webhook_id = $1 AND status = 'pending'";

#define TOLLGATE_DELIVERY_COLUMNS                                                                            \
  "seq, id, webhook_id, event_id, event_type, payload, status, attempts, last_status_code, last_error, " \
  "next_attempt_at, created_at, delivered_at"
constexpr std::string_view kInsertDelivery =
    "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, status, next_attempt_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)";
constexpr std::string_view kClaimDue =
    "UPDATE webhook_deliveries SET claimed_by = $2, claimed_until = $3 WHERE seq IN (SELECT seq FROM webhook_deliveries "
    "WHERE status = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) "
    "ORDER BY next_attempt_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING " TOLLGATE_DELIVERY_COLUMNS;
constexpr std::string_view kRenewClaim =
    "UPDATE webhook_deliveries SET claimed_until = $3 WHERE id = $1 AND claimed_by = $2 AND status = 'pending'";
constexpr std::string_view kRecordAttempt =
    "UPDATE webhook_deliveries SET status = $3, attempts = $4, last_status_code = $5, last_error = $6, "
    "next_attempt_at = $7, delivered_at = $8, claimed_by = NULL, claimed_until = NULL "
    "WHERE id = $1 AND claimed_by = $2 AND status = 'pending'";
// webhooks.listDeliveries: filtered by the filters set (storage/history_query.h).
constexpr std::string_view kSelectDeliveries = "SELECT " TOLLGATE_DELIVERY_COLUMNS " FROM webhook_deliveries";
#undef TOLLGATE_DELIVERY_COLUMNS
constexpr std::string_view kCountPending = "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'";


Error NotWritten(std::string_view table, std::string_view column) {
  return Error::Internal("postgres: " + std::string(table) + "." + std::string(column) +
                         " holds a value tollgate did not write");
}

// Every row of `rows`, each read with `read` (Result<Row>(const PgResult&, int row)).
template <typename Row, typename Read>
Result<std::vector<Row>> ReadAll(const PgResult& rows, Read read) {
  std::vector<Row> out;
  out.reserve(static_cast<std::size_t>(rows.Rows()));
  for (int row = 0; row < rows.Rows(); ++row) {
    auto item = read(rows, row);
    if (!item) return Fail(std::move(item.error()));
    out.push_back(std::move(*item));
  }
  return out;
}

Result<AlertRule> ReadRule(const PgResult& r, int row) {
  AlertRule rule;
  rule.id = r.Text(row, 0);
  rule.name = r.Text(row, 1);
  const auto kind = ParseAlertKind(r.Text(row, 2));
  if (!kind) return Fail(NotWritten("alert_rules", "kind"));
  rule.kind = *kind;
  rule.threshold = r.Int64(row, 3);
  rule.resolve_threshold = r.Int64(row, 4);
  rule.window_seconds = r.Int64(row, 5);
  rule.identity_id = r.Text(row, 6);
  rule.external_id = r.Text(row, 7);
  rule.tier = r.Text(row, 8);
  rule.created_at = r.Int64(row, 9);
  return rule;
}

Result<std::pair<std::int64_t, Alert>> ReadAlert(const PgResult& r, int row) {
  Alert alert;
  alert.id = r.Text(row, 1);
  alert.rule_id = r.Text(row, 2);
  const auto kind = ParseAlertKind(r.Text(row, 3));
  const auto state = ParseAlertState(r.Text(row, 11));
  if (!kind || !state) return Fail(NotWritten("alerts", kind ? "state" : "kind"));
  alert.kind = *kind;
  alert.subject = {r.Text(row, 4), r.Text(row, 5), r.Text(row, 6), r.Text(row, 7), r.Text(row, 8)};
  alert.value = r.Int64(row, 9);
  alert.threshold = r.Int64(row, 10);
  alert.state = *state;
  alert.origin = r.Text(row, 12);
  alert.fired_at = r.Int64(row, 13);
  alert.resolved_at = r.OptionalInt64(row, 14);
  alert.resolved_value = r.OptionalInt64(row, 15);
  return std::make_pair(r.Int64(row, 0), std::move(alert));
}

Result<Webhook> ReadWebhook(const PgResult& r, int row) {
  Webhook webhook;
  webhook.id = r.Text(row, 0);
  webhook.url = r.Text(row, 1);
  webhook.description = r.Text(row, 2);
  const auto format = ParseWebhookFormat(r.Text(row, 3));
  auto events = storage::DecodeStrings(r.Text(row, 4));
  if (!format || !events) return Fail(NotWritten("webhooks", format ? "events" : "format"));
  webhook.format = *format;
  webhook.events = std::move(*events);
  webhook.secret = r.Text(row, 5);
  webhook.created_at = r.Int64(row, 6);
  return webhook;
}

Result<std::pair<std::int64_t, WebhookDelivery>> ReadDelivery(const PgResult& r, int row) {
  WebhookDelivery delivery;
  delivery.id = r.Text(row, 1);
  delivery.webhook_id = r.Text(row, 2);
  delivery.event_id = r.Text(row, 3);
  delivery.event_type = r.Text(row, 4);
  delivery.payload = r.Text(row, 5);
  const auto status = ParseDeliveryStatus(r.Text(row, 6));
  if (!status) return Fail(NotWritten("webhook_deliveries", "status"));
  delivery.status = *status;
  delivery.attempts = r.Int64(row, 7);
  delivery.last_status_code = r.OptionalInt64(row, 8);
  delivery.last_error = r.Text(row, 9);
  delivery.next_attempt_at = r.Int64(row, 10);
  delivery.created_at = r.Int64(row, 11);
  delivery.delivered_at = r.OptionalInt64(row, 12);
  return std::make_pair(r.Int64(row, 0), std::move(delivery));
}

std::int64_t AsLimit(std::size_t limit) {
  return static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max() - 1));
}

// Runs a page read of `query` with the cursor and the row limit after the filters' values.
template <typename Row, typename Read>
Result<std::vector<Row>> ReadHistoryPage(PgPool& pool, const storage::HistoryQuery& query,
                                         std::optional<std::int64_t> before, std::size_t limit, std::string_view what,
                                         Read read) {
  PgParams params;
  for (const std::string& value : query.values) params.Add(value);
  params.Add(before.value_or(storage::kNoSeqCursor)).Add(AsLimit(limit) + 1);
  auto rows = QueryOnce(pool, query.sql, params, what);
  if (!rows) return Fail(std::move(rows.error()));
  return ReadAll<Row>(*rows, read);
}

}  // namespace

Status PostgresStore::InsertAlertRule(const AlertRule& rule) {
  PgParams params;
  params.Add(rule.id).Add(rule.name).Add(AlertKindName(rule.kind)).Add(rule.threshold).Add(rule.resolve_threshold)
      .Add(rule.window_seconds).Add(rule.identity_id).Add(rule.external_id).Add(rule.tier).Add(rule.created_at);
  auto inserted = QueryOnce(pool_, kInsertRule, params, "inserting alert rule " + rule.id);
  if (!inserted) return Fail(std::move(inserted.error()));
  return {};
}

Result<std::vector<AlertRule>> PostgresStore::ListAlertRules() {
  auto rows = QueryOnce(pool_, kListRules, {}, "reading alert rules");
  if (!rows) return Fail(std::move(rows.error()));
  return ReadAll<AlertRule>(*rows, ReadRule);
}

Status PostgresStore::DeleteAlertRule(const std::string& rule_id, UnixMillis now) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  auto deleted = RunOnOne(**lease, kDeleteRule, PgParams().Add(rule_id).Add(now), "deleting alert rule " + rule_id,
                          "no alert rule with id '" + rule_id + "'");
  if (!deleted) return Fail(std::move(deleted.error()));
  return {};
}

Status PostgresStore::WriteAlertNotice(PgConnection& connection, const Alert& alert, UnixMillis at) {
  auto webhook_rows = connection.Query(kListWebhooks);
  if (!webhook_rows) return Fail(During("reading webhooks", std::move(webhook_rows.error())));
  auto webhooks = ReadAll<Webhook>(*webhook_rows, ReadWebhook);
  if (!webhooks) return Fail(std::move(webhooks.error()));
  const storage::AlertNotice notice = storage::AlertTransitionNotice(alert, *webhooks, at);
  for (const WebhookDelivery& delivery : notice.deliveries) {
    PgParams params;
    params.Add(delivery.id).Add(delivery.webhook_id).Add(delivery.event_id).Add(delivery.event_type)
        .Add(delivery.payload).Add(delivery.next_attempt_at).Add(delivery.created_at);
    if (auto ran = connection.Run(kInsertDelivery, params); !ran) {
      return Fail(During("writing webhook deliveries", std::move(ran.error())));
    }
  }
  return WriteEvent(connection, notice.event);  // last, just before the commit (postgres_outbox.cc)
}

Result<bool> PostgresStore::OpenAlert(const Alert& alert) {
  bool opened = false;
  const AlertSubject& subject = alert.subject;
  PgParams params;
  params.Add(alert.id).Add(alert.rule_id).Add(AlertKindName(alert.kind)).Add(subject.key).Add(subject.identity_id)
      .Add(subject.external_id).Add(subject.key_id).Add(subject.tier).Add(alert.value).Add(alert.threshold)
      .Add(alert.origin).Add(alert.fired_at);
  auto done = InTransaction(pool_, "opening alert " + alert.id, [&](PgConnection& connection) -> Status {
    auto inserted = connection.Run(kOpenAlert, params);
    if (!inserted) return Fail(std::move(inserted.error()));
    if (*inserted == 0) return {};  // open already: nothing written
    opened = true;
    return WriteAlertNotice(connection, alert, alert.fired_at);
  });
  if (!done) return Fail(std::move(done.error()));
  return opened;
}

Result<std::optional<Alert>> PostgresStore::ResolveAlert(const std::string& rule_id, const std::string& subject,
                                                         std::int64_t value, UnixMillis now) {
  std::optional<Alert> resolved;
  auto done = InTransaction(pool_, "resolving an alert", [&](PgConnection& connection) -> Status {
    auto rows = connection.Query(kResolveAlert, PgParams().Add(rule_id).Add(subject).Add(now).Add(value));
    if (!rows) return Fail(std::move(rows.error()));
    auto alerts = ReadAll<std::pair<std::int64_t, Alert>>(*rows, ReadAlert);
    if (!alerts) return Fail(std::move(alerts.error()));
    if (alerts->empty()) return {};
    resolved = std::move(alerts->front().second);
    return WriteAlertNotice(connection, *resolved, now);
  });
  if (!done) return Fail(std::move(done.error()));
  return resolved;
}

Result<std::vector<Alert>> PostgresStore::ListOpenAlerts() {
  auto rows = QueryOnce(pool_, kOpenAlerts, {}, "reading open alerts");
  if (!rows) return Fail(std::move(rows.error()));
  auto alerts = ReadAll<std::pair<std::int64_t, Alert>>(*rows, ReadAlert);
  if (!alerts) return Fail(std::move(alerts.error()));
  return storage::WithoutSeqs(std::move(*alerts));
}

Result<AlertPage> PostgresStore::ListAlerts(const AlertFilter& filter, std::optional<std::int64_t> before,
                                            std::size_t limit) {
  const storage::HistoryQuery query = storage::HistoryPageQuery(
      '$', kSelectAlerts,
      {{"rule_id", filter.rule_id},
       {"identity_id", filter.identity_id},
       {"state", filter.state ? AlertStateName(*filter.state) : std::string_view()}});
  auto alerts = ReadHistoryPage<std::pair<std::int64_t, Alert>>(pool_, query, before, limit, "reading alerts", ReadAlert);
  if (!alerts) return Fail(std::move(alerts.error()));
  auto [items, next] = storage::SeqPage(std::move(*alerts), limit);
  return AlertPage{std::move(items), next};
}

Status PostgresStore::TouchAlertNode(const std::string& node, UnixMillis now) {
  auto touched = QueryOnce(pool_, kTouchNode, PgParams().Add(node).Add(now), "recording node " + node + " alive");
  if (!touched) return Fail(std::move(touched.error()));
  return {};
}

Result<std::int64_t> PostgresStore::AdoptAlertsOfGoneNodes(const std::string& node, UnixMillis seen_since) {
  std::int64_t adopted = 0;
  auto done = InTransaction(pool_, "taking over the alerts of gone nodes", [&](PgConnection& connection) -> Status {
    auto taken = connection.Run(kAdoptAlerts, PgParams().Add(node).Add(seen_since));
    if (!taken) return Fail(std::move(taken.error()));
    adopted = *taken;
    if (auto forgot = connection.Run(kForgetNodes, PgParams().Add(seen_since)); !forgot) {
      return Fail(std::move(forgot.error()));
    }
    return {};
  });
  if (!done) return Fail(std::move(done.error()));
  return adopted;
}

Status PostgresStore::InsertWebhook(const Webhook& webhook) {
  PgParams params;
  params.Add(webhook.id).Add(webhook.url).Add(webhook.description).Add(WebhookFormatName(webhook.format))
      .Add(storage::EncodeStrings(webhook.events)).Add(webhook.secret).Add(webhook.created_at);
  auto inserted = QueryOnce(pool_, kInsertWebhook, params, "inserting webhook " + webhook.id);
  if (!inserted) return Fail(std::move(inserted.error()));
  return {};
}

Result<std::vector<Webhook>> PostgresStore::ListWebhooks() {
  auto rows = QueryOnce(pool_, kListWebhooks, {}, "reading webhooks");
  if (!rows) return Fail(std::move(rows.error()));
  return ReadAll<Webhook>(*rows, ReadWebhook);
}

Status PostgresStore::DeleteWebhook(const std::string& webhook_id, UnixMillis now) {
  const std::string what = "deleting webhook " + webhook_id;
  return InTransaction(pool_, what, [&](PgConnection& connection) -> Status {
    auto deleted = RunOnOne(connection, kDeleteWebhook, PgParams().Add(webhook_id).Add(now), what,
                            "no webhook with id '" + webhook_id + "'");
    if (!deleted) return Fail(std::move(deleted.error()));
    if (auto failed = connection.Run(kFailDeliveriesOf, PgParams().Add(webhook_id)); !failed) {
      return Fail(std::move(failed.error()));
    }
    return {};
  });
}

Result<std::vector<WebhookDelivery>> PostgresStore::ClaimDueDeliveries(const std::string& node, std::size_t limit,
                                                                       UnixMillis now, std::int64_t lease_ms) {
  auto rows = QueryOnce(pool_, kClaimDue, PgParams().Add(now).Add(node).Add(now + lease_ms).Add(AsLimit(limit)),
                        "claiming webhook deliveries");
  if (!rows) return Fail(std::move(rows.error()));
  auto deliveries = ReadAll<std::pair<std::int64_t, WebhookDelivery>>(*rows, ReadDelivery);
  if (!deliveries) return Fail(std::move(deliveries.error()));
  // RETURNING comes in no particular order.
  std::sort(deliveries->begin(), deliveries->end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.next_attempt_at, a.first) < std::tie(b.second.next_attempt_at, b.first);
  });
  return storage::WithoutSeqs(std::move(*deliveries));
}

Result<bool> PostgresStore::RenewDeliveryClaim(const std::string& node, const std::string& delivery_id,
                                               UnixMillis until) {
  auto renewed = QueryOnce(pool_, kRenewClaim, PgParams().Add(delivery_id).Add(node).Add(until),
                           "renewing the claim on " + delivery_id);
  if (!renewed) return Fail(std::move(renewed.error()));
  return renewed->Affected() > 0;
}

Status PostgresStore::RecordDeliveryAttempt(const std::string& node, const DeliveryAttempt& attempt) {
  PgParams params;
  params.Add(attempt.delivery_id).Add(node).Add(DeliveryStatusName(attempt.status)).Add(attempt.attempts)
      .Add(attempt.status_code).Add(attempt.error).Add(attempt.next_attempt_at).Add(attempt.delivered_at);
  auto recorded = QueryOnce(pool_, kRecordAttempt, params, "recording delivery " + attempt.delivery_id);
  if (!recorded) return Fail(std::move(recorded.error()));
  if (recorded->Affected() == 0) {
    return Fail(Error::Conflict("delivery " + attempt.delivery_id + " is no longer claimed by " + node));
  }
  return {};
}

Result<DeliveryPage> PostgresStore::ListDeliveries(const DeliveryFilter& filter, std::optional<std::int64_t> before,
                                                   std::size_t limit) {
  const storage::HistoryQuery query = storage::HistoryPageQuery(
      '$', kSelectDeliveries,
      {{"webhook_id", filter.webhook_id}, {"status", filter.status ? DeliveryStatusName(*filter.status) : std::string_view()}});
  auto deliveries = ReadHistoryPage<std::pair<std::int64_t, WebhookDelivery>>(pool_, query, before, limit,
                                                                              "reading webhook deliveries", ReadDelivery);
  if (!deliveries) return Fail(std::move(deliveries.error()));
  auto [items, next] = storage::SeqPage(std::move(*deliveries), limit);
  return DeliveryPage{std::move(items), next};
}

Result<std::int64_t> PostgresStore::CountPendingDeliveries() {
  auto rows = QueryOnce(pool_, kCountPending, {}, "counting pending webhook deliveries");
  if (!rows) return Fail(std::move(rows.error()));
  return rows->Int64(0, 0);
}

}  // namespace tollgate
