#include "auth/scope.h"
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/key_json.h"
#include "http/routes.h"

namespace tollgate {

void AddApiRoutes(Router& router, KeyService& keys) {
  router.AddRpc("/v2/apis.createApi", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    std::string name = body.RequiredString("name", 3, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, "api.*.create_api"); !s) return Fail(s.error());
    auto api = keys.CreateApi(std::move(name));
    if (!api) return Fail(api.error());
    return OkResponse(ctx.request.request_id, {{"apiId", api->id}});
  });

  router.AddRpc("/v2/apis.getApi", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string api_id = body.RequiredString("apiId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, ApiScope(api_id, "read_api")); !s) return Fail(s.error());
    auto api = keys.GetApi(api_id);
    if (!api) return Fail(api.error());
    return OkResponse(ctx.request.request_id, {{"id", api->id}, {"name", api->name}});
  });

  router.AddRpc("/v2/apis.deleteApi", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string api_id = body.RequiredString("apiId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, ApiScope(api_id, "delete_api")); !s) return Fail(s.error());
    if (auto s = keys.DeleteApi(api_id); !s) return Fail(s.error());
    return OkResponse(ctx.request.request_id, nlohmann::json::object());
  });

  router.AddRpc("/v2/apis.listKeys", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string api_id = body.RequiredString("apiId", 1, 255);
    const auto limit = body.OptionalInt("limit", 1, 100);
    const auto cursor = body.OptionalString("cursor", 1, 255);
    const auto external_id = body.OptionalString("externalId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, ApiScope(api_id, "read_key")); !s) return Fail(s.error());
    auto page = keys.ListKeys(api_id, cursor, static_cast<std::size_t>(limit.value_or(100)), external_id);
    if (!page) return Fail(page.error());
    nlohmann::json data = nlohmann::json::array();
    for (const Key& key : page->keys) {
      std::optional<Identity> identity;
      if (!key.external_id.empty()) {
        if (CachedKeyPtr cached = keys.cache().FindById(key.id); cached && cached->identity) {
          identity = *cached->identity;
        }
      }
      data.push_back(KeyToJson(key, identity));
    }
    return ListResponse(ctx.request.request_id, std::move(data), page->next_cursor);
  });
}

}  // namespace tollgate
