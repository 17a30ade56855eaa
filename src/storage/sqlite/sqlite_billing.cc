// SqliteStore's BillingStore (billing/billing_store.h) and the tier history its identity writes
// keep. Schema: migration 7.
#include <cstdio>

#include "billing/invoice_json.h"
#include "common/calendar.h"
#include "common/ids.h"
#include "storage/domain_events.h"
#include "storage/sqlite/sqlite_internal.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

using sqlite_internal::During;
using storage::RollupRange;
using storage::RollupRanges;

// Inserts a change only when it differs from the customer's latest one.
constexpr std::string_view kRecordTierChange =
    "INSERT INTO identity_tier_history (external_id, effective_at, tier) SELECT ?1, ?2, ?3 "
    "WHERE COALESCE((SELECT tier FROM identity_tier_history WHERE external_id = ?1 "
    "ORDER BY effective_at DESC LIMIT 1), '') != ?3 "
    "ON CONFLICT (external_id, effective_at) DO UPDATE SET tier = excluded.tier";
constexpr std::string_view kSelectBillingAnchor =
    "SELECT created_at FROM identities WHERE external_id = ?1 AND deleted_at IS NULL "
    "AND billing_cycle = 'anniversary'";
constexpr std::string_view kSelectTierHistory =
    "SELECT effective_at, tier FROM identity_tier_history WHERE external_id = ?1 ORDER BY effective_at";

// ?1 external_id, ?2 granularity, ?3 from, ?4 to (bucket starts).
constexpr std::string_view kValidVerifications =
    "SELECT COALESCE(SUM(count), 0) FROM usage_rollups WHERE granularity = ?2 AND bucket_start >= ?3 "
    "AND bucket_start < ?4 AND external_id = ?1 AND code = 'VALID'";
constexpr std::string_view kMeteredUsage =
    "SELECT meter, SUM(quantity) FROM meter_rollups WHERE granularity = ?2 AND bucket_start >= ?3 "
    "AND bucket_start < ?4 AND external_id = ?1 GROUP BY meter";
// ?1 from, ?2 to (period bounds).
constexpr std::string_view kBillingCandidates =
    "SELECT external_id FROM usage_rollups WHERE granularity = 'month' AND bucket_start >= ?1 "
    "AND bucket_start < ?2 AND code = 'VALID' AND external_id != '' "
    "UNION SELECT external_id FROM meter_rollups WHERE granularity = 'month' AND bucket_start >= ?1 "
    "AND bucket_start < ?2 "
    "UNION SELECT external_id FROM identity_tier_history WHERE effective_at < ?2 AND tier != '' "
    "ORDER BY 1";

#define TOLLGATE_INVOICE_SELECT                                                                  \
  "SELECT id, number, external_id, period, period_start, period_end, currency, lines, total_minor, " \
  "status, created_at, voided_at, void_reason FROM invoices "
constexpr std::string_view kSelectInvoice = TOLLGATE_INVOICE_SELECT "WHERE id = ?1";
constexpr std::string_view kSelectFinalizedInvoice =
    TOLLGATE_INVOICE_SELECT "WHERE external_id = ?1 AND period = ?2 AND status = 'finalized'";
constexpr std::string_view kListInvoices =
    TOLLGATE_INVOICE_SELECT "WHERE (?1 = '' OR external_id = ?1) AND (?2 = '' OR period = ?2) "
                            "AND (?3 = '' OR status = ?3) ORDER BY number";
#undef TOLLGATE_INVOICE_SELECT
constexpr std::string_view kNextInvoiceNumber =
    "UPDATE invoice_sequence SET value = value + 1 WHERE name = 'invoice' RETURNING value";
constexpr std::string_view kInsertInvoice =
    "INSERT INTO invoices (id, number, external_id, period, period_start, period_end, currency, lines, "
    "total_minor, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'finalized', ?10)";
constexpr std::string_view kVoidInvoice =
    "UPDATE invoices SET status = 'void', voided_at = ?2, void_reason = ?3 WHERE id = ?1 AND status = 'finalized'";

Result<std::vector<Invoice>> ReadInvoices(SqliteStatement& statement) {
  std::vector<Invoice> invoices;
  for (;;) {
    auto row = statement.Step();
    if (!row) return Fail(std::move(row.error()));
    if (!*row) return invoices;
    Invoice invoice;
    invoice.id = statement.ColumnText(0);
    invoice.number = statement.ColumnText(1);
    invoice.external_id = statement.ColumnText(2);
    invoice.period = statement.ColumnText(3);
    invoice.period_start = statement.ColumnInt64(4);
    invoice.period_end = statement.ColumnInt64(5);
    invoice.currency = statement.ColumnText(6);
    auto lines = InvoiceLinesFromJson(nlohmann::json::parse(statement.ColumnText(7), nullptr, false));
    if (!lines) return Fail(Error::Internal("sqlite: invoices.lines of " + invoice.id + " holds a value tollgate did not write"));
    invoice.lines = std::move(*lines);
    invoice.total_minor = statement.ColumnInt64(8);
    invoice.status = statement.ColumnText(9) == "void" ? InvoiceStatus::kVoid : InvoiceStatus::kFinalized;
    invoice.created_at = statement.ColumnInt64(10);
    invoice.voided_at = statement.ColumnOptionalInt64(11).value_or(0);
    invoice.void_reason = statement.ColumnText(12);
    invoices.push_back(std::move(invoice));
  }
}

}  // namespace

Status SqliteStore::RecordTierChange(const std::string& external_id, const std::string& tier, UnixMillis at) {
  auto statement = connection_.Prepare(kRecordTierChange);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, external_id).Bind(2, at).Bind(3, tier);
  if (auto ran = statement->Run(); !ran) return Fail(During("recording the tier of " + external_id, std::move(ran.error())));
  return {};
}

Result<std::optional<UnixMillis>> SqliteStore::BillingAnchor(const std::string& external_id) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectBillingAnchor);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, external_id);
  auto row = statement->Step();
  if (!row) return Fail(During("reading the billing cycle of " + external_id, std::move(row.error())));
  if (!*row) return std::optional<UnixMillis>();
  return std::optional<UnixMillis>(statement->ColumnInt64(0));
}

Result<std::vector<TierChange>> SqliteStore::TierHistory(const std::string& external_id) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectTierHistory);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, external_id);
  std::vector<TierChange> history;
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("reading the tier history of " + external_id, std::move(row.error())));
    if (!*row) return history;
    history.push_back({statement->ColumnInt64(0), statement->ColumnText(1)});
  }
}

Result<std::map<std::string, std::int64_t>> SqliteStore::BillableUsage(const std::string& external_id, UnixMillis from,
                                                                       UnixMillis to) {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::int64_t> usage;
  for (const RollupRange& range : RollupRanges(from, to)) {
    auto valid = connection_.Prepare(kValidVerifications);
    if (!valid) return Fail(std::move(valid.error()));
    valid->Bind(1, external_id).Bind(2, range.granularity).Bind(3, range.from).Bind(4, range.to);
    auto row = valid->Step();
    if (!row) return Fail(During("reading billable verifications", std::move(row.error())));
    if (*row && valid->ColumnInt64(0) > 0) usage["requests"] += valid->ColumnInt64(0);
    auto metered = connection_.Prepare(kMeteredUsage);
    if (!metered) return Fail(std::move(metered.error()));
    metered->Bind(1, external_id).Bind(2, range.granularity).Bind(3, range.from).Bind(4, range.to);
    for (;;) {
      auto next = metered->Step();
      if (!next) return Fail(During("reading billable metered usage", std::move(next.error())));
      if (!*next) break;
      usage[metered->ColumnText(0)] += metered->ColumnInt64(1);
    }
  }
  return usage;
}

Result<std::vector<std::string>> SqliteStore::BillingCandidates(UnixMillis from, UnixMillis to) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kBillingCandidates);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, from).Bind(2, to);
  std::vector<std::string> ids;
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("listing customers to bill", std::move(row.error())));
    if (!*row) return ids;
    ids.push_back(statement->ColumnText(0));
  }
}

Result<std::vector<std::pair<Invoice, bool>>> SqliteStore::FinalizeInvoices(std::span<const Invoice> drafts,
                                                                            UnixMillis now) {
  std::lock_guard lock(mutex_);
  auto transaction = SqliteTransaction::Begin(connection_);
  if (!transaction) return Fail(During("finalizing invoices", std::move(transaction.error())));
  std::vector<std::pair<Invoice, bool>> result;
  for (const Invoice& draft : drafts) {
    auto existing = connection_.Prepare(kSelectFinalizedInvoice);
    if (!existing) return Fail(std::move(existing.error()));
    existing->Bind(1, draft.external_id).Bind(2, draft.period);
    auto found = ReadInvoices(*existing);
    if (!found) return Fail(During("reading invoices", std::move(found.error())));
    if (!found->empty()) {
      result.emplace_back(std::move(found->front()), false);
      continue;
    }
    auto number = connection_.Prepare(kNextInvoiceNumber);
    if (!number) return Fail(std::move(number.error()));
    auto row = number->Step();
    if (!row || !*row) return Fail(Error::Internal("sqlite: the invoice sequence is missing"));
    char text[32];
    std::snprintf(text, sizeof text, "INV-%06lld", static_cast<long long>(number->ColumnInt64(0)));
    Invoice invoice = draft;
    invoice.id = NewId("inv");
    invoice.number = text;
    invoice.status = InvoiceStatus::kFinalized;
    invoice.created_at = now;
    auto insert = connection_.Prepare(kInsertInvoice);
    if (!insert) return Fail(std::move(insert.error()));
    insert->Bind(1, invoice.id).Bind(2, invoice.number).Bind(3, invoice.external_id).Bind(4, invoice.period)
        .Bind(5, invoice.period_start).Bind(6, invoice.period_end).Bind(7, invoice.currency)
        .Bind(8, InvoiceLinesToJson(invoice.lines).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
        .Bind(9, invoice.total_minor).Bind(10, now);
    if (auto ran = insert->Run(); !ran) return Fail(During("inserting invoice " + invoice.number, std::move(ran.error())));
    if (auto recorded = sqlite_internal::WriteEvent(connection_, storage::InvoiceFinalizedEvent(invoice, now)); !recorded) {
      return Fail(std::move(recorded.error()));
    }
    result.emplace_back(std::move(invoice), true);
  }
  if (auto committed = transaction->Commit(); !committed) return Fail(std::move(committed.error()));
  return result;
}

Result<std::vector<Invoice>> SqliteStore::ListInvoices(const InvoiceFilter& filter) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kListInvoices);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, filter.external_id).Bind(2, filter.period)
      .Bind(3, filter.status ? InvoiceStatusName(*filter.status) : std::string_view(""));
  auto invoices = ReadInvoices(*statement);
  if (!invoices) return Fail(During("listing invoices", std::move(invoices.error())));
  return invoices;
}

Result<std::optional<Invoice>> SqliteStore::GetInvoice(const std::string& invoice_id) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kSelectInvoice);
  if (!statement) return Fail(std::move(statement.error()));
  statement->Bind(1, invoice_id);
  auto invoices = ReadInvoices(*statement);
  if (!invoices) return Fail(During("reading invoice " + invoice_id, std::move(invoices.error())));
  if (invoices->empty()) return std::optional<Invoice>();
  return std::optional<Invoice>(std::move(invoices->front()));
}

Result<Invoice> SqliteStore::VoidInvoice(const std::string& invoice_id, const std::string& reason, UnixMillis now) {
  {
    std::lock_guard lock(mutex_);
    auto statement = connection_.Prepare(kVoidInvoice);
    if (!statement) return Fail(std::move(statement.error()));
    statement->Bind(1, invoice_id).Bind(2, now).Bind(3, reason);
    if (auto ran = statement->Run(); !ran) return Fail(During("voiding invoice " + invoice_id, std::move(ran.error())));
    const bool voided = connection_.Changes() == 1;
    if (!voided) {
      auto check = connection_.Prepare(kSelectInvoice);
      if (!check) return Fail(std::move(check.error()));
      check->Bind(1, invoice_id);
      auto found = ReadInvoices(*check);
      if (!found) return Fail(std::move(found.error()));
      if (found->empty()) return Fail(Error::NotFound("no invoice with id '" + invoice_id + "'"));
      return Fail(Error::Conflict("invoice " + found->front().number + " is already void"));
    }
  }
  auto invoice = GetInvoice(invoice_id);
  if (!invoice) return Fail(invoice.error());
  return std::move(**invoice);
}

}  // namespace tollgate
