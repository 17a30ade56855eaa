// SqliteStore's AlertStore (alerts/alert_store.h): rules, alert history, webhooks, deliveries,
// and the nodes' heartbeats. Schema: migrations 9 and 10. One connection behind the store's mutex
// serialises everything, so the "one open alert per rule and subject" index alone settles
// concurrent firings, and a claim is one UPDATE ... RETURNING.
#include <algorithm>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "storage/domain_events.h"
#include "storage/history_query.h"
#include "storage/row_json.h"
#include "storage/sqlite/sqlite_alert_queries.h"
#include "storage/sqlite/sqlite_internal.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

using sqlite_internal::During;
using sqlite_internal::RunOnOne;
using sqlite_internal::WriteEvent;

constexpr std::string_view kInsertRule =
    "INSERT INTO alert_rules (id, name, kind, threshold, resolve_threshold, window_seconds, identity_id, external_id, "
    "tier, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr std::string_view kListRules =
    "SELECT id, name, kind, threshold, resolve_threshold, window_seconds, identity_id, external_id, tier, created_at "
    "FROM alert_rules WHERE deleted_at IS NULL ORDER BY created_at, id";
constexpr std::string_view kDeleteRule = "UPDATE alert_rules SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL";

#define TOLLGATE_ALERT_COLUMNS                                                                              \
  "seq, id, rule_id, kind, subject, identity_id, external_id, key_id, tier, value, threshold, state, origin, " \
  "fired_at, resolved_at, resolved_value"
// ON CONFLICT without a target: the partial unique index alerts_open is the one that can conflict.
constexpr std::string_view kOpenAlert =
    "INSERT INTO alerts (id, rule_id, kind, subject, identity_id, external_id, key_id, tier, value, threshold, state, "
    "origin, fired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'firing', ?11, ?12) ON CONFLICT DO NOTHING";
constexpr std::string_view kResolveAlert =
    "UPDATE alerts SET state = 'resolved', resolved_at = ?3, resolved_value = ?4 "
    "WHERE rule_id = ?1 AND subject = ?2 AND state = 'firing' RETURNING " TOLLGATE_ALERT_COLUMNS;
constexpr std::string_view kOpenAlerts =
    "SELECT " TOLLGATE_ALERT_COLUMNS " FROM alerts WHERE state = 'firing' ORDER BY seq";
// alerts.list: filtered by the filters set (storage/history_query.h).
constexpr std::string_view kSelectAlerts = "SELECT " TOLLGATE_ALERT_COLUMNS " FROM alerts";
#undef TOLLGATE_ALERT_COLUMNS

constexpr std::string_view kTouchNode =
    "INSERT INTO alert_nodes (node, last_seen) VALUES (?1, ?2) "
    "ON CONFLICT (node) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)";
constexpr std::string_view kAdoptAlerts =
    "UPDATE alerts SET origin = ?1 WHERE state = 'firing' AND origin <> ?1 "
    "AND origin NOT IN (SELECT node FROM alert_nodes WHERE last_seen >= ?2)";
constexpr std::string_view kForgetNodes = "DELETE FROM alert_nodes WHERE last_seen < ?1";

constexpr std::string_view kInsertWebhook =
    "INSERT INTO webhooks (id, url, description, format, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr std::string_view kListWebhooks =
    "SELECT id, url, description, format, events, secret, created_at FROM webhooks WHERE deleted_at IS NULL "
    "ORDER BY created_at, id";
constexpr std::string_view kDeleteWebhook = "UPDATE webhooks SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL";
constexpr std::string_view kFailDeliveriesOf =
    "UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook deleted', claimed_by = NULL, "
    "claimed_until = NULL WHERE webhook_id = ?1 AND status = 'pending'";

#define TOLLGATE_DELIVERY_COLUMNS                                                                            \
  "seq, id, webhook_id, event_id, event_type, payload, status, attempts, last_status_code, last_error, " \
  "next_attempt_at, created_at, delivered_at"
constexpr std::string_view kInsertDelivery =
    "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, status, next_attempt_at, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)";
#define TOLLGATE_DUE "status = 'pending' AND next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until <= ?1)"
// A read first, as for the outbox: polling finds nothing most of the time, and a read in WAL mode
// never takes the write lock.
constexpr std::string_view kAnyDue = "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE " TOLLGATE_DUE ")";
constexpr std::string_view kClaimDue =
    "UPDATE webhook_deliveries SET claimed_by = ?2, claimed_until = ?3 WHERE seq IN (SELECT seq FROM "
    "webhook_deliveries WHERE " TOLLGATE_DUE " ORDER BY next_attempt_at, seq LIMIT ?4) RETURNING " TOLLGATE_DELIVERY_COLUMNS;
#undef TOLLGATE_DUE
constexpr std::string_view kRenewClaim =
    "UPDATE webhook_deliveries SET claimed_until = ?3 WHERE id = ?1 AND claimed_by = ?2 AND status = 'pending'";
constexpr std::string_view kRecordAttempt =
    "UPDATE webhook_deliveries SET status = ?3, attempts = ?4, last_status_code = ?5, last_error = ?6, "
    "next_attempt_at = ?7, delivered_at = ?8, claimed_by = NULL, claimed_until = NULL "
    "WHERE id = ?1 AND claimed_by = ?2 AND status = 'pending'";
// webhooks.listDeliveries: filtered by the filters set (storage/history_query.h).
constexpr std::string_view kSelectDeliveries = "SELECT " TOLLGATE_DELIVERY_COLUMNS " FROM webhook_deliveries";
#undef TOLLGATE_DELIVERY_COLUMNS
constexpr std::string_view kCountPending = "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'";


Error NotWritten(std::string_view table, std::string_view column) {
  return Error::Internal("sqlite: " + std::string(table) + "." + std::string(column) +
                         " holds a value tollgate did not write");
}

// Steps `statement` to the end, reading each row with `read` (Result<Row>(SqliteStatement&)).
template <typename Row, typename Read>
Result<std::vector<Row>> ReadAll(SqliteStatement& statement, std::string_view what, Read read) {
  std::vector<Row> rows;
  for (;;) {
    auto step = statement.Step();
    if (!step) return Fail(During(what, std::move(step.error())));
    if (!*step) return rows;
    auto row = read(statement);
    if (!row) return Fail(std::move(row.error()));
    rows.push_back(std::move(*row));
  }
}

Result<AlertRule> ReadRule(SqliteStatement& s) {
  AlertRule rule;
  rule.id = s.ColumnText(0);
  rule.name = s.ColumnText(1);
  const auto kind = ParseAlertKind(s.ColumnText(2));
  if (!kind) return Fail(NotWritten("alert_rules", "kind"));
  rule.kind = *kind;
  rule.threshold = s.ColumnInt64(3);
  rule.resolve_threshold = s.ColumnInt64(4);
  rule.window_seconds = s.ColumnInt64(5);
  rule.identity_id = s.ColumnText(6);
  rule.external_id = s.ColumnText(7);
  rule.tier = s.ColumnText(8);
  rule.created_at = s.ColumnInt64(9);
  return rule;
}

// An alert row (TOLLGATE_ALERT_COLUMNS) and its seq.
Result<std::pair<std::int64_t, Alert>> ReadAlert(SqliteStatement& s) {
  Alert alert;
  alert.id = s.ColumnText(1);
  alert.rule_id = s.ColumnText(2);
  const auto kind = ParseAlertKind(s.ColumnText(3));
  const auto state = ParseAlertState(s.ColumnText(11));
  if (!kind || !state) return Fail(NotWritten("alerts", kind ? "state" : "kind"));
  alert.kind = *kind;
  alert.subject = {s.ColumnText(4), s.ColumnText(5), s.ColumnText(6), s.ColumnText(7), s.ColumnText(8)};
  alert.value = s.ColumnInt64(9);
  alert.threshold = s.ColumnInt64(10);
  alert.state = *state;
  alert.origin = s.ColumnText(12);
  alert.fired_at = s.ColumnInt64(13);
  alert.resolved_at = s.ColumnOptionalInt64(14);
  alert.resolved_value = s.ColumnOptionalInt64(15);
  return std::make_pair(s.ColumnInt64(0), std::move(alert));
}

Result<Webhook> ReadWebhook(SqliteStatement& s) {
  Webhook webhook;
  webhook.id = s.ColumnText(0);
  webhook.url = s.ColumnText(1);
  webhook.description = s.ColumnText(2);
  const auto format = ParseWebhookFormat(s.ColumnText(3));
  auto events = storage::DecodeStrings(s.ColumnText(4));
  if (!format || !events) return Fail(NotWritten("webhooks", format ? "events" : "format"));
  webhook.format = *format;
  webhook.events = std::move(*events);
  webhook.secret = s.ColumnText(5);
  webhook.created_at = s.ColumnInt64(6);
  return webhook;
}

// A delivery row (TOLLGATE_DELIVERY_COLUMNS) and its seq.
Result<std::pair<std::int64_t, WebhookDelivery>> ReadDelivery(SqliteStatement& s) {
  WebhookDelivery delivery;
  delivery.id = s.ColumnText(1);
  delivery.webhook_id = s.ColumnText(2);
  delivery.event_id = s.ColumnText(3);
  delivery.event_type = s.ColumnText(4);
  delivery.payload = s.ColumnText(5);
  const auto status = ParseDeliveryStatus(s.ColumnText(6));
  if (!status) return Fail(NotWritten("webhook_deliveries", "status"));
  delivery.status = *status;
  delivery.attempts = s.ColumnInt64(7);
  delivery.last_status_code = s.ColumnOptionalInt64(8);
  delivery.last_error = s.ColumnText(9);
  delivery.next_attempt_at = s.ColumnInt64(10);
  delivery.created_at = s.ColumnInt64(11);
  delivery.delivered_at = s.ColumnOptionalInt64(12);
  return std::make_pair(s.ColumnInt64(0), std::move(delivery));
}

// Runs a page read of `query` with the cursor and the row limit after the filters' values.
template <typename Row, typename Read>
Result<std::vector<Row>> ReadHistoryPage(SqliteConnection& connection, const storage::HistoryQuery& query,
                                         std::optional<std::int64_t> before, std::size_t limit, std::string_view what,
                                         Read read) {
  auto statement = connection.Prepare(query.sql);
  if (!statement) return Fail(std::move(statement.error()));
  for (std::size_t i = 0; i < query.values.size(); ++i) statement->Bind(static_cast<int>(i) + 1, query.values[i]);
  statement->Bind(query.cursor_param(), before.value_or(storage::kNoSeqCursor))
      .Bind(query.limit_param(), static_cast<std::int64_t>(limit) + 1);
  return ReadAll<Row>(*statement, what, read);
}

}  // namespace

storage::HistoryQuery SqliteAlertHistoryQuery(const AlertFilter& filter) {
  return storage::HistoryPageQuery('?', kSelectAlerts,
                                   {{"rule_id", filter.rule_id},
                                    {"identity_id", filter.identity_id},
                                    {"state", filter.state ? AlertStateName(*filter.state) : std::string_view()}});
}

storage::HistoryQuery SqliteDeliveryHistoryQuery(const DeliveryFilter& filter) {
  return storage::HistoryPageQuery(
      '?', kSelectDeliveries,
      {{"webhook_id", filter.webhook_id}, {"status", filter.status ? DeliveryStatusName(*filter.status) : std::string_view()}});
}

Status SqliteStore::InsertAlertRule(const AlertRule& rule) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kInsertRule);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, rule.id).Bind(2, rule.name).Bind(3, AlertKindName(rule.kind)).Bind(4, rule.threshold)
      .Bind(5, rule.resolve_threshold).Bind(6, rule.window_seconds).Bind(7, rule.identity_id)
      .Bind(8, rule.external_id).Bind(9, rule.tier).Bind(10, rule.created_at);
  if (auto ran = statement->Run(); !ran) return Fail(During("inserting alert rule " + rule.id, std::move(ran.error())));
  return {};
}

Result<std::vector<AlertRule>> SqliteStore::ListAlertRules() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kListRules);
  if (!statement) return Fail(std::move(statement.error()));
  return ReadAll<AlertRule>(*statement, "reading alert rules", ReadRule);
}

Status SqliteStore::DeleteAlertRule(const std::string& rule_id, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kDeleteRule);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, rule_id).Bind(2, now);
  return RunOnOne(connection_, *statement, "deleting alert rule " + rule_id, "no alert rule with id '" + rule_id + "'");
}

Status SqliteStore::WriteAlertNotice(const Alert& alert, UnixMillis at) {
  auto webhooks_statement = connection_.Prepare(kListWebhooks);
  if (!webhooks_statement) return Fail(std::move(webhooks_statement.error()));
  auto webhooks = ReadAll<Webhook>(*webhooks_statement, "reading webhooks", ReadWebhook);
  if (!webhooks) return Fail(std::move(webhooks.error()));
  const storage::AlertNotice notice = storage::AlertTransitionNotice(alert, *webhooks, at);
  auto insert = connection_.Prepare(kInsertDelivery);
  if (!insert) return Fail(std::move(insert.error()));
  for (const WebhookDelivery& delivery : notice.deliveries) {
    insert->Bind(1, delivery.id).Bind(2, delivery.webhook_id).Bind(3, delivery.event_id).Bind(4, delivery.event_type)
        .Bind(5, delivery.payload).Bind(6, delivery.next_attempt_at).Bind(7, delivery.created_at);
    if (auto ran = insert->Run(); !ran) return Fail(During("writing webhook deliveries", std::move(ran.error())));
    insert->Reset();
  }
  return WriteEvent(connection_, notice.event);
}

Result<bool> SqliteStore::OpenAlert(const Alert& alert) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(std::move(transaction.error()));
  auto insert = connection_.Prepare(kOpenAlert);
  if (!insert) return Fail(std::move(insert.error()));
  const AlertSubject& subject = alert.subject;
  insert->Bind(1, alert.id).Bind(2, alert.rule_id).Bind(3, AlertKindName(alert.kind)).Bind(4, subject.key)
      .Bind(5, subject.identity_id).Bind(6, subject.external_id).Bind(7, subject.key_id).Bind(8, subject.tier)
      .Bind(9, alert.value).Bind(10, alert.threshold).Bind(11, alert.origin).Bind(12, alert.fired_at);
  if (auto ran = insert->Run(); !ran) return Fail(During("opening alert " + alert.id, std::move(ran.error())));
  if (connection_.Changes() == 0) return false;  // open already: nothing written
  if (auto noticed = WriteAlertNotice(alert, alert.fired_at); !noticed) return Fail(std::move(noticed.error()));
  if (auto committed = transaction->Commit(); !committed) return Fail(std::move(committed.error()));
  return true;
}

Result<std::optional<Alert>> SqliteStore::ResolveAlert(const std::string& rule_id, const std::string& subject,
                                                       std::int64_t value, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(std::move(transaction.error()));
  auto update = connection_.Prepare(kResolveAlert);
  if (!update) return Fail(std::move(update.error()));
  update->Bind(1, rule_id).Bind(2, subject).Bind(3, now).Bind(4, value);
  auto rows = ReadAll<std::pair<std::int64_t, Alert>>(*update, "resolving an alert", ReadAlert);
  if (!rows) return Fail(std::move(rows.error()));
  if (rows->empty()) return std::optional<Alert>();
  Alert alert = std::move(rows->front().second);
  if (auto noticed = WriteAlertNotice(alert, now); !noticed) return Fail(std::move(noticed.error()));
  if (auto committed = transaction->Commit(); !committed) return Fail(std::move(committed.error()));
  return std::optional<Alert>(std::move(alert));
}

Result<std::vector<Alert>> SqliteStore::ListOpenAlerts() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kOpenAlerts);
  if (!statement) return Fail(std::move(statement.error()));
  auto rows = ReadAll<std::pair<std::int64_t, Alert>>(*statement, "reading open alerts", ReadAlert);
  if (!rows) return Fail(std::move(rows.error()));
  return storage::WithoutSeqs(std::move(*rows));
}

Result<AlertPage> SqliteStore::ListAlerts(const AlertFilter& filter, std::optional<std::int64_t> before,
                                          std::size_t limit) {
  std::lock_guard lock(mutex_);
  auto rows = ReadHistoryPage<std::pair<std::int64_t, Alert>>(connection_, SqliteAlertHistoryQuery(filter), before, limit,
                                                               "reading alerts", ReadAlert);
  if (!rows) return Fail(std::move(rows.error()));
  auto [alerts, next] = storage::SeqPage(std::move(*rows), limit);
  return AlertPage{std::move(alerts), next};
}

Status SqliteStore::TouchAlertNode(const std::string& node, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kTouchNode);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, node).Bind(2, now);
  if (auto ran = statement->Run(); !ran) return Fail(During("recording node " + node + " alive", std::move(ran.error())));
  return {};
}

Result<std::int64_t> SqliteStore::AdoptAlertsOfGoneNodes(const std::string& node, UnixMillis seen_since) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(std::move(transaction.error()));
  auto adopt = connection_.Prepare(kAdoptAlerts);
  if (!adopt) return Fail(std::move(adopt.error()));
  adopt->Bind(1, node).Bind(2, seen_since);
  if (auto ran = adopt->Run(); !ran) return Fail(During("taking over the alerts of gone nodes", std::move(ran.error())));
  const std::int64_t adopted = connection_.Changes();
  auto forget = connection_.Prepare(kForgetNodes);
  if (!forget) return Fail(std::move(forget.error()));
  forget->Bind(1, seen_since);
  if (auto ran = forget->Run(); !ran) return Fail(During("forgetting gone nodes", std::move(ran.error())));
  if (auto committed = transaction->Commit(); !committed) return Fail(std::move(committed.error()));
  return adopted;
}

Status SqliteStore::InsertWebhook(const Webhook& webhook) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kInsertWebhook);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, webhook.id).Bind(2, webhook.url).Bind(3, webhook.description)
      .Bind(4, WebhookFormatName(webhook.format)).Bind(5, storage::EncodeStrings(webhook.events))
      .Bind(6, webhook.secret).Bind(7, webhook.created_at);
  if (auto ran = statement->Run(); !ran) return Fail(During("inserting webhook " + webhook.id, std::move(ran.error())));
  return {};
}

Result<std::vector<Webhook>> SqliteStore::ListWebhooks() {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kListWebhooks);
  if (!statement) return Fail(std::move(statement.error()));
  return ReadAll<Webhook>(*statement, "reading webhooks", ReadWebhook);
}

Status SqliteStore::DeleteWebhook(const std::string& webhook_id, UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(std::move(transaction.error()));
  auto statement = connection_.Prepare(kDeleteWebhook);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, webhook_id).Bind(2, now);
  if (auto deleted = RunOnOne(connection_, *statement, "deleting webhook " + webhook_id,
                              "no webhook with id '" + webhook_id + "'");
      !deleted) {
    return deleted;
  }
  auto fail = connection_.Prepare(kFailDeliveriesOf);
  if (!fail) return Fail(std::move(fail.error()));
  fail->Bind(1, webhook_id);
  if (auto ran = fail->Run(); !ran) return Fail(During("failing the deliveries of " + webhook_id, std::move(ran.error())));
  return transaction->Commit();
}

Result<std::vector<WebhookDelivery>> SqliteStore::ClaimDueDeliveries(const std::string& node, std::size_t limit,
                                                                     UnixMillis now, std::int64_t lease_ms) {
  std::lock_guard lock(mutex_);
  auto any = connection_.Prepare(kAnyDue);
  if (!any) return Fail(std::move(any.error()));
  any->Bind(1, now);
  auto found = any->Step();
  if (!found) return Fail(During("reading due webhook deliveries", std::move(found.error())));
  if (!*found || any->ColumnInt64(0) == 0) return std::vector<WebhookDelivery>{};
  auto claim = connection_.Prepare(kClaimDue);
  if (!claim) return Fail(std::move(claim.error()));
  claim->Bind(1, now).Bind(2, node).Bind(3, now + lease_ms).Bind(4, static_cast<std::int64_t>(limit));
  auto rows = ReadAll<std::pair<std::int64_t, WebhookDelivery>>(*claim, "claiming webhook deliveries", ReadDelivery);
  if (!rows) return Fail(std::move(rows.error()));
  // RETURNING comes in no particular order.
  std::sort(rows->begin(), rows->end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.next_attempt_at, a.first) < std::tie(b.second.next_attempt_at, b.first);
  });
  return storage::WithoutSeqs(std::move(*rows));
}

Result<bool> SqliteStore::RenewDeliveryClaim(const std::string& node, const std::string& delivery_id, UnixMillis until) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kRenewClaim);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, delivery_id).Bind(2, node).Bind(3, until);
  if (auto ran = statement->Run(); !ran) return Fail(During("renewing the claim on " + delivery_id, std::move(ran.error())));
  return connection_.Changes() > 0;
}

Status SqliteStore::RecordDeliveryAttempt(const std::string& node, const DeliveryAttempt& attempt) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kRecordAttempt);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, attempt.delivery_id).Bind(2, node).Bind(3, DeliveryStatusName(attempt.status))
      .Bind(4, attempt.attempts).Bind(5, attempt.status_code).Bind(6, attempt.error).Bind(7, attempt.next_attempt_at)
      .Bind(8, attempt.delivered_at);
  if (auto ran = statement->Run(); !ran) {
    return Fail(During("recording delivery " + attempt.delivery_id, std::move(ran.error())));
  }
  if (connection_.Changes() == 0) {
    return Fail(Error::Conflict("delivery " + attempt.delivery_id + " is no longer claimed by " + node));
  }
  return {};
}

Result<DeliveryPage> SqliteStore::ListDeliveries(const DeliveryFilter& filter, std::optional<std::int64_t> before,
                                                 std::size_t limit) {
  std::lock_guard lock(mutex_);
  auto rows = ReadHistoryPage<std::pair<std::int64_t, WebhookDelivery>>(
      connection_, SqliteDeliveryHistoryQuery(filter), before, limit, "reading webhook deliveries", ReadDelivery);
  if (!rows) return Fail(std::move(rows.error()));
  auto [deliveries, next] = storage::SeqPage(std::move(*rows), limit);
  return DeliveryPage{std::move(deliveries), next};
}

Result<std::int64_t> SqliteStore::CountPendingDeliveries() {
  std::lock_guard lock(mutex_);
  return connection_.QueryInt64(kCountPending);
}

}  // namespace tollgate
