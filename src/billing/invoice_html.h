// The printable page of one invoice (GET /billing/invoices/<invoiceId>.html): one self-contained
// HTML document with inline CSS and a print stylesheet, no script and no external asset, so it
// prints or saves as PDF from any browser, offline. Every text taken from the invoice is
// HTML-escaped: descriptions, tiers, meters and external ids come from the provider and its
// customers. Money is printed by billing/money_format.h.
#pragma once

#include <string>
#include <string_view>

#include "billing/model.h"

namespace tollgate {

std::string RenderInvoiceHtml(const Invoice& invoice);

// & < > " ' as character references; every other byte as it is.
std::string EscapeHtml(std::string_view text);

}  // namespace tollgate
