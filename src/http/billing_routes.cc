// billing.{previewInvoice,closePeriod,listInvoices,getInvoice,voidInvoice,exportInvoices} and the
// printable page GET /billing/invoices/<invoiceId>.html (issue 5; tollgate's own). Reading takes
// billing.*.read, closing and voiding billing.*.write.
#include "billing/invoice_html.h"
#include "billing/invoice_json.h"
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/invoice_csv.h"
#include "http/routes.h"

namespace tollgate {
namespace {

constexpr const char* kReadScope = "billing.*.read";
constexpr const char* kWriteScope = "billing.*.write";

nlohmann::json InvoicesToJson(const std::vector<Invoice>& invoices) {
  nlohmann::json array = nlohmann::json::array();
  for (const Invoice& invoice : invoices) array.push_back(InvoiceToJson(invoice));
  return array;
}

// {externalId?, period?, status?} of listInvoices and exportInvoices.
InvoiceFilter ReadInvoiceFilter(FieldReader& body) {
  InvoiceFilter filter;
  filter.external_id = body.OptionalString("externalId", 1, 255).value_or("");
  filter.period = body.OptionalString("period", 7, 7).value_or("");
  if (!filter.period.empty() && !ParseBillingPeriod(filter.period)) {
    body.AddError(body.At("period"), "must be a month as YYYY-MM", "e.g. \"2026-11\"");
  }
  if (const auto status = body.OptionalString("status")) {
    if (*status == "finalized") filter.status = InvoiceStatus::kFinalized;
    else if (*status == "void") filter.status = InvoiceStatus::kVoid;
    else body.AddError(body.At("status"), "must be \"finalized\" or \"void\"");
  }
  return filter;
}

// "json" or "csv"; "" (and an error) otherwise.
std::string ReadExportFormat(FieldReader& body) {
  std::string format = body.RequiredString("format", 1, 16);
  if (!format.empty() && format != "json" && format != "csv") {
    body.AddError(body.At("format"), "must be \"json\" or \"csv\"", "Send \"format\": \"json\" or \"csv\".");
    format.clear();
  }
  return format;
}

// The invoices of `filter` as a file to save: the JSON array of listInvoices, or CSV
// (http/invoice_csv.h). Invoices are few (one per customer and month), so the body is built whole.
HttpResponse InvoiceExport(const std::vector<Invoice>& invoices, const InvoiceFilter& filter, const std::string& format) {
  HttpResponse response;
  if (format == "csv") {
    response.content_type = "text/csv; charset=utf-8";
    response.body = InvoicesToCsv(invoices);
  } else {
    response.body = DumpJson(InvoicesToJson(invoices));
  }
  // The period was checked to be YYYY-MM, so it needs no quoting in the file name.
  const std::string name = filter.period.empty() ? "invoices" : "invoices-" + filter.period;
  response.SetHeader("Content-Disposition", "attachment; filename=\"" + name + "." + format + "\"");
  response.SetHeader("Cache-Control", "no-store");
  return response;
}

// GET /billing/invoices/<invoiceId>.html: the printable page. The page has no script and loads
// nothing (the policy says so to the browser too), and is not kept in caches.
Result<HttpResponse> InvoicePage(BillingService& billing, const PrefixContext& ctx) {
  constexpr std::string_view kSuffix = ".html";
  const std::string_view rest = ctx.rest;
  if (rest.size() <= kSuffix.size() || !rest.ends_with(kSuffix) || rest.find('/') != std::string_view::npos) {
    return Fail(Error::NotFound("no route for " + ctx.request.method + " " + ctx.request.path +
                                "; an invoice's page is GET /billing/invoices/<invoiceId>.html"));
  }
  if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
  auto invoice = billing.GetInvoice(std::string(rest.substr(0, rest.size() - kSuffix.size())));
  if (!invoice) return Fail(invoice.error());
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.body = RenderInvoiceHtml(*invoice);
  response.SetHeader("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  response.SetHeader("X-Content-Type-Options", "nosniff");
  response.SetHeader("Cache-Control", "no-store");
  return response;
}

}  // namespace

void AddBillingRoutes(Router& router, BillingService& billing) {
  router.AddRpc("/v2/billing.previewInvoice", [&billing](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string external_id = body.RequiredString("externalId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
    auto invoice = billing.PreviewInvoice(external_id);
    if (!invoice) return Fail(invoice.error());
    return OkResponse(ctx.request.request_id, InvoiceToJson(*invoice));
  });

  router.AddRpc("/v2/billing.closePeriod", [&billing](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string period = body.RequiredString("period", 7, 7);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kWriteScope); !s) return Fail(s.error());
    auto closed = billing.ClosePeriod(period);
    if (!closed) return Fail(closed.error());
    return OkResponse(ctx.request.request_id,
                      {{"period", period},
                       {"created", closed->created},
                       {"pending", closed->pending},
                       {"invoices", InvoicesToJson(closed->invoices)}});
  });

  router.AddRpc("/v2/billing.listInvoices", [&billing](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const InvoiceFilter filter = ReadInvoiceFilter(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
    auto invoices = billing.ListInvoices(filter);
    if (!invoices) return Fail(invoices.error());
    return OkResponse(ctx.request.request_id, InvoicesToJson(*invoices));
  });

  router.AddRpc("/v2/billing.exportInvoices", [&billing](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const InvoiceFilter filter = ReadInvoiceFilter(body);
    const std::string format = ReadExportFormat(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
    auto invoices = billing.ListInvoices(filter);
    if (!invoices) return Fail(invoices.error());
    return InvoiceExport(*invoices, filter, format);
  });

  router.AddRpc("/v2/billing.getInvoice", [&billing](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string invoice_id = body.RequiredString("invoiceId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
    auto invoice = billing.GetInvoice(invoice_id);
    if (!invoice) return Fail(invoice.error());
    return OkResponse(ctx.request.request_id, InvoiceToJson(*invoice));
  });

  router.AddRpc("/v2/billing.voidInvoice", [&billing](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string invoice_id = body.RequiredString("invoiceId", 1, 255);
    const std::string reason = body.RequiredString("reason", 1, 1024);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kWriteScope); !s) return Fail(s.error());
    auto invoice = billing.VoidInvoice(invoice_id, reason);
    if (!invoice) return Fail(invoice.error());
    return OkResponse(ctx.request.request_id, InvoiceToJson(*invoice));
  });

  router.AddPrefix("GET", "/billing/invoices/",
                   [&billing](const PrefixContext& ctx) { return InvoicePage(billing, ctx); });
}

}  // namespace tollgate
