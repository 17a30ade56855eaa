// Invoices: what billing produces. An invoice is a finished document: once finalized its lines
// and totals never change; a mistake is corrected by voiding it and issuing a new one, and usage
// that arrives after a period was closed is billed as an adjustment line on a later invoice.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "billing/pricing.h"
#include "common/clock.h"

namespace tollgate {

enum class InvoiceLineKind { kBaseFee, kIncluded, kOverage, kAdjustment };

struct InvoiceLine {
  InvoiceLineKind kind = InvoiceLineKind::kBaseFee;
  std::string description;   // for people: "pro plan, 1-14 Nov 2026 (14 of 30 days)"
  std::string tier;          // the tier in force for this line ("" for adjustments)
  std::string meter;         // "" for base fees
  std::int64_t quantity = 0;                // units (base fee: 1)
  std::optional<std::int64_t> unit_price_micros;  // per package; nullopt when slices differ
  std::int64_t package_size = 1;
  std::vector<SliceCharge> slices;          // overage lines: how the amount was made
  std::int64_t amount_minor = 0;
  UnixMillis from = 0;                      // the part of the period the line covers
  UnixMillis to = 0;
  std::string adjusts_period;               // adjustments: the closed period they correct
};

enum class InvoiceStatus { kDraft, kFinalized, kVoid };

struct Invoice {
  std::string id;      // "inv_…"; "" for a preview
  std::string number;  // "INV-000001", sequential over all invoices; "" for a preview
  std::string external_id;
  std::string period;  // "2026-11"
  UnixMillis period_start = 0;
  UnixMillis period_end = 0;
  std::string currency;
  std::vector<InvoiceLine> lines;
  std::int64_t total_minor = 0;
  InvoiceStatus status = InvoiceStatus::kDraft;
  UnixMillis created_at = 0;
  UnixMillis voided_at = 0;
  std::string void_reason;
};

// A change of an identity's tier, as recorded when it happened.
struct TierChange {
  UnixMillis effective_at = 0;
  std::string tier;  // "" = no tier from then on
};

std::string_view InvoiceLineKindName(InvoiceLineKind kind);  // "base_fee" | "included" | "overage" | "adjustment"
std::string_view InvoiceStatusName(InvoiceStatus status);    // "draft" | "finalized" | "void"

}  // namespace tollgate
