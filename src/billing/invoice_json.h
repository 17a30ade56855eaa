// Invoices as JSON: the API's shape (billing.* routes, the JSON export), which the store also
// keeps an invoice's lines in.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "billing/model.h"

namespace tollgate {

nlohmann::json InvoiceLinesToJson(const std::vector<InvoiceLine>& lines);
// For JSON tollgate wrote itself: nullopt when anything is off.
std::optional<std::vector<InvoiceLine>> InvoiceLinesFromJson(const nlohmann::json& json);

// The whole invoice: {invoiceId, number, externalId, period, periodStart, periodEnd, currency,
// status, lines, total, createdAt, voidedAt?, voidReason?}.
nlohmann::json InvoiceToJson(const Invoice& invoice);

}  // namespace tollgate
