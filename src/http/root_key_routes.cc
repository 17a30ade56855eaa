#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/routes.h"

namespace tollgate {

void AddRootKeyRoutes(Router& router, RootKeyService& root_keys) {
  router.AddRpc("/v2/rootKeys.createRootKey", [&root_keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    std::string name = body.OptionalString("name", 1, 255).value_or("");
    auto permissions = body.OptionalStringArray("permissions", 100);
    if (!body.Has("permissions")) body.AddError("body.permissions", "is required", "e.g. [\"api.*.verify_key\"]");
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, "rootkey.*.create"); !s) return Fail(s.error());
    auto created = root_keys.CreateRootKey(ctx.root_key, std::move(name), std::move(*permissions));
    if (!created) return Fail(created.error());
    return OkResponse(ctx.request.request_id, {{"keyId", created->key.id}, {"key", created->secret}});
  });

  router.AddRpc("/v2/rootKeys.listRootKeys", [&root_keys](const RpcContext& ctx) -> Result<HttpResponse> {
    if (auto s = RequireScope(ctx.root_key, "rootkey.*.read"); !s) return Fail(s.error());
    nlohmann::json data = nlohmann::json::array();
    for (const RootKey& key : root_keys.ListRootKeys()) {
      data.push_back({{"keyId", key.id}, {"name", key.name}, {"start", key.start},
                      {"permissions", key.permissions}, {"createdAt", key.created_at}});
    }
    return ListResponse(ctx.request.request_id, std::move(data), std::nullopt);
  });

  router.AddRpc("/v2/rootKeys.deleteRootKey", [&root_keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string key_id = body.RequiredString("keyId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, "rootkey.*.delete"); !s) return Fail(s.error());
    if (auto s = root_keys.DeleteRootKey(key_id); !s) return Fail(s.error());
    return OkResponse(ctx.request.request_id, nlohmann::json::object());
  });
}

void AddHealthRoutes(Router& router, std::function<std::string()> ready) {
  router.AddPlain("GET", "/livez", [](const HttpRequest&) {
    HttpResponse response;
    response.body = R"({"status":"ok"})";
    return response;
  });
  router.AddPlain("GET", "/readyz", [ready = std::move(ready)](const HttpRequest&) {
    HttpResponse response;
    const std::string failing = ready();
    if (failing.empty()) {
      response.body = R"({"status":"ready"})";
    } else {
      response.status = 503;
      response.body = DumpJson({{"status", "unavailable"}, {"failing", failing}});
    }
    return response;
  });
  router.AddPlain("GET", "/v2/liveness", [](const HttpRequest& request) {
    return OkResponse(request.request_id, {{"message", "OK"}});
  });
}

}  // namespace tollgate
