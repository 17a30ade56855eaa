#include "http/usage_filter.h"

namespace tollgate {

UsageFilter ReadUsageFilter(FieldReader& body) {
  UsageFilter filter;
  filter.from = body.RequiredInt("start", 0);
  filter.to = body.RequiredInt("end", 0);
  filter.key_id = body.OptionalString("keyId", 1, 255).value_or("");
  filter.external_id = body.OptionalString("externalId", 1, 255).value_or("");
  filter.api_id = body.OptionalString("apiId", 1, 255).value_or("");
  if (body.ok() && filter.to <= filter.from) {
    body.AddError(body.At("end"), "must be after start", "Send end > start (unix milliseconds, end exclusive).");
  } else if (body.ok() && filter.to - filter.from > kMaxUsageRangeMs) {
    body.AddError(body.At("end"), "is more than 400 days after start", "Query at most 400 days at a time.");
  }
  return filter;
}

}  // namespace tollgate
