// Persistence of customer alerts: rules, alert history, webhooks and their deliveries. Every
// Store implements it (SQLite and PostgreSQL), and the store is the arbiter between nodes:
//  * at most one open alert per (rule, subject), so two nodes that see the same crossing fire it
//    once (OpenAlert answers false to the second);
//  * an alert's transition, its alert.firing / alert.resolved event in the outbox and one
//    delivery per subscribed webhook are written in one transaction: a committed alert is always
//    announced and delivered, a failed write leaves none of them;
//  * a due delivery is claimed by one dispatcher at a time (a lease), so one node sends it;
//  * each node's evaluation says it is alive (a heartbeat), so that the alerts only their origin
//    node may resolve are taken over by a live node once that node is gone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "alerts/model.h"
#include "common/result.h"

namespace tollgate {

struct AlertFilter {
  std::string rule_id;      // "" for any
  std::string identity_id;  // "" for any
  std::optional<AlertState> state;
};

struct DeliveryFilter {
  std::string webhook_id;  // "" for any
  std::optional<DeliveryStatus> status;
};

// A page of alert history or of deliveries. Pages go by insertion order (a sequence), newest
// first: a page holds rows inserted before `before`, and next_before is where the next page
// starts when more remain.
template <typename Item>
struct HistoryPage {
  std::vector<Item> items;  // newest first
  std::optional<std::int64_t> next_before;
};
using AlertPage = HistoryPage<Alert>;
using DeliveryPage = HistoryPage<WebhookDelivery>;

// How one attempt at a delivery ended, recorded by the dispatcher that claimed it.
struct DeliveryAttempt {
  std::string delivery_id;
  DeliveryStatus status = DeliveryStatus::kPending;  // pending again: retried at next_attempt_at
  std::int64_t attempts = 0;                         // including this one
  std::optional<std::int64_t> status_code;
  std::string error;
  UnixMillis next_attempt_at = 0;
  std::optional<UnixMillis> delivered_at;
};

class AlertStore {
 public:
  virtual ~AlertStore() = default;

  virtual Status InsertAlertRule(const AlertRule& rule) = 0;
  // Live rules, oldest first.
  virtual Result<std::vector<AlertRule>> ListAlertRules() = 0;
  // NotFound when no live rule has the id. Its alerts stay as they are (history).
  virtual Status DeleteAlertRule(const std::string& rule_id, UnixMillis now) = 0;

  // Inserts `alert` (state firing) unless an alert of its rule and subject is open already; on
  // insert, writes its alert.firing event and a delivery per live webhook that receives it.
  // True when this call opened it.
  virtual Result<bool> OpenAlert(const Alert& alert) = 0;
  // Resolves the open alert of (rule, subject) with `value` at `now`, with its alert.resolved
  // event and deliveries; the resolved alert, or nullopt when none was open.
  virtual Result<std::optional<Alert>> ResolveAlert(const std::string& rule_id, const std::string& subject,
                                                    std::int64_t value, UnixMillis now) = 0;
  // Every firing alert.
  virtual Result<std::vector<Alert>> ListOpenAlerts() = 0;
  // Records that `node` was alive at `now` (its heartbeat; a later time never goes back).
  virtual Status TouchAlertNode(const std::string& node, UnixMillis now) = 0;
  // Makes `node` the origin of every firing alert whose origin was not seen alive since
  // `seen_since` (or never), and forgets the nodes not seen since then. How many it took over.
  virtual Result<std::int64_t> AdoptAlertsOfGoneNodes(const std::string& node, UnixMillis seen_since) = 0;
  // History, newest first, rows inserted before `before` (a page's next_before) when given.
  virtual Result<AlertPage> ListAlerts(const AlertFilter& filter, std::optional<std::int64_t> before,
                                       std::size_t limit) = 0;

  virtual Status InsertWebhook(const Webhook& webhook) = 0;
  // Live webhooks, oldest first, with their secrets.
  virtual Result<std::vector<Webhook>> ListWebhooks() = 0;
  // NotFound when no live webhook has the id. Its pending deliveries fail ("webhook deleted").
  virtual Status DeleteWebhook(const std::string& webhook_id, UnixMillis now) = 0;

  // Claims up to `limit` pending deliveries due at `now` whose claim is free or expired, for
  // `lease_ms`, under the name `node`, soonest due first.
  virtual Result<std::vector<WebhookDelivery>> ClaimDueDeliveries(const std::string& node, std::size_t limit,
                                                                  UnixMillis now, std::int64_t lease_ms) = 0;
  // Extends `node`'s claim on a delivery to `until`, just before an attempt; false (nothing
  // changed) when the claim was lost: another node took the delivery over, or it was settled.
  virtual Result<bool> RenewDeliveryClaim(const std::string& node, const std::string& delivery_id,
                                          UnixMillis until) = 0;
  // Records an attempt on a delivery `node` claimed, and frees the claim. Conflict when the
  // claim was lost (its lease ran out and another node took the delivery).
  virtual Status RecordDeliveryAttempt(const std::string& node, const DeliveryAttempt& attempt) = 0;
  // Newest first, like ListAlerts.
  virtual Result<DeliveryPage> ListDeliveries(const DeliveryFilter& filter, std::optional<std::int64_t> before,
                                              std::size_t limit) = 0;
  // Deliveries waiting to be (re)tried.
  virtual Result<std::int64_t> CountPendingDeliveries() = 0;
};

}  // namespace tollgate
