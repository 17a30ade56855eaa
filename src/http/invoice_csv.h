// billing.exportInvoices as CSV: one row per invoice line, the invoice's columns repeated on each,
// for spreadsheets and accounting imports. RFC 4180 like usage.export (CRLF rows, the same field
// quoting); amounts both as integer minor units and formatted in the currency's major unit
// without digit grouping ("1234.50"), so a spreadsheet reads them as numbers.
#pragma once

#include <string>
#include <vector>

#include "billing/model.h"

namespace tollgate {

// The header and the rows. Columns: number, invoiceId, externalId, period, status, currency,
// lineKind, description, tier, meter, quantity, unitPriceMicros (per package; empty when a
// line's slices have different prices), packageSize, amount, amountFormatted, total,
// totalFormatted. An invoice without lines still gets one row, its line columns empty.
std::string InvoicesToCsv(const std::vector<Invoice>& invoices);

}  // namespace tollgate
