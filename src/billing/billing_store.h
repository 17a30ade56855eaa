// What billing reads and writes. Implemented by every Store.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "billing/model.h"
#include "common/result.h"

namespace tollgate {

struct InvoiceFilter {
  std::string external_id;  // "" = any
  std::string period;       // "" = any
  std::optional<InvoiceStatus> status;
};

class BillingStore {
 public:
  virtual ~BillingStore() = default;

  // Where the customer's billing months start: its identity's created_at when it bills on
  // anniversary months, nullopt for calendar months (also for customers without an identity).
  virtual Result<std::optional<UnixMillis>> BillingAnchor(const std::string& external_id) = 0;

  // The identity's tier changes, oldest first (recorded by the identity store's writes).
  virtual Result<std::vector<TierChange>> TierHistory(const std::string& external_id) = 0;

  // Units used by one customer per meter over [from, to) (minute boundaries): "requests" is its
  // VALID verifications plus any ingested "requests"; every other meter is ingested usage.
  virtual Result<std::map<std::string, std::int64_t>> BillableUsage(const std::string& external_id, UnixMillis from,
                                                                     UnixMillis to) = 0;

  // Every external id that used anything in [from, to) or had a tier at some point before `to`.
  virtual Result<std::vector<std::string>> BillingCandidates(UnixMillis from, UnixMillis to) = 0;

  // Stores the drafts as finalized invoices in one transaction, numbering them in order, except
  // for customers that already have a finalized invoice for the period: returns, in the drafts'
  // order, the invoice each customer now has (new or existing) and whether it is new.
  virtual Result<std::vector<std::pair<Invoice, bool>>> FinalizeInvoices(std::span<const Invoice> drafts,
                                                                         UnixMillis now) = 0;

  virtual Result<std::vector<Invoice>> ListInvoices(const InvoiceFilter& filter) = 0;
  virtual Result<std::optional<Invoice>> GetInvoice(const std::string& invoice_id) = 0;
  // Finalized -> void; NotFound, or Conflict when already void.
  virtual Result<Invoice> VoidInvoice(const std::string& invoice_id, const std::string& reason, UnixMillis now) = 0;
};

}  // namespace tollgate
