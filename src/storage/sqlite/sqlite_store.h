// The embedded Store: all of tollgate's persistent state in one SQLite file (the default when no
// --store is given), or in memory for tests.
//
// Threads: one connection, guarded by mutex_; every method takes the mutex for its whole
// duration, so any thread may call any method. This serialises readers too. That is deliberate:
// SQLite serialises writers anyway, and reads here are rare (start-up load, admin listing) because
// verifies are served from the KeyCache and never reach SQL. A pool of read connections (WAL
// allows readers beside the writer) is the upgrade if admin reads ever queue behind writes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "storage/sqlite/sqlite_connection.h"
#include "storage/store.h"

namespace tollgate {

inline constexpr const char* kSqliteInMemoryPath = ":memory:";

// Opens the database file and makes it ready for the store: creates missing parent directories,
// sets the PRAGMAs (WAL except in memory, foreign_keys, synchronous=NORMAL, busy_timeout=5s),
// applies migrations. SqliteStore::Open is this plus the store; exposed so tests can inspect the
// connection settings.
Result<SqliteConnection> OpenSqliteDatabase(const std::string& path);

class SqliteStore final : public Store {
 public:
  // path is a filesystem path (not a sqlite:// URL) or kSqliteInMemoryPath. Fails with
  // kUnavailable when the file cannot be opened or its schema is newer than this binary knows.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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

  // TierStore
  Status InsertTier(const Tier& tier) override;
  Status UpdateTier(const Tier& tier) override;
  Result<TierUsage> DeleteTierIfUnused(const std::string& name, UnixMillis now) override;
  Result<std::optional<Tier>> GetTier(const std::string& name) override;
  Result<std::vector<Tier>> ListTiers() override;

  // RatelimitStore
  Result<RatelimitNamespace> UpsertRatelimitNamespace(const RatelimitNamespace& candidate) override;
  Result<std::vector<RatelimitNamespace>> LoadAllRatelimitNamespaces() override;
  Result<RatelimitOverride> UpsertRatelimitOverride(const RatelimitOverride& row) override;
  Status DeleteRatelimitOverride(const std::string& namespace_id, const std::string& identifier,
                                 UnixMillis now) override;
  Result<RatelimitOverridePage> ListRatelimitOverrides(const std::string& namespace_id,
                                                       const std::optional<std::string>& cursor,
                                                       std::size_t limit) override;
  Result<std::vector<RatelimitOverride>> LoadAllRatelimitOverrides() override;

  // UsageStore
  Status WriteUsage(std::span<const UsageEvent> events) override;
  Status PruneRawUsage(UnixMillis older_than) override;

  // UsageQueryStore
  Result<UsageSummary> Summary(const UsageFilter& filter) override;
  Result<std::vector<UsagePoint>> Timeseries(const UsageFilter& filter, UsageGranularity granularity,
                                             UsageGroupBy group_by) override;
  Result<std::vector<UsageTopEntry>> Top(const UsageFilter& filter, bool by_identity, std::size_t limit) override;

  // BillingStore (sqlite_billing.cc)
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

  // MeterStore (sqlite_meters.cc)
  Result<MeterIngestResult> IngestMeterEvents(std::span<const MeterEvent> events, UnixMillis received_at) override;
  Status PruneMeterEvents(UnixMillis received_before) override;

  // UsageExportStore (sqlite_usage_export.cc)
  Result<UsageExportPage> ExportUsagePage(const UsageExportFilter& filter, const std::optional<UsageExportCursor>& after,
                                          std::size_t limit) override;

  // AlertStore (sqlite_alerts.cc)
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

  // OutboxStore (sqlite_outbox.cc)
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
  explicit SqliteStore(SqliteConnection connection) : connection_(std::move(connection)) {}

  // The first row of an identity query with ?1 = value; mutex held.
  Result<std::optional<Identity>> SelectIdentity(std::string_view query, const std::string& value);
  // The external id of an identity, deleted or not (NotFound when there is none); mutex held.
  Result<std::string> ExternalIdOfIdentity(const std::string& identity_id);
  // Appends a change of the customer's tier to identity_tier_history unless it is already the
  // latest; mutex held (sqlite_billing.cc).
  Status RecordTierChange(const std::string& external_id, const std::string& tier, UnixMillis at);
  // The meter side of Summary and Timeseries, over the meter rollups of granularity index g;
  // mutex held (sqlite_meters.cc).
  Status ReadMeterTotals(const UsageFilter& filter, std::size_t g, UsageSummary& summary);
  Result<std::vector<UsagePoint>> MeterTimeseries(const UsageFilter& filter, std::size_t g);
  // Writes the event of an alert's transition and its deliveries to the live webhooks, inside the
  // caller's transaction; mutex held (sqlite_alerts.cc).
  Status WriteAlertNotice(const Alert& alert, UnixMillis at);

  std::mutex mutex_;
  SqliteConnection connection_;  // guarded by mutex_
};

}  // namespace tollgate
