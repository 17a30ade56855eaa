// PostgresStore's BillingStore (billing/billing_store.h). The tier history it reads is written by
// the identity writes (RecordTierChange, postgres_store.cc).
//
// Several nodes may close the same month at once. FinalizeInvoices therefore locks the one
// invoice_sequence row before it looks at anything: closings run one after the other, each sees
// the invoices the previous one committed (READ COMMITTED reads afresh per statement), so a
// customer never gets a second finalized invoice for a period, and the numbers stay gapless and
// in commit order (a rolled-back closing gives its numbers back with the row).
#include <cstdio>

#include "billing/invoice_json.h"
#include "common/ids.h"
#include "storage/domain_events.h"
#include "storage/postgres/postgres_store.h"
#include "storage/store_internal.h"

namespace tollgate {
namespace {

using storage::During;

constexpr std::string_view kSelectBillingAnchor =
    "SELECT created_at FROM identities WHERE external_id = $1 AND deleted_at IS NULL "
    "AND billing_cycle = 'anniversary'";
constexpr std::string_view kSelectTierHistory =
    "SELECT effective_at, tier FROM identity_tier_history WHERE external_id = $1 ORDER BY effective_at";

// $1 external_id; $2 granularities, $3 froms, $4 tos: the pieces of storage::RollupRanges. One
// row per meter, and a "requests" row for VALID verifications when there were any; "requests"
// may come twice (verified and ingested), the caller adds them up.
constexpr std::string_view kBillableUsage =
    "WITH ranges (granularity, range_from, range_to) AS ("
    "SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[])) "
    "SELECT 'requests', SUM(u.count) FROM usage_rollups u JOIN ranges r ON u.granularity = r.granularity "
    "AND u.bucket_start >= r.range_from AND u.bucket_start < r.range_to "
    "WHERE u.external_id = $1 AND u.code = 'VALID' HAVING SUM(u.count) > 0 "
    "UNION ALL "
    "SELECT m.meter, SUM(m.quantity) FROM meter_rollups m JOIN ranges r ON m.granularity = r.granularity "
    "AND m.bucket_start >= r.range_from AND m.bucket_start < r.range_to "
    "WHERE m.external_id = $1 GROUP BY m.meter";
// $1 from, $2 to (period bounds). Byte order, as SQLite sorts, whatever the database's collation.
constexpr std::string_view kBillingCandidates =
    "SELECT external_id FROM ("
    "SELECT external_id FROM usage_rollups WHERE granularity = 'month' AND bucket_start >= $1 "
    "AND bucket_start < $2 AND code = 'VALID' AND external_id != '' "
    "UNION SELECT external_id FROM meter_rollups WHERE granularity = 'month' AND bucket_start >= $1 "
    "AND bucket_start < $2 "
    "UNION SELECT external_id FROM identity_tier_history WHERE effective_at < $2 AND tier != ''"
    ") AS candidates ORDER BY external_id COLLATE \"C\"";

#define TOLLGATE_INVOICE_COLUMNS                                                                     \
  "id, number, external_id, period, period_start, period_end, currency, lines, total_minor, status, " \
  "created_at, voided_at, void_reason"
constexpr std::string_view kSelectInvoice = "SELECT " TOLLGATE_INVOICE_COLUMNS " FROM invoices WHERE id = $1";
constexpr std::string_view kSelectFinalizedInvoice =
    "SELECT " TOLLGATE_INVOICE_COLUMNS " FROM invoices WHERE external_id = $1 AND period = $2 AND status = 'finalized'";
constexpr std::string_view kListInvoices =
    "SELECT " TOLLGATE_INVOICE_COLUMNS " FROM invoices WHERE ($1::text = '' OR external_id = $1) "
    "AND ($2::text = '' OR period = $2) AND ($3::text = '' OR status = $3) ORDER BY number COLLATE \"C\"";
// The row stays locked until the transaction ends: see the header comment.
constexpr std::string_view kLockInvoiceSequence =
    "SELECT value FROM invoice_sequence WHERE name = 'invoice' FOR UPDATE";
constexpr std::string_view kNextInvoiceNumber =
    "UPDATE invoice_sequence SET value = value + 1 WHERE name = 'invoice' RETURNING value";
constexpr std::string_view kInsertInvoice =
    "INSERT INTO invoices (id, number, external_id, period, period_start, period_end, currency, lines, "
    "total_minor, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'finalized', $10)";
constexpr std::string_view kVoidInvoice =
    "UPDATE invoices SET status = 'void', voided_at = $2, void_reason = $3 WHERE id = $1 AND status = 'finalized' "
    "RETURNING " TOLLGATE_INVOICE_COLUMNS;
constexpr std::string_view kSelectInvoiceNumber = "SELECT number FROM invoices WHERE id = $1";
#undef TOLLGATE_INVOICE_COLUMNS

// The rows of a query selecting TOLLGATE_INVOICE_COLUMNS.
Result<std::vector<Invoice>> ReadInvoices(const PgResult& rows) {
  std::vector<Invoice> invoices;
  for (int row = 0; row < rows.Rows(); ++row) {
    Invoice invoice;
    invoice.id = rows.Text(row, 0);
    invoice.number = rows.Text(row, 1);
    invoice.external_id = rows.Text(row, 2);
    invoice.period = rows.Text(row, 3);
    invoice.period_start = rows.Int64(row, 4);
    invoice.period_end = rows.Int64(row, 5);
    invoice.currency = rows.Text(row, 6);
    auto lines = InvoiceLinesFromJson(nlohmann::json::parse(rows.Text(row, 7), nullptr, false));
    if (!lines) return Fail(Error::Internal("postgres: invoices.lines of " + invoice.id + " holds a value tollgate did not write"));
    invoice.lines = std::move(*lines);
    invoice.total_minor = rows.Int64(row, 8);
    invoice.status = rows.Text(row, 9) == "void" ? InvoiceStatus::kVoid : InvoiceStatus::kFinalized;
    invoice.created_at = rows.Int64(row, 10);
    invoice.voided_at = rows.OptionalInt64(row, 11).value_or(0);
    invoice.void_reason = rows.Text(row, 12);
    invoices.push_back(std::move(invoice));
  }
  return invoices;
}

// Runs an invoice query and reads its rows.
Result<std::vector<Invoice>> QueryInvoices(PgConnection& connection, std::string_view sql, const PgParams& params,
                                           const std::string& what) {
  auto rows = connection.Query(sql, params);
  if (!rows) return Fail(During(what, std::move(rows.error())));
  auto invoices = ReadInvoices(*rows);
  if (!invoices) return Fail(During(what, std::move(invoices.error())));
  return invoices;
}

// Numbers `draft` from the (locked) sequence and stores it as finalized at `now`.
Result<Invoice> InsertFinalizedInvoice(PgConnection& connection, const Invoice& draft, UnixMillis now) {
  auto number = connection.Query(kNextInvoiceNumber);
  if (!number) return Fail(During("numbering an invoice", std::move(number.error())));
  if (number->Rows() != 1) return Fail(Error::Internal("postgres: the invoice sequence is missing"));
  char text[32];
  std::snprintf(text, sizeof text, "INV-%06lld", static_cast<long long>(number->Int64(0, 0)));
  Invoice invoice = draft;
  invoice.id = NewId("inv");
  invoice.number = text;
  invoice.status = InvoiceStatus::kFinalized;
  invoice.created_at = now;
  PgParams params;
  params.Add(invoice.id).Add(invoice.number).Add(invoice.external_id).Add(invoice.period).Add(invoice.period_start)
      .Add(invoice.period_end).Add(invoice.currency)
      .Add(InvoiceLinesToJson(invoice.lines).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .Add(invoice.total_minor).Add(now);
  if (auto ran = connection.Run(kInsertInvoice, params); !ran) {
    return Fail(During("inserting invoice " + invoice.number, std::move(ran.error())));
  }
  return invoice;
}

}  // namespace

Result<std::optional<UnixMillis>> PostgresStore::BillingAnchor(const std::string& external_id) {
  const std::string what = "reading the billing cycle of " + external_id;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  auto rows = (*lease)->Query(kSelectBillingAnchor, PgParams().Add(external_id));
  if (!rows) return Fail(During(what, std::move(rows.error())));
  if (rows->Rows() == 0) return std::optional<UnixMillis>();
  return std::optional<UnixMillis>(rows->Int64(0, 0));
}

Result<std::vector<TierChange>> PostgresStore::TierHistory(const std::string& external_id) {
  const std::string what = "reading the tier history of " + external_id;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  auto rows = (*lease)->Query(kSelectTierHistory, PgParams().Add(external_id));
  if (!rows) return Fail(During(what, std::move(rows.error())));
  std::vector<TierChange> history;
  for (int row = 0; row < rows->Rows(); ++row) history.push_back({rows->Int64(row, 0), rows->Text(row, 1)});
  return history;
}

Result<std::map<std::string, std::int64_t>> PostgresStore::BillableUsage(const std::string& external_id,
                                                                         UnixMillis from, UnixMillis to) {
  const std::string what = "reading the billable usage of " + external_id;
  std::vector<std::string> granularities;
  std::vector<std::int64_t> froms, tos;
  for (const storage::RollupRange& range : storage::RollupRanges(from, to)) {
    granularities.emplace_back(range.granularity);
    froms.push_back(range.from);
    tos.push_back(range.to);
  }
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgParams params;
  params.Add(external_id).AddTextArray(granularities).AddInt64Array(froms).AddInt64Array(tos);
  auto rows = (*lease)->Query(kBillableUsage, params);
  if (!rows) return Fail(During(what, std::move(rows.error())));
  std::map<std::string, std::int64_t> usage;
  for (int row = 0; row < rows->Rows(); ++row) usage[rows->Text(row, 0)] += rows->Int64(row, 1);
  return usage;
}

Result<std::vector<std::string>> PostgresStore::BillingCandidates(UnixMillis from, UnixMillis to) {
  const std::string what = "listing customers to bill";
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  auto rows = (*lease)->Query(kBillingCandidates, PgParams().Add(from).Add(to));
  if (!rows) return Fail(During(what, std::move(rows.error())));
  std::vector<std::string> ids;
  for (int row = 0; row < rows->Rows(); ++row) ids.push_back(rows->Text(row, 0));
  return ids;
}

Result<std::vector<std::pair<Invoice, bool>>> PostgresStore::FinalizeInvoices(std::span<const Invoice> drafts,
                                                                              UnixMillis now) {
  const std::string what = "finalizing invoices";
  std::vector<std::pair<Invoice, bool>> result;
  if (drafts.empty()) return result;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgConnection& connection = **lease;
  auto transaction = PgTransaction::Begin(connection);
  if (!transaction) return Fail(During(what, std::move(transaction.error())));
  auto locked = connection.Query(kLockInvoiceSequence);
  if (!locked) return Fail(During(what, std::move(locked.error())));
  if (locked->Rows() != 1) return Fail(Error::Internal("postgres: the invoice sequence is missing"));
  for (const Invoice& draft : drafts) {
    auto existing = QueryInvoices(connection, kSelectFinalizedInvoice, PgParams().Add(draft.external_id).Add(draft.period),
                                  "reading invoices");
    if (!existing) return Fail(std::move(existing.error()));
    if (!existing->empty()) {
      result.emplace_back(std::move(existing->front()), false);
      continue;
    }
    auto invoice = InsertFinalizedInvoice(connection, draft, now);
    if (!invoice) return Fail(std::move(invoice.error()));
    if (auto written = WriteEvent(connection, storage::InvoiceFinalizedEvent(*invoice, now)); !written) {
      return Fail(std::move(written.error()));
    }
    result.emplace_back(std::move(*invoice), true);
  }
  if (auto committed = transaction->Commit(); !committed) return Fail(During(what, std::move(committed.error())));
  return result;
}

Result<std::vector<Invoice>> PostgresStore::ListInvoices(const InvoiceFilter& filter) {
  const std::string what = "listing invoices";
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgParams params;
  params.Add(filter.external_id).Add(filter.period)
      .Add(filter.status ? InvoiceStatusName(*filter.status) : std::string_view(""));
  return QueryInvoices(**lease, kListInvoices, params, what);
}

Result<std::optional<Invoice>> PostgresStore::GetInvoice(const std::string& invoice_id) {
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During("reading invoice " + invoice_id, std::move(lease.error())));
  auto invoices = QueryInvoices(**lease, kSelectInvoice, PgParams().Add(invoice_id), "reading invoice " + invoice_id);
  if (!invoices) return Fail(std::move(invoices.error()));
  if (invoices->empty()) return std::optional<Invoice>();
  return std::optional<Invoice>(std::move(invoices->front()));
}

Result<Invoice> PostgresStore::VoidInvoice(const std::string& invoice_id, const std::string& reason, UnixMillis now) {
  const std::string what = "voiding invoice " + invoice_id;
  auto lease = pool_.Acquire();
  if (!lease) return Fail(During(what, std::move(lease.error())));
  PgConnection& connection = **lease;
  auto voided = QueryInvoices(connection, kVoidInvoice, PgParams().Add(invoice_id).Add(now).Add(reason), what);
  if (!voided) return Fail(std::move(voided.error()));
  if (!voided->empty()) return std::move(voided->front());
  // Nothing changed: the invoice is missing, or void already (void is final).
  auto found = connection.Query(kSelectInvoiceNumber, PgParams().Add(invoice_id));
  if (!found) return Fail(During(what, std::move(found.error())));
  if (found->Rows() == 0) return Fail(Error::NotFound("no invoice with id '" + invoice_id + "'"));
  return Fail(Error::Conflict("invoice " + found->Text(0, 0) + " is already void"));
}

}  // namespace tollgate
