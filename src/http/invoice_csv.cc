#include "http/invoice_csv.h"

#include "billing/money_format.h"
#include "http/usage_export.h"

namespace tollgate {
namespace {

constexpr std::string_view kHeader =
    "number,invoiceId,externalId,period,status,currency,lineKind,description,tier,meter,quantity,"
    "unitPriceMicros,packageSize,amount,amountFormatted,total,totalFormatted\r\n";

void AppendFields(std::initializer_list<std::string_view> fields, std::string& out) {
  bool first = true;
  for (std::string_view field : fields) {
    if (!first) out += ',';
    first = false;
    AppendCsvField(field, out);
  }
}

void AppendRow(const Invoice& invoice, const InvoiceLine* line, std::string& out) {
  AppendFields({invoice.number, invoice.id, invoice.external_id, invoice.period, InvoiceStatusName(invoice.status),
                invoice.currency},
               out);
  out += ',';
  if (line) {
    const std::string unit_price = line->unit_price_micros ? std::to_string(*line->unit_price_micros) : "";
    AppendFields({InvoiceLineKindName(line->kind), line->description, line->tier, line->meter,
                  std::to_string(line->quantity), unit_price, std::to_string(line->package_size),
                  std::to_string(line->amount_minor),
                  FormatMinorUnits(line->amount_minor, invoice.currency, DigitGrouping::kNone)},
                 out);
  } else {
    out += ",,,,,,,,";  // the nine line columns, empty
  }
  out += ',';
  AppendFields({std::to_string(invoice.total_minor),
                FormatMinorUnits(invoice.total_minor, invoice.currency, DigitGrouping::kNone)},
               out);
  out += "\r\n";
}

}  // namespace

std::string InvoicesToCsv(const std::vector<Invoice>& invoices) {
  std::string out(kHeader);
  for (const Invoice& invoice : invoices) {
    if (invoice.lines.empty()) AppendRow(invoice, nullptr, out);
    for (const InvoiceLine& line : invoice.lines) AppendRow(invoice, &line, out);
  }
  return out;
}

}  // namespace tollgate
