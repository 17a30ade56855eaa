// Operations: GET /metrics, and operations.setLogLevel.
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/routes.h"

namespace tollgate {

void AddMetricsRoute(Router& router, const MetricsRegistry* registry) {
  if (registry == nullptr) return;  // no route: 404, as for any unknown path
  router.AddPlain("GET", "/metrics", [registry](const HttpRequest&) {
    HttpResponse response;
    response.content_type = std::string(MetricsRegistry::kContentType);
    response.body = registry->Render();
    return response;
  });
}

void AddLogLevelRoute(Router& router, LogLevelControl control) {
  router.AddRpc("/v2/operations.setLogLevel", [control = std::move(control)](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string level = body.RequiredString("level", 1, 16);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, "operations.*.write"); !s) return Fail(s.error());
    const std::string previous = control.get();
    if (auto s = control.set(level); !s) return Fail(s.error());
    return OkResponse(ctx.request.request_id, {{"level", control.get()}, {"previous", previous}});
  });
}

}  // namespace tollgate
