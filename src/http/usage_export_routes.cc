// usage.export: the raw usage events of a range [start, end) as CSV or NDJSON (the default),
// streamed (chunked) a page at a time, so neither side holds the whole export. Filters are those
// of the other usage routes plus an optional outcome code. Only raw events exist to export: the
// last --usage-retention-days.
#include <array>
#include <string_view>

#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/routes.h"
#include "http/usage_export.h"
#include "http/usage_filter.h"

namespace tollgate {
namespace {

constexpr const char* kExportScope = "usage.*.read";

// Every code a usage event can carry.
constexpr std::array<VerifyCode, 8> kVerifyCodes = {
    VerifyCode::kValid,        VerifyCode::kNotFound,    VerifyCode::kForbidden, VerifyCode::kInsufficientPermissions,
    VerifyCode::kUsageExceeded, VerifyCode::kRateLimited, VerifyCode::kDisabled,  VerifyCode::kExpired};

bool IsUsageCode(std::string_view code) {
  for (VerifyCode c : kVerifyCodes) {
    if (VerifyCodeName(c) == code) return true;
  }
  return code == kRatelimitPassed || code == kRatelimitDenied;
}

std::string ReadOutcome(FieldReader& body) {
  std::string code = body.OptionalString("outcome", 1, 64).value_or("");
  if (!code.empty() && !IsUsageCode(code)) {
    body.AddError(body.At("outcome"), "is not an outcome code",
                  "Use one of VALID, NOT_FOUND, FORBIDDEN, INSUFFICIENT_PERMISSIONS, USAGE_EXCEEDED, RATE_LIMITED, "
                  "DISABLED, EXPIRED, RATELIMIT_PASSED, RATELIMIT_DENIED, or leave outcome out for all.");
  }
  return code;
}

UsageExportFormat ReadFormat(FieldReader& body) {
  const std::string format = body.OptionalString("format", 1, 16).value_or("ndjson");
  if (format == "csv") return UsageExportFormat::kCsv;
  if (format != "ndjson") {
    body.AddError(body.At("format"), "must be csv or ndjson", "Send \"format\": \"csv\" or \"ndjson\" (the default).");
  }
  return UsageExportFormat::kNdjson;
}

}  // namespace

void AddUsageExportRoutes(Router& router, UsageExportStore& usage) {
  router.AddRpc("/v2/usage.export", [&usage](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    UsageExportFilter filter{ReadUsageFilter(body), ReadOutcome(body)};
    const UsageExportFormat format = ReadFormat(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kExportScope); !s) return Fail(s.error());
    auto first = usage.ExportUsagePage(filter, std::nullopt, kUsageExportPageSize);
    if (!first) return Fail(first.error());

    const bool csv = format == UsageExportFormat::kCsv;
    HttpResponse response;
    response.content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
    response.SetHeader("Content-Disposition", "attachment; filename=\"usage-" + std::to_string(filter.range.from) +
                                                  "-" + std::to_string(filter.range.to) + (csv ? ".csv\"" : ".ndjson\""));
    response.SetHeader("Cache-Control", "no-store");
    response.producer = UsageExportBody(usage, std::move(filter), format, std::move(*first), kUsageExportPageSize,
                                        ctx.request.request_id);
    return response;
  });
}

}  // namespace tollgate
