#include "billing/invoice_html.h"

#include <cstdio>

#include "billing/money_format.h"
#include "common/calendar.h"

namespace tollgate {
namespace {

// Screen and print. The page is a document, not an app: system fonts, tabular figures, one
// accent colour for a void invoice, which also gets a watermark so that no printout of it can be
// mistaken for a bill.
constexpr std::string_view kStyle = R"css(
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif;
       color: #111; background: #fff; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem;
         border-bottom: 2px solid #111; padding-bottom: .5rem; }
h1 { font-size: 1.6rem; margin: 0; }
.status { margin: 0; font-weight: 600; text-transform: uppercase; letter-spacing: .08em; }
.void-banner { margin: 1rem 0; padding: .75rem 1rem; border: 3px solid #b00020; color: #b00020;
               font-size: 1.15rem; }
.void-banner strong { font-size: 1.4rem; letter-spacing: .12em; margin-right: .5rem; }
.is-void .status { color: #b00020; }
.is-void tfoot .num { text-decoration: line-through; }
.is-void main::before { content: "VOID"; position: fixed; top: 40%; left: 0; right: 0; text-align: center;
                        font-size: 9rem; font-weight: 800; color: rgba(176, 0, 32, .12);
                        transform: rotate(-25deg); pointer-events: none; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.5rem; margin: 1rem 0 1.5rem; }
dt { color: #555; }
dd { margin: 0; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid #ddd; }
thead th { border-bottom: 2px solid #111; font-weight: 600; }
td { overflow-wrap: anywhere; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tfoot th, tfoot td { border-top: 2px solid #111; border-bottom: 0; font-weight: 700; font-size: 1.1rem; }
@page { size: A4; margin: 18mm 15mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10.5pt; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  .void-banner, .is-void main::before { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
)css";

void Append(std::string& out, std::string_view text) { out += EscapeHtml(text); }

// "2026-11-02" (UTC).
std::string DateText(UnixMillis t) {
  const CivilDate date = ToCivil(t);
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", date.year, date.month, date.day);
  return text;
}

// A price per unit, or per package: "0.000004", "0.50 per 1,000".
std::string PriceText(std::int64_t price_micros, std::int64_t package_size, std::string_view currency) {
  std::string text = FormatMicroUnits(price_micros, currency);
  if (package_size > 1) text += " per " + GroupThousands(package_size);
  return text;
}

// One price, or (graduated lines whose slices differ) how many units went at each: "1,000,000 at
// 0.50 per 1,000<br>500,000 at 0.30 per 1,000". Escaped already; it holds only digits and words.
std::string UnitPriceCell(const InvoiceLine& line, std::string_view currency) {
  if (line.unit_price_micros) return PriceText(*line.unit_price_micros, line.package_size, currency);
  std::string cell;
  for (const SliceCharge& slice : line.slices) {
    if (!cell.empty()) cell += "<br>";
    cell += GroupThousands(slice.quantity) + " at " + PriceText(slice.price_micros, line.package_size, currency);
  }
  return cell;
}

void AppendFact(std::string& out, std::string_view name, std::string_view value) {
  out += "<dt>";
  Append(out, name);
  out += "</dt><dd>";
  Append(out, value);
  out += "</dd>\n";
}

void AppendHead(std::string& out, const Invoice& invoice) {
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Invoice ";
  Append(out, invoice.number.empty() ? "draft" : invoice.number);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n";
}

void AppendSummary(std::string& out, const Invoice& invoice) {
  out += "<header>\n<h1>Invoice <span class=\"number\">";
  Append(out, invoice.number.empty() ? "(draft)" : invoice.number);
  out += "</span></h1>\n<p class=\"status\">";
  Append(out, InvoiceStatusName(invoice.status));  // upper case by the style
  out += "</p>\n</header>\n";
  if (invoice.status == InvoiceStatus::kVoid) {
    out += "<div class=\"void-banner\" role=\"alert\"><strong>VOID</strong> This invoice was voided on ";
    Append(out, DateText(invoice.voided_at));
    out += " and is not to be paid. Reason: ";
    Append(out, invoice.void_reason);
    out += "</div>\n";
  }
  out += "<dl>\n";
  AppendFact(out, "Customer", invoice.external_id);
  AppendFact(out, "Period", invoice.period + " (" + DateText(invoice.period_start) + " to " +
                                DateText(invoice.period_end - 1) + ", UTC)");
  AppendFact(out, "Currency", invoice.currency);
  if (invoice.status != InvoiceStatus::kDraft) AppendFact(out, "Issued", DateText(invoice.created_at));
  if (!invoice.id.empty()) AppendFact(out, "Invoice ID", invoice.id);
  out += "</dl>\n";
}

void AppendLines(std::string& out, const Invoice& invoice) {
  out += "<table>\n<thead><tr><th>Description</th><th>Meter</th><th class=\"num\">Quantity</th>"
         "<th class=\"num\">Unit price</th><th class=\"num\">Amount</th></tr></thead>\n<tbody>\n";
  for (const InvoiceLine& line : invoice.lines) {
    out += "<tr><td>";
    Append(out, line.description);
    out += "</td><td>";
    Append(out, line.meter);
    out += "</td><td class=\"num\">";
    out += GroupThousands(line.quantity);
    out += "</td><td class=\"num\">";
    out += UnitPriceCell(line, invoice.currency);
    out += "</td><td class=\"num\">";
    out += FormatMinorUnits(line.amount_minor, invoice.currency);
    out += "</td></tr>\n";
  }
  out += "</tbody>\n<tfoot><tr><th colspan=\"4\">Total (";
  Append(out, invoice.currency);
  out += ")</th><td class=\"num total\">";
  out += FormatMinorUnits(invoice.total_minor, invoice.currency);
  out += "</td></tr></tfoot>\n</table>\n";
}

}  // namespace

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string RenderInvoiceHtml(const Invoice& invoice) {
  std::string out;
  AppendHead(out, invoice);
  out += invoice.status == InvoiceStatus::kVoid ? "<body class=\"is-void\">\n<main>\n" : "<body>\n<main>\n";
  AppendSummary(out, invoice);
  AppendLines(out, invoice);
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace tollgate
