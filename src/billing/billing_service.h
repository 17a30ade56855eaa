// Billing: turns usage into invoices (issue 5). Periods are calendar months in UTC, or for an
// identity with billingCycle "anniversary", months from the instant it was created (created on
// 31 Jan 10:00 -> 28 Feb 10:00 -> 31 Mar 10:00 ...). A period is named "YYYY-MM" after the month
// it starts in. An invoice for one customer (external id) and period is computed from:
//  * the customer's tier timeline: the tier in force at each instant of the period, from the
//    identity's recorded tier changes. Each stretch is a segment;
//  * per segment, the tier's base fee prorated by time (to the millisecond), and per meter the
//    usage of the segment (to the minute: a change at 10:30:20 bills the usage of minute 10:30
//    under the new tier) against the tier's included units, prorated by time like the fee, and
//    priced past them by the tier's overage model when its policy is `allow`. Past the included
//    units, `block` and `throttle` tiers bill nothing (the overage was refused or slowed instead);
//  * adjustment lines for usage that reached one of the two previous periods after it was closed:
//    the difference between what that period's usage costs now and what was billed for it. A
//    re-issued (voided) period takes back the adjustments already billed for it elsewhere, since
//    its own lines now include that usage.
// Prices are the tiers' current prices. Money follows billing/pricing.h: integers, one rounding
// per line, half up.
#pragma once

#include <string>
#include <vector>

#include "billing/billing_store.h"
#include "common/result.h"
#include "events/event_bus.h"
#include "tiers/tier_service.h"

namespace tollgate {

struct ClosePeriodResult {
  std::vector<Invoice> invoices;  // every finalized invoice of the period, new or not
  std::size_t created = 0;        // how many this call finalized
  std::size_t pending = 0;        // anniversary periods that start in the month but have not ended
};

// A billing month: [start, end) in unix ms.
struct BillingPeriod {
  std::string name;  // "2026-11": the month it starts in
  UnixMillis start = 0;
  UnixMillis end = 0;
  std::optional<UnixMillis> anchor;  // anniversary months: the instant they count from
};
// "YYYY-MM" -> the calendar month, or InvalidInput naming body.period.
Result<BillingPeriod> ParseBillingPeriod(std::string_view name);
// The period that starts in year/month: calendar, or anchored.
BillingPeriod PeriodStartingIn(int year, unsigned month, std::optional<UnixMillis> anchor);
// The period that holds t.
BillingPeriod BillingPeriodOf(UnixMillis t, std::optional<UnixMillis> anchor = std::nullopt);

class BillingService {
 public:
  BillingService(BillingStore& store, const TierService& tiers, Clock& clock)
      : store_(store), tiers_(tiers), clock_(clock) {}

  // The live draft of the open period: what the invoice would say if the period ended now.
  Result<Invoice> PreviewInvoice(const std::string& external_id);

  // Finalizes one invoice per customer with activity or a base fee in a period that has ended.
  // Idempotent: customers already invoiced keep their invoice; a voided one is issued anew.
  // The store writes invoice.finalized into the outbox with each new invoice.
  Result<ClosePeriodResult> ClosePeriod(const std::string& period);

  Result<std::vector<Invoice>> ListInvoices(const InvoiceFilter& filter) { return store_.ListInvoices(filter); }
  Result<Invoice> GetInvoice(const std::string& invoice_id);
  Result<Invoice> VoidInvoice(const std::string& invoice_id, const std::string& reason);

 private:
  // The invoice of `external_id` for `period` as of now, adjustments included.
  Result<Invoice> Draft(const std::string& external_id, const BillingPeriod& period);
  // The base fee and usage lines of a period (no adjustments).
  Status AddPeriodLines(const std::string& external_id, const BillingPeriod& period, Invoice& invoice);
  // Adjustment lines for late usage of the two periods before `period`.
  Status AddAdjustments(const std::string& external_id, const BillingPeriod& period, Invoice& invoice);

  BillingStore& store_;
  const TierService& tiers_;
  Clock& clock_;
};

}  // namespace tollgate
