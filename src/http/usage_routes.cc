// usage.{summary,timeseries,topKeys,topIdentities}: analytics over recorded usage (issue 4).
// Ranges are half-open [start, end) in unix ms. Answers come from the rollups, so they count
// whole buckets: every minute (timeseries: every bucket) that overlaps the range counts whole. With apiId they come from the raw
// events (kept --usage-retention-days) and are exact to the millisecond; so is groupBy "tag"
// (an event counts once under each of its tags; untagged events are not in that series).
// groupBy "meter" reads the metered usage of usage.ingest instead: count and quantity per meter.
#include <array>
#include <string_view>

#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/routes.h"
#include "http/usage_filter.h"

namespace tollgate {
namespace {

constexpr const char* kSummaryScope = "usage.*.read";
constexpr const char* kTimeseriesScope = "usage.*.read";
constexpr const char* kTopScope = "usage.*.read";

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kMaxBuckets = 10'000;

struct GranularityInfo {
  std::string_view name;
  UsageGranularity value;
  std::int64_t bucket_ms;  // for months, the shortest month
};
constexpr std::array<GranularityInfo, 4> kGranularities = {{
    {"minute", UsageGranularity::kMinute, 60'000},
    {"hour", UsageGranularity::kHour, 3'600'000},
    {"day", UsageGranularity::kDay, kDayMs},
    {"month", UsageGranularity::kMonth, 28 * kDayMs},
}};

nlohmann::json TopToJson(const std::vector<UsageTopEntry>& entries, const char* id_field) {
  nlohmann::json data = nlohmann::json::array();
  for (const UsageTopEntry& entry : entries) {
    data.push_back({{id_field, entry.id}, {"count", entry.count}, {"valid", entry.valid}, {"credits", entry.credits}});
  }
  return data;
}

void AddTopRoute(Router& router, UsageQueryStore& usage, const char* path, bool by_identity) {
  router.AddRpc(path, [&usage, by_identity](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const UsageFilter filter = ReadUsageFilter(body);
    const auto limit = body.OptionalInt("limit", 1, 100).value_or(10);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kTopScope); !s) return Fail(s.error());
    auto top = usage.Top(filter, by_identity, static_cast<std::size_t>(limit));
    if (!top) return Fail(top.error());
    return OkResponse(ctx.request.request_id, TopToJson(*top, by_identity ? "externalId" : "keyId"));
  });
}

}  // namespace

void AddUsageRoutes(Router& router, UsageQueryStore& usage) {
  router.AddRpc("/v2/usage.summary", [&usage](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const UsageFilter filter = ReadUsageFilter(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kSummaryScope); !s) return Fail(s.error());
    auto summary = usage.Summary(filter);
    if (!summary) return Fail(summary.error());
    nlohmann::json by_code = nlohmann::json::object();
    for (const auto& [code, count] : summary->by_code) by_code[code] = count;
    nlohmann::json meters = nlohmann::json::object();
    for (const auto& [meter, total] : summary->meters) meters[meter] = {{"count", total.count}, {"quantity", total.quantity}};
    const auto valid = summary->by_code.find("VALID");
    return OkResponse(ctx.request.request_id,
                      {{"total", summary->total},
                       {"valid", valid == summary->by_code.end() ? 0 : valid->second},
                       {"byCode", std::move(by_code)},
                       {"creditsSpent", summary->credits_spent},
                       {"meters", std::move(meters)}});
  });

  router.AddRpc("/v2/usage.timeseries", [&usage](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const UsageFilter filter = ReadUsageFilter(body);
    const std::string granularity_name = body.RequiredString("granularity", 1, 16);
    const std::string group_name = body.OptionalString("groupBy", 1, 16).value_or("");
    const GranularityInfo* granularity = nullptr;
    for (const GranularityInfo& g : kGranularities) {
      if (g.name == granularity_name) granularity = &g;
    }
    if (body.ok() && granularity == nullptr) {
      body.AddError(body.At("granularity"), "must be minute, hour, day or month");
    } else if (body.ok() && (filter.to - filter.from) / granularity->bucket_ms + 1 > kMaxBuckets) {
      body.AddError(body.At("granularity"),
                    "gives more than 10000 " + granularity_name + "s over this range",
                    "Use a coarser granularity or a shorter range.");
    }
    UsageGroupBy group_by = UsageGroupBy::kNone;
    if (group_name == "outcome") group_by = UsageGroupBy::kOutcome;
    else if (group_name == "key") group_by = UsageGroupBy::kKey;
    else if (group_name == "identity") group_by = UsageGroupBy::kIdentity;
    else if (group_name == "tag") group_by = UsageGroupBy::kTag;
    else if (group_name == "meter") group_by = UsageGroupBy::kMeter;
    else if (!group_name.empty()) {
      body.AddError(body.At("groupBy"), "must be outcome, key, identity, tag or meter");
    }
    if (group_by == UsageGroupBy::kMeter && !filter.api_id.empty()) {
      body.AddError(body.At("apiId"), "cannot be combined with groupBy \"meter\": metered usage belongs to customers, not APIs",
                    "Leave apiId out, or filter by externalId or keyId.");
    }
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kTimeseriesScope); !s) return Fail(s.error());
    auto points = usage.Timeseries(filter, granularity->value, group_by);
    if (!points) return Fail(points.error());
    nlohmann::json data = nlohmann::json::array();
    for (const UsagePoint& point : *points) {
      nlohmann::json item = {{"time", point.time}, {"count", point.count}};
      if (group_by == UsageGroupBy::kMeter) {
        item["quantity"] = point.quantity;
      } else {
        item["credits"] = point.credits;
      }
      if (group_by != UsageGroupBy::kNone) item["group"] = point.group;
      data.push_back(std::move(item));
    }
    return OkResponse(ctx.request.request_id, {{"granularity", granularity_name}, {"points", std::move(data)}});
  });

  AddTopRoute(router, usage, "/v2/usage.topKeys", false);
  AddTopRoute(router, usage, "/v2/usage.topIdentities", true);
}

}  // namespace tollgate
