// The production Store: tollgate's persistent state in PostgreSQL (--store postgres://...), shared
// by every node of a deployment.
//
// Threads: a pool of connections (PgPool); each method borrows one for its duration, so methods
// run in parallel up to the pool size, and PostgreSQL's own locking keeps them consistent. Every
// write that other nodes must hear of also writes its event into the outbox table in the same
// transaction (storage/domain_events.h).
//
// When PostgreSQL is down, every method fails fast with kUnavailable (503) and a message that
// names the server; the pool reconnects on the next call once it is back.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_bus.h"
#include "storage/postgres/pg_connection.h"
#include "storage/store.h"

namespace tollgate {

struct PostgresOptions {
  std::size_t pool_size = 8;
  // How long a call waits for a free connection before answering 503.
  std::chrono::milliseconds acquire_timeout{2000};
};

class PostgresStore final : public Store {
 public:
  // conninfo: a postgres:// or postgresql:// URI, or a libpq key=value string. Connects once,
  // applies migrations, and fails with kUnavailable when the server cannot be reached.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo, PostgresOptions options = {});

  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // KeyStore
  Status InsertApi(const Api& api) override;
  Result<std::optional<Api>> GetApi(const std::string& api_id) override;
  Status DeleteApi(const std::string& api_id, UnixMillis now) override;
  Status InsertKey(const Key& key) override;
  Status UpdateKey(const Key& key) override;
  Status DeleteKey(const std::string& key_id, bool permanent, UnixMillis now) override;
  Result<std::optional<Key>> GetKey(const std::string& key_id) override;
  Result<KeyPage> ListKeys(const std::string& api_id, const std::optional<std::string>& cursor,
                           std::size_t limit,
                           const std::optional<std::string>& external_id) override;
  Result<std::vector<Key>> LoadAllKeys() override;
  Result<std::vector<QuotaRow>> LoadQuotaUsage(int period) override;
  Status SaveQuotaUsage(std::span<const QuotaRow> rows) override;
  Status UpdateCredits(const std::string& key_id, const std::optional<Credits>& credits) override;

  // IdentityStore
  Status InsertIdentity(const Identity& identity) override;
  Result<Identity> UpsertIdentity(const std::string& external_id, UnixMillis now) override;
  Status UpdateIdentity(const Identity& identity, UnixMillis now) override;
  Status DeleteIdentity(const std::string& identity_id, UnixMillis now) override;
  Result<std::optional<Identity>> GetIdentityById(const std::string& identity_id) override;
  Result<std::optional<Identity>> GetIdentityByExternalId(const std::string& external_id) override;
  Result<IdentityPage> ListIdentities(const std::optional<std::string>& cursor, std::size_t limit,
                                      const std::optional<std::string>& search) override;
  Result<std::vector<Identity>> LoadAllIdentities() override;

  // TierStore (postgres_tiers.cc)
  Status InsertTier(const Tier& tier) override;
  Status UpdateTier(const Tier& tier) override;
  Result<TierUsage> DeleteTierIfUnused(const std::string& name, UnixMillis now) override;
  Result<std::optional<Tier>> GetTier(const std::string& name) override;
  Result<std::vector<Tier>> ListTiers() override;

  // RatelimitStore (postgres_tiers.cc)
  Result<RatelimitNamespace> UpsertRatelimitNamespace(const RatelimitNamespace& candidate) override;
  Result<std::vector<RatelimitNamespace>> LoadAllRatelimitNamespaces() override;
  Result<RatelimitOverride> UpsertRatelimitOverride(const RatelimitOverride& row) override;
  Status DeleteRatelimitOverride(const std::string& namespace_id, const std::string& identifier,
                                 UnixMillis now) override;
  Result<RatelimitOverridePage> ListRatelimitOverrides(const std::string& namespace_id,
                                                       const std::optional<std::string>& cursor,
                                                       std::size_t limit) override;
  Result<std::vector<RatelimitOverride>> LoadAllRatelimitOverrides() override;

  // UsageStore (postgres_usage.cc)
  Status WriteUsage(std::span<const UsageEvent> events) override;
  Status PruneRawUsage(UnixMillis older_than) override;

  // UsageQueryStore (postgres_usage.cc)
  Result<UsageSummary> Summary(const UsageFilter& filter) override;
  Result<std::vector<UsagePoint>> Timeseries(const UsageFilter& filter, UsageGranularity granularity,
                                             UsageGroupBy group_by) override;
  Result<std::vector<UsageTopEntry>> Top(const UsageFilter& filter, bool by_identity, std::size_t limit) override;

  // BillingStore (postgres_billing.cc)
  Result<std::optional<UnixMillis>> BillingAnchor(const std::string& external_id) override;
  Result<std::vector<TierChange>> TierHistory(const std::string& external_id) override;
  Result<std::map<std::string, std::int64_t>> BillableUsage(const std::string& external_id, UnixMillis from,
                                                             UnixMillis to) override;
  Result<std::vector<std::string>> BillingCandidates(UnixMillis from, UnixMillis to) override;
  Result<std::vector<std::pair<Invoice, bool>>> FinalizeInvoices(std::span<const Invoice> drafts,
                                                                 UnixMillis now) override;
  Result<std::vector<Invoice>> ListInvoices(const InvoiceFilter& filter) override;
  Result<std::optional<Invoice>> GetInvoice(const std::string& invoice_id) override;
  Result<Invoice> VoidInvoice(const std::string& invoice_id, const std::string& reason, UnixMillis now) override;

  // MeterStore (postgres_meters.cc)
  Result<MeterIngestResult> IngestMeterEvents(std::span<const MeterEvent> events, UnixMillis received_at) override;
  Status PruneMeterEvents(UnixMillis received_before) override;

  // UsageExportStore (postgres_usage.cc)
  Result<UsageExportPage> ExportUsagePage(const UsageExportFilter& filter, const std::optional<UsageExportCursor>& after,
                                          std::size_t limit) override;

  // AlertStore (postgres_alerts.cc)
  Status InsertAlertRule(const AlertRule& rule) override;
  Result<std::vector<AlertRule>> ListAlertRules() override;
  Status DeleteAlertRule(const std::string& rule_id, UnixMillis now) override;
  Result<bool> OpenAlert(const Alert& alert) override;
  Result<std::optional<Alert>> ResolveAlert(const std::string& rule_id, const std::string& subject, std::int64_t value,
                                            UnixMillis now) override;
  Result<std::vector<Alert>> ListOpenAlerts() override;
  Status TouchAlertNode(const std::string& node, UnixMillis now) override;
  Result<std::int64_t> AdoptAlertsOfGoneNodes(const std::string& node, UnixMillis seen_since) override;
  Result<AlertPage> ListAlerts(const AlertFilter& filter, std::optional<std::int64_t> before, std::size_t limit) override;
  Status InsertWebhook(const Webhook& webhook) override;
  Result<std::vector<Webhook>> ListWebhooks() override;
  Status DeleteWebhook(const std::string& webhook_id, UnixMillis now) override;
  Result<std::vector<WebhookDelivery>> ClaimDueDeliveries(const std::string& node, std::size_t limit, UnixMillis now,
                                                          std::int64_t lease_ms) override;
  Result<bool> RenewDeliveryClaim(const std::string& node, const std::string& delivery_id, UnixMillis until) override;
  Status RecordDeliveryAttempt(const std::string& node, const DeliveryAttempt& attempt) override;
  Result<DeliveryPage> ListDeliveries(const DeliveryFilter& filter, std::optional<std::int64_t> before,
                                      std::size_t limit) override;
  Result<std::int64_t> CountPendingDeliveries() override;

  // RootKeyStore
  Status InsertRootKey(const RootKey& key) override;
  Status DeleteRootKey(const std::string& id, UnixMillis now) override;
  Result<std::vector<RootKey>> ListRootKeys() override;

  // OutboxStore (postgres_outbox.cc)
  Result<std::vector<OutboxEvent>> ClaimOutboxEvents(const std::string& relay, std::size_t limit, UnixMillis now,
                                                     std::int64_t lease_ms) override;
  Status MarkOutboxSent(std::span<const std::int64_t> seqs, UnixMillis now) override;
  Result<std::vector<OutboxEvent>> OutboxEventsAfter(std::int64_t after, std::size_t limit) override;
  Result<std::int64_t> LatestOutboxSeq() override;
  Result<std::optional<UnixMillis>> OldestPendingOutboxAt() override;
  Status PruneOutbox(UnixMillis sent_before) override;

  // Store
  Status Ping() override;
  Result<int> SchemaVersion() override;

 private:
  PostgresStore(const std::string& conninfo, const PostgresOptions& options)
      : pool_(conninfo, options.pool_size, options.acquire_timeout) {}

  // Writes one event into the outbox inside the caller's transaction (postgres_outbox.cc).
  static Status WriteEvent(PgConnection& connection, const Event& event);
  // Writes the event of an alert's transition and its deliveries to the live webhooks, inside the
  // caller's transaction, the event last (postgres_alerts.cc).
  static Status WriteAlertNotice(PgConnection& connection, const Alert& alert, UnixMillis at);
  // The first row of an identity query with $1 = value (postgres_store.cc).
  static Result<std::optional<Identity>> SelectIdentity(PgConnection& connection, std::string_view query,
                                                        const std::string& value);
  // Appends a change of the customer's tier to identity_tier_history unless it is already the
  // latest, inside the caller's transaction (postgres_store.cc).
  static Status RecordTierChange(PgConnection& connection, const std::string& external_id, const std::string& tier,
                                 UnixMillis at);

  PgPool pool_;
};

}  // namespace tollgate
