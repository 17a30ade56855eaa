// tiers.*: tollgate's own resource (no Unkey counterpart), shapes in http/tier_json.h.
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/routes.h"
#include "http/tier_json.h"

namespace tollgate {
namespace {

constexpr const char* kCreateScope = "tier.*.create_tier";
constexpr const char* kReadScope = "tier.*.read_tier";
constexpr const char* kUpdateScope = "tier.*.update_tier";
constexpr const char* kDeleteScope = "tier.*.delete_tier";

}  // namespace

void AddTierRoutes(Router& router, TierService& tiers) {
  router.AddRpc("/v2/tiers.createTier", [&tiers](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    UpdateTierParams fields = ReadTierFields(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kCreateScope); !s) return Fail(s.error());
    Tier tier;  // defaults: no limits, unlimited quota, block, no grace, free of charge in USD
    tier.name = fields.name;
    ApplyTierUpdate(tier, std::move(fields));
    auto created = tiers.CreateTier(std::move(tier));
    if (!created) return Fail(created.error());
    return OkResponse(ctx.request.request_id, TierToJson(*created));
  });

  router.AddRpc("/v2/tiers.getTier", [&tiers](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string name = body.RequiredString("name", 1, 64);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
    auto tier = tiers.GetTier(name);
    if (!tier) return Fail(tier.error());
    return OkResponse(ctx.request.request_id, TierToJson(*tier));
  });

  // Tiers are few: one page, always complete.
  router.AddRpc("/v2/tiers.listTiers", [&tiers](const RpcContext& ctx) -> Result<HttpResponse> {
    if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
    nlohmann::json data = nlohmann::json::array();
    for (const Tier& tier : tiers.ListTiers()) data.push_back(TierToJson(tier));
    return ListResponse(ctx.request.request_id, std::move(data), std::nullopt);
  });

  router.AddRpc("/v2/tiers.updateTier", [&tiers](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    UpdateTierParams params = ReadTierFields(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kUpdateScope); !s) return Fail(s.error());
    auto updated = tiers.UpdateTier(std::move(params));
    if (!updated) return Fail(updated.error());
    return OkResponse(ctx.request.request_id, TierToJson(*updated));
  });

  router.AddRpc("/v2/tiers.deleteTier", [&tiers](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string name = body.RequiredString("name", 1, 64);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kDeleteScope); !s) return Fail(s.error());
    if (auto s = tiers.DeleteTier(name); !s) return Fail(s.error());
    return OkResponse(ctx.request.request_id, nlohmann::json::object());
  });
}

}  // namespace tollgate
