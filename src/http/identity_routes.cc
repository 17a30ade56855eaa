// identities.* of Unkey v2: an identity is one customer of the provider, shared by its keys.
// Request and response shapes are Unkey's (V2Identities*), plus tollgate's "tier". The
// `identity` field of get/update/delete accepts the identity id or its externalId.
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/key_json.h"
#include "http/routes.h"

namespace tollgate {
namespace {

// "billingCycle": "calendar" | "anniversary" (tollgate's own) -> anniversary billing or not.
std::optional<bool> ReadBillingCycle(FieldReader& body) {
  const auto cycle = body.OptionalString("billingCycle");
  if (!cycle) return std::nullopt;
  if (*cycle == "calendar" || *cycle == "anniversary") return *cycle == "anniversary";
  body.AddError(body.At("billingCycle"), "must be \"calendar\" or \"anniversary\"",
                "anniversary: billing months run from the day and time the identity was created");
  return std::nullopt;
}

constexpr const char* kCreateScope = "identity.*.create_identity";
constexpr const char* kReadScope = "identity.*.read_identity";
constexpr const char* kUpdateScope = "identity.*.update_identity";
constexpr const char* kDeleteScope = "identity.*.delete_identity";

}  // namespace

void AddIdentityRoutes(Router& router, KeyService& keys) {
  router.AddRpc("/v2/identities.createIdentity", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    CreateIdentityParams params;
    params.external_id = body.RequiredString("externalId", 1, 255);
    params.meta_json = body.OptionalObjectText("meta").value_or("");
    if (const nlohmann::json* limits = body.OptionalArray("ratelimits")) {
      params.ratelimits = ReadRateLimits(*limits, body.At("ratelimits"), body);
    }
    params.tier = body.OptionalString("tier", 1, 64).value_or("");
    params.anniversary_billing = ReadBillingCycle(body).value_or(false);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kCreateScope); !s) return Fail(s.error());
    auto identity = keys.CreateIdentity(std::move(params));
    if (!identity) return Fail(identity.error());
    return OkResponse(ctx.request.request_id, {{"identityId", identity->id}});
  });

  router.AddRpc("/v2/identities.getIdentity", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string identity = body.RequiredString("identity", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
    auto found = keys.GetIdentity(identity);
    if (!found) return Fail(found.error());
    return OkResponse(ctx.request.request_id, IdentityToJson(*found));
  });

  router.AddRpc("/v2/identities.listIdentities", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const auto limit = body.OptionalInt("limit", 1, 100);
    const auto cursor = body.OptionalString("cursor", 1, 255);
    const auto search = body.OptionalString("search", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kReadScope); !s) return Fail(s.error());
    auto page = keys.ListIdentities(cursor, static_cast<std::size_t>(limit.value_or(100)), search);
    if (!page) return Fail(page.error());
    nlohmann::json data = nlohmann::json::array();
    for (const Identity& identity : page->identities) data.push_back(IdentityToJson(identity));
    return ListResponse(ctx.request.request_id, std::move(data), page->next_cursor);
  });

  router.AddRpc("/v2/identities.updateIdentity", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    UpdateIdentityParams params;
    params.identity = body.RequiredString("identity", 1, 255);
    if (body.IsNull("meta")) params.meta_json = ""; else params.meta_json = body.OptionalObjectText("meta");
    if (const nlohmann::json* limits = body.OptionalArray("ratelimits")) {
      params.ratelimits = ReadRateLimits(*limits, body.At("ratelimits"), body);
    }
    if (body.IsNull("tier")) params.tier = ""; else params.tier = body.OptionalString("tier", 1, 64);
    params.anniversary_billing = ReadBillingCycle(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kUpdateScope); !s) return Fail(s.error());
    auto identity = keys.UpdateIdentity(std::move(params));
    if (!identity) return Fail(identity.error());
    return OkResponse(ctx.request.request_id, IdentityToJson(*identity));
  });

  router.AddRpc("/v2/identities.deleteIdentity", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string identity = body.RequiredString("identity", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, kDeleteScope); !s) return Fail(s.error());
    if (auto s = keys.DeleteIdentity(identity); !s) return Fail(s.error());
    return OkResponse(ctx.request.request_id, nlohmann::json::object());
  });
}

}  // namespace tollgate
