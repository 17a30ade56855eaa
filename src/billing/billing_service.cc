#include "billing/billing_service.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "common/calendar.h"
#include "common/thousands.h"
#include "common/ids.h"

namespace tollgate {
namespace {

constexpr UnixMillis kMinute = 60'000;

UnixMillis FloorToMinute(UnixMillis t) { return t / kMinute * kMinute; }

std::string PeriodName(int year, unsigned month) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u", year, month);
  return buffer;
}

// The first instant of the period starting in year/month: the 1st at midnight, or the anchor's day
// (clamped to the month's last day) at the anchor's time of day.
UnixMillis AnchoredStart(int year, unsigned month, std::optional<UnixMillis> anchor) {
  if (!anchor) return FromCivil({year, month, 1});
  const unsigned day = std::min(ToCivil(*anchor).day, DaysInMonth(year, month));
  return FromCivil({year, month, day}) + (*anchor - StartOfDay(*anchor));
}

BillingPeriod PreviousPeriod(const BillingPeriod& period) { return BillingPeriodOf(period.start - 1, period.anchor); }

// One stretch of the period under one tier ("" = none).
struct Segment {
  UnixMillis from = 0;
  UnixMillis to = 0;
  std::string tier;
};

std::vector<Segment> Timeline(const std::vector<TierChange>& history, const BillingPeriod& period) {
  std::vector<Segment> segments;
  std::string tier;  // in force at period.start: the last change at or before it
  for (const TierChange& change : history) {
    if (change.effective_at <= period.start) tier = change.tier;
  }
  UnixMillis from = period.start;
  for (const TierChange& change : history) {
    if (change.effective_at <= period.start || change.effective_at >= period.end) continue;
    if (change.tier == tier) continue;
    segments.push_back({from, change.effective_at, tier});
    from = change.effective_at;
    tier = change.tier;
  }
  segments.push_back({from, period.end, tier});
  return segments;
}

// The tier's pricing of every meter it prices, "requests" included: from pricing.meters, or the
// one-slice shorthand of overage_unit_price_micros; included_quota is its included quantity
// (nullopt: unlimited, so never any overage).
struct PricedMeter {
  MeterPricing pricing;
  bool unlimited = false;
};
std::vector<PricedMeter> PricedMeters(const Tier& tier) {
  std::vector<PricedMeter> meters;
  bool has_requests = false;
  for (const MeterPricing& meter : tier.pricing.meters) {
    PricedMeter priced{meter, false};
    if (meter.meter == "requests") {
      has_requests = true;
      priced.pricing.included = tier.included_quota.value_or(0);
      priced.unlimited = !tier.included_quota;
    }
    meters.push_back(std::move(priced));
  }
  if (!has_requests) {
    PricedMeter requests{MeterPricing{.meter = "requests", .included = tier.included_quota.value_or(0)},
                         !tier.included_quota};
    if (tier.pricing.overage_unit_price_micros > 0) {
      requests.pricing.slices = {{std::nullopt, tier.pricing.overage_unit_price_micros}};
    }
    meters.push_back(std::move(requests));
  }
  return meters;
}

std::string SegmentText(const Segment& segment, const BillingPeriod& period) {
  if (segment.from == period.start && segment.to == period.end) return period.name;
  const CivilDate from = ToCivil(segment.from);
  const CivilDate to = ToCivil(segment.to - 1);
  return period.name + " days " + std::to_string(from.day) + "-" + std::to_string(to.day) + " (prorated)";
}

std::int64_t UsageAmount(const Invoice& invoice) {
  std::int64_t amount = 0;
  for (const InvoiceLine& line : invoice.lines) {
    if (line.kind == InvoiceLineKind::kIncluded || line.kind == InvoiceLineKind::kOverage) amount += line.amount_minor;
  }
  return amount;
}

}  // namespace

Result<BillingPeriod> ParseBillingPeriod(std::string_view name) {
  int year = 0;
  unsigned month = 0;
  const bool shaped = name.size() == 7 && name[4] == '-' &&
                      std::from_chars(name.data(), name.data() + 4, year).ptr == name.data() + 4 &&
                      std::from_chars(name.data() + 5, name.data() + 7, month).ptr == name.data() + 7;
  if (!shaped || year < 1970 || year > 9998 || month < 1 || month > 12) {
    return Fail(Error::InvalidInput("period must be a month as YYYY-MM, e.g. \"2026-11\"",
                                    {{"body.period", "must be a month as YYYY-MM", "e.g. \"2026-11\""}}));
  }
  return PeriodStartingIn(year, month, std::nullopt);
}

BillingPeriod PeriodStartingIn(int year, unsigned month, std::optional<UnixMillis> anchor) {
  const int next_year = month == 12 ? year + 1 : year;
  const unsigned next_month = month == 12 ? 1 : month + 1;
  return {PeriodName(year, month), AnchoredStart(year, month, anchor), AnchoredStart(next_year, next_month, anchor), anchor};
}

BillingPeriod BillingPeriodOf(UnixMillis t, std::optional<UnixMillis> anchor) {
  const CivilDate date = ToCivil(t);
  BillingPeriod period = PeriodStartingIn(date.year, date.month, anchor);
  if (period.start > t) period = PeriodStartingIn(date.month == 1 ? date.year - 1 : date.year, date.month == 1 ? 12 : date.month - 1, anchor);
  return period;
}

Status BillingService::AddPeriodLines(const std::string& external_id, const BillingPeriod& period, Invoice& invoice) {
  auto history = store_.TierHistory(external_id);
  if (!history) return Fail(history.error());
  const std::int64_t period_ms = period.end - period.start;
  for (const Segment& segment : Timeline(*history, period)) {
    if (segment.tier.empty()) continue;  // no tier, no prices
    auto tier = tiers_.GetTier(segment.tier);
    if (!tier) return Fail(Error::Internal("tier '" + segment.tier + "' of " + external_id + " is gone: " + tier.error().detail));
    if (invoice.currency.empty()) invoice.currency = tier->pricing.currency;
    if (tier->pricing.currency != invoice.currency) {
      return Fail(Error::Conflict(external_id + " changed between tiers priced in " + invoice.currency + " and " +
                                  tier->pricing.currency + " within " + period.name + "; one invoice has one currency"));
    }
    const std::int64_t segment_ms = segment.to - segment.from;
    const std::string when = SegmentText(segment, period);
    if (tier->pricing.base_fee_minor > 0) {
      invoice.lines.push_back({.kind = InvoiceLineKind::kBaseFee,
                               .description = tier->name + " plan, " + when,
                               .tier = tier->name,
                               .quantity = 1,
                               .unit_price_micros = tier->pricing.base_fee_minor * kMicrosPerMinor,
                               .amount_minor = Prorate(tier->pricing.base_fee_minor, segment_ms, period_ms),
                               .from = segment.from,
                               .to = segment.to});
    }
    // Usage is kept per minute: the minute in which the tier changed goes to the new tier.
    const UnixMillis usage_from = FloorToMinute(segment.from);
    const UnixMillis usage_to = segment.to == period.end ? segment.to : FloorToMinute(segment.to);
    auto usage = store_.BillableUsage(external_id, usage_from, usage_to);
    if (!usage) return Fail(usage.error());
    const std::vector<PricedMeter> priced = PricedMeters(*tier);
    std::set<std::string> meters;
    for (const auto& [meter, _] : *usage) meters.insert(meter);
    for (const PricedMeter& meter : priced) meters.insert(meter.pricing.meter);
    for (const std::string& meter : meters) {
      const std::int64_t used = usage->count(meter) ? usage->at(meter) : 0;
      auto found = std::find_if(priced.begin(), priced.end(), [&](const PricedMeter& p) { return p.pricing.meter == meter; });
      if (found == priced.end() || found->unlimited) {
        if (used > 0) {
          invoice.lines.push_back({.kind = InvoiceLineKind::kIncluded,
                                   .description = meter + ", " + when + (found == priced.end() ? " (not priced in " : " (unlimited in ") + tier->name + ")",
                                   .tier = tier->name, .meter = meter, .quantity = used, .amount_minor = 0,
                                   .from = segment.from, .to = segment.to});
        }
        continue;
      }
      MeterPricing pricing = found->pricing;
      pricing.included = Prorate(pricing.included, segment_ms, period_ms);
      const std::int64_t included_used = std::min(used, pricing.included);
      if (used > 0 || pricing.included > 0) {
        invoice.lines.push_back({.kind = InvoiceLineKind::kIncluded,
                                 .description = meter + " included, " + when + ": " + GroupThousands(included_used) + " of " +
                                                GroupThousands(pricing.included),
                                 .tier = tier->name, .meter = meter, .quantity = included_used,
                                 .unit_price_micros = 0, .amount_minor = 0, .from = segment.from, .to = segment.to});
      }
      if (used <= pricing.included) continue;
      InvoiceLine line{.kind = InvoiceLineKind::kOverage, .tier = tier->name, .meter = meter,
                       .quantity = used - pricing.included, .package_size = pricing.package_size,
                       .from = segment.from, .to = segment.to};
      if (tier->overage_policy != OveragePolicy::kAllow || pricing.slices.empty()) {
        line.description = meter + " past the included units, " + when + ": not billed (" +
                           (pricing.slices.empty() ? std::string("no overage price") : "overage policy " + std::string(OveragePolicyName(tier->overage_policy))) + ")";
        line.unit_price_micros = 0;
      } else {
        auto charge = PriceOverage(pricing, used);
        if (!charge) return Fail(charge.error());
        line.description = meter + " overage, " + when;
        line.slices = charge->slices;
        if (line.slices.size() == 1) line.unit_price_micros = line.slices[0].price_micros;
        line.amount_minor = charge->amount_minor;
      }
      invoice.lines.push_back(std::move(line));
    }
  }
  return {};
}

Status BillingService::AddAdjustments(const std::string& external_id, const BillingPeriod& period, Invoice& invoice) {
  auto invoices = store_.ListInvoices({.external_id = external_id, .period = "", .status = InvoiceStatus::kFinalized});
  if (!invoices) return Fail(invoices.error());
  // Re-issuing a voided month: its usage lines are priced as of now, late usage included, so any
  // adjustment already billed for it on a later invoice is taken back here.
  std::int64_t already_adjusted = 0;
  for (const Invoice& other : *invoices) {
    for (const InvoiceLine& line : other.lines) {
      if (line.kind == InvoiceLineKind::kAdjustment && line.adjusts_period == period.name) already_adjusted += line.amount_minor;
    }
  }
  if (already_adjusted != 0) {
    invoice.lines.push_back({.kind = InvoiceLineKind::kAdjustment,
                             .description = "late usage of " + period.name + " already billed as an adjustment",
                             .quantity = 1, .amount_minor = -already_adjusted, .from = period.start, .to = period.end,
                             .adjusts_period = period.name});
  }
  BillingPeriod earlier = period;
  for (int back = 0; back < 2; ++back) {
    earlier = PreviousPeriod(earlier);
    auto closed = std::find_if(invoices->begin(), invoices->end(), [&](const Invoice& i) { return i.period == earlier.name; });
    if (closed == invoices->end()) continue;  // not closed: nothing to adjust
    Invoice now;
    if (auto lines = AddPeriodLines(external_id, earlier, now); !lines) return lines;
    std::int64_t billed = UsageAmount(*closed);
    for (const Invoice& other : *invoices) {
      if (other.period == period.name) continue;  // the invoice being drafted is recomputed here
      for (const InvoiceLine& line : other.lines) {
        if (line.kind == InvoiceLineKind::kAdjustment && line.adjusts_period == earlier.name) billed += line.amount_minor;
      }
    }
    const std::int64_t delta = UsageAmount(now) - billed;
    if (delta == 0) continue;
    invoice.lines.push_back({.kind = InvoiceLineKind::kAdjustment,
                             .description = "usage of " + earlier.name + " received after " + closed->number + " was issued",
                             .quantity = 1, .amount_minor = delta, .from = earlier.start, .to = earlier.end,
                             .adjusts_period = earlier.name});
  }
  return {};
}

Result<Invoice> BillingService::Draft(const std::string& external_id, const BillingPeriod& period) {
  Invoice invoice;
  invoice.external_id = external_id;
  invoice.period = period.name;
  invoice.period_start = period.start;
  invoice.period_end = period.end;
  invoice.created_at = clock_.NowMillis();
  if (auto lines = AddPeriodLines(external_id, period, invoice); !lines) return Fail(lines.error());
  if (auto adjusted = AddAdjustments(external_id, period, invoice); !adjusted) return Fail(adjusted.error());
  if (invoice.currency.empty()) invoice.currency = "USD";
  for (const InvoiceLine& line : invoice.lines) invoice.total_minor += line.amount_minor;
  return invoice;
}

Result<Invoice> BillingService::PreviewInvoice(const std::string& external_id) {
  auto anchor = store_.BillingAnchor(external_id);
  if (!anchor) return Fail(anchor.error());
  return Draft(external_id, BillingPeriodOf(clock_.NowMillis(), *anchor));
}

Result<ClosePeriodResult> BillingService::ClosePeriod(const std::string& period_name) {
  auto period = ParseBillingPeriod(period_name);
  if (!period) return Fail(period.error());
  const UnixMillis now = clock_.NowMillis();
  if (now < period->end) {
    return Fail(Error::InvalidInput("period " + period->name + " has not ended yet",
                                    {{"body.period", "has not ended yet", "Close a month after its last day (UTC)."}}));
  }
  // Anniversary periods starting in the month end in the next one: look at both for customers.
  const CivilDate month = ToCivil(period->start);
  auto candidates = store_.BillingCandidates(period->start, BillingPeriodOf(period->end).end);
  if (!candidates) return Fail(candidates.error());
  ClosePeriodResult result;
  std::vector<Invoice> drafts;
  for (const std::string& external_id : *candidates) {
    auto anchor = store_.BillingAnchor(external_id);
    if (!anchor) return Fail(anchor.error());
    const BillingPeriod own = PeriodStartingIn(month.year, month.month, *anchor);
    if (now < own.end) {
      ++result.pending;  // an anniversary month still running: a later close finalizes it
      continue;
    }
    auto draft = Draft(external_id, own);
    if (!draft) return Fail(draft.error());
    if (!draft->lines.empty()) drafts.push_back(std::move(*draft));
  }
  auto stored = store_.FinalizeInvoices(drafts, now);
  if (!stored) return Fail(stored.error());
  for (auto& [invoice, created] : *stored) {
    if (created) {
      ++result.created;
    }
    result.invoices.push_back(std::move(invoice));
  }
  return result;
}

Result<Invoice> BillingService::GetInvoice(const std::string& invoice_id) {
  auto invoice = store_.GetInvoice(invoice_id);
  if (!invoice) return Fail(invoice.error());
  if (!*invoice) return Fail(Error::NotFound("no invoice with id '" + invoice_id + "'"));
  return std::move(**invoice);
}

Result<Invoice> BillingService::VoidInvoice(const std::string& invoice_id, const std::string& reason) {
  return store_.VoidInvoice(invoice_id, reason, clock_.NowMillis());
}

std::string_view InvoiceLineKindName(InvoiceLineKind kind) {
  switch (kind) {
    case InvoiceLineKind::kBaseFee: return "base_fee";
    case InvoiceLineKind::kIncluded: return "included";
    case InvoiceLineKind::kOverage: return "overage";
    case InvoiceLineKind::kAdjustment: return "adjustment";
  }
  return "base_fee";
}

std::string_view InvoiceStatusName(InvoiceStatus status) {
  switch (status) {
    case InvoiceStatus::kDraft: return "draft";
    case InvoiceStatus::kFinalized: return "finalized";
    case InvoiceStatus::kVoid: return "void";
  }
  return "draft";
}

}  // namespace tollgate
