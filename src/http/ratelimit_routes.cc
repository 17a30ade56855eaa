// ratelimit.* of Unkey v2: identifier rate limiting without keys. limit and multiLimit decide
// (always HTTP 200; `success`/`passed` says whether to proceed), setOverride, getOverride,
// listOverrides and deleteOverride manage the per-identifier exceptions. Request and response
// shapes are Unkey's (V2Ratelimit*), plus tollgate's optional `algorithm` on a limit.
//
// Scopes, as Unkey names them: "ratelimit.<namespaceId>.<action>" or "ratelimit.*.<action>" for
// the actions limit, set_override, read_override and delete_override. tollgate also accepts the
// namespace's name in place of its id when the name is a valid scope segment (no '.' or ':'),
// which is also the only way to grant use of a namespace before it exists.
#include <string>
#include <vector>

#include "auth/scope.h"
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/routes.h"

namespace tollgate {
namespace {

struct ScopeAction {
  const char* name;       // "limit"
  const char* any_scope;  // "ratelimit.*.limit"
};
constexpr ScopeAction kLimit{"limit", "ratelimit.*.limit"};
constexpr ScopeAction kSetOverride{"set_override", "ratelimit.*.set_override"};
constexpr ScopeAction kReadOverride{"read_override", "ratelimit.*.read_override"};
constexpr ScopeAction kDeleteOverride{"delete_override", "ratelimit.*.delete_override"};

constexpr std::size_t kMaxLimitsPerCall = 100;
constexpr std::int64_t kDefaultOverridePage = 10;  // Unkey's default
constexpr std::int64_t kMaxOverridePage = 100;

bool IsScopeSegment(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string NamespaceScope(std::string_view ns, const ScopeAction& action) {
  std::string scope = "ratelimit.";
  scope += ns;
  scope += '.';
  scope += action.name;
  return scope;
}

// The service asks this before it creates, reads or charges anything in a namespace. Captures two
// pointers, which std::function stores without allocating.
NamespaceAuthorizer ScopeCheck(const RootKey& root_key, const ScopeAction& action) {
  return [&root_key, &action](const RatelimitNamespace& ns) -> Status {
    const auto& granted = root_key.permissions;
    if (ScopesAllow(granted, action.any_scope)) return {};
    if (!ns.id.empty() && ScopesAllow(granted, NamespaceScope(ns.id, action))) return {};
    if (IsScopeSegment(ns.name) && ScopesAllow(granted, NamespaceScope(ns.name, action))) return {};
    const std::string wanted = NamespaceScope(ns.id.empty() ? ns.name : ns.id, action);
    return Fail(Error{ErrorCode::kForbidden,
                      "this root key lacks the permission '" + wanted + "' (or '" + action.any_scope + "')", {}});
  };
}

// The service names fields relative to what it was given ("[1].limit", "limit"); the caller saw
// them under `prefix` ("body", "body.").
Error UnderBody(Error error, std::string_view prefix) {
  if (error.fields.empty()) return error;
  for (FieldError& field : error.fields) field.location = std::string(prefix) + field.location;
  auto restated = FieldErrorsToStatus(std::move(error.fields));
  return restated.error();
}

std::string ReadNamespace(FieldReader& reader) {
  std::string ns = reader.RequiredString("namespace", 1, kMaxRatelimitNameLength);
  if (!ns.empty() && !IsValidNamespaceName(ns)) {
    reader.AddError(reader.At("namespace"), "must contain only letters, digits and the characters _ . : -",
                    "use a name such as \"api.requests\", or a namespace id \"rlns_…\"");
  }
  return ns;
}

// duration and limit as the limiter can enforce them exactly; min_limit is 1 for a limit and 0 for
// an override (which then denies every request).
void ReadWindow(FieldReader& reader, std::int64_t min_limit, std::int64_t& limit, std::int64_t& duration_ms) {
  duration_ms = reader.RequiredInt("duration", kMinRatelimitDurationMs, kMaxRatelimitDurationMs);
  limit = reader.RequiredInt("limit", min_limit);
  if (duration_ms >= kMinRatelimitDurationMs && limit > MaxRatelimitLimit(duration_ms)) {
    reader.AddError(reader.At("limit"), "must be at most " + std::to_string(MaxRatelimitLimit(duration_ms)) +
                                            " for a duration of " + std::to_string(duration_ms) + " ms",
                    "limit × duration must not exceed 2^62");
  }
}

LimitRequest ReadLimitRequest(const nlohmann::json& object, const std::string& location,
                              std::vector<FieldError>& errors) {
  FieldReader reader(object, location, errors);
  LimitRequest request;
  request.ns = ReadNamespace(reader);
  request.identifier = reader.RequiredString("identifier", 1, kMaxRatelimitNameLength);
  ReadWindow(reader, 1, request.limit, request.duration_ms);
  request.cost = reader.OptionalInt("cost", 0).value_or(1);
  // Unkey's "answer before the nodes agree" hint. One tollgate node decides at once anyway.
  (void)reader.OptionalBool("async");
  if (const auto algorithm = reader.OptionalString("algorithm")) {
    if (const auto parsed = ParseLimitAlgorithm(*algorithm)) {
      request.algorithm = *parsed;
    } else {
      reader.AddError(reader.At("algorithm"), "must be \"sliding_window\", \"token_bucket\", \"fixed_window\" or \"gcra\"");
    }
  }
  return request;
}

nlohmann::json OverrideToJson(const RatelimitOverride& row) {
  return {{"overrideId", row.id}, {"duration", row.duration_ms}, {"identifier", row.identifier}, {"limit", row.limit}};
}

// One usage event per decided limit: no key, so the namespace (as named) stands in the api_id and
// the identifier in the external_id. A multiLimit passes or is denied as a whole, and every one of
// its events says so; denied_by is the namespace of the first limit that denied.
void RecordRatelimitUsage(UsageRecorder& usage, UnixMillis now, std::span<const LimitRequest> requests,
                          std::span<const LimitResult> results) {
  const LimitRequest* denied = nullptr;
  for (std::size_t i = 0; i < results.size() && denied == nullptr; ++i) {
    if (!results[i].passed) denied = &requests[i];
  }
  for (std::size_t i = 0; i < requests.size() && i < results.size(); ++i) {
    UsageEventView event;
    event.at = now;
    event.api_id = requests[i].ns;
    event.external_id = requests[i].identifier;
    event.code = denied ? kRatelimitDenied : kRatelimitPassed;
    event.credits_spent = denied ? 0 : requests[i].cost;
    if (denied) event.denied_by = denied->ns;
    event.source = "ratelimit";
    usage.Record(event);
  }
}

// multiLimit's answer: every limit's result and whether all passed.
HttpResponse MultiLimitAnswer(UsageRecorder& usage, Clock& clock, const std::string& request_id,
                              const std::vector<LimitRequest>& requests, const std::vector<LimitResult>& results) {
  RecordRatelimitUsage(usage, clock.NowMillis(), requests, results);
  bool passed = true;
  nlohmann::json limits = nlohmann::json::array();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const LimitResult& result = results[i];
    passed = passed && result.passed;
    nlohmann::json limit = {{"namespace", requests[i].ns},
                            {"identifier", requests[i].identifier},
                            {"limit", result.limit},
                            {"remaining", result.remaining},
                            {"reset", result.reset},
                            {"passed", result.passed}};
    if (!result.override_id.empty()) limit["overrideId"] = result.override_id;
    limits.push_back(std::move(limit));
  }
  return OkResponse(request_id, {{"passed", passed}, {"limits", std::move(limits)}});
}

}  // namespace

void AddRatelimitRoutes(Router& router, RatelimitService& ratelimits, UsageRecorder& usage, Clock& clock) {
  router.AddRpc("/v2/ratelimit.limit", [&ratelimits, &usage, &clock](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    const LimitRequest request = ReadLimitRequest(ctx.body, "body", errors);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    return AnswerLater(ctx.request, [&](FinishAnswer finish) {
      ratelimits.LimitAsync(
          std::span(&request, 1), ScopeCheck(ctx.root_key, kLimit),
          [finish = std::move(finish), &usage, &clock, request, id = ctx.request.request_id](
              Result<std::vector<LimitResult>> results) {
            finish([&]() -> Result<HttpResponse> {
              if (!results) {
                Error error = std::move(results.error());
                for (FieldError& field : error.fields) field.location.erase(0, 3);  // "[0].limit" -> ".limit"
                return Fail(UnderBody(std::move(error), "body"));
              }
              RecordRatelimitUsage(usage, clock.NowMillis(), std::span(&request, 1), *results);
              const LimitResult& result = results->front();
              nlohmann::json data = {{"success", result.passed},
                                     {"limit", result.limit},
                                     {"remaining", result.remaining},
                                     {"reset", result.reset}};
              if (!result.override_id.empty()) data["overrideId"] = result.override_id;
              return OkResponse(id, std::move(data));
            });
          });
    });
  });

  // Unkey's body is a bare array of limit requests. tollgate decides them all-or-nothing: when
  // one is denied, none is charged.
  router.AddRpc(
      "/v2/ratelimit.multiLimit",
      [&ratelimits, &usage, &clock](const RpcContext& ctx) -> Result<HttpResponse> {
        std::vector<FieldError> errors;
        if (ctx.body.empty() || ctx.body.size() > kMaxLimitsPerCall) {
          return Fail(Error::InvalidInput(
              "the body must hold 1 to " + std::to_string(kMaxLimitsPerCall) + " limits",
              {{"body", "must hold 1 to " + std::to_string(kMaxLimitsPerCall) + " limits", ""}}));
        }
        std::vector<LimitRequest> requests;
        requests.reserve(ctx.body.size());
        for (std::size_t i = 0; i < ctx.body.size(); ++i) {
          const std::string at = "body[" + std::to_string(i) + "]";
          if (!ctx.body[i].is_object()) {
            errors.push_back({at, "must be an object {namespace, identifier, limit, duration, cost?}", ""});
            continue;
          }
          requests.push_back(ReadLimitRequest(ctx.body[i], at, errors));
        }
        if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
        return AnswerLater(ctx.request, [&](FinishAnswer finish) {
          ratelimits.LimitAsync(requests, ScopeCheck(ctx.root_key, kLimit),
                                [finish = std::move(finish), &usage, &clock, requests, id = ctx.request.request_id](
                                    Result<std::vector<LimitResult>> results) {
                                  finish([&]() -> Result<HttpResponse> {
                                    if (!results) return Fail(UnderBody(std::move(results.error()), "body"));
                                    return MultiLimitAnswer(usage, clock, id, requests, *results);
                                  });
                                });
        });
      },
      RpcBody::kArray);

  router.AddRpc("/v2/ratelimit.setOverride", [&ratelimits](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    SetOverrideParams params;
    params.ns = ReadNamespace(body);
    params.identifier = body.RequiredString("identifier", 1, kMaxRatelimitNameLength);
    ReadWindow(body, 0, params.limit, params.duration_ms);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    auto stored = ratelimits.SetOverride(params, ScopeCheck(ctx.root_key, kSetOverride));
    if (!stored) return Fail(UnderBody(std::move(stored.error()), "body."));
    return OkResponse(ctx.request.request_id, {{"overrideId", stored->id}});
  });

  router.AddRpc("/v2/ratelimit.getOverride", [&ratelimits](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string ns = ReadNamespace(body);
    const std::string identifier = body.RequiredString("identifier", 1, kMaxRatelimitNameLength);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    auto found = ratelimits.GetOverride(ns, identifier, ScopeCheck(ctx.root_key, kReadOverride));
    if (!found) return Fail(found.error());
    return OkResponse(ctx.request.request_id, OverrideToJson(*found));
  });

  router.AddRpc("/v2/ratelimit.listOverrides", [&ratelimits](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string ns = ReadNamespace(body);
    const auto cursor = body.OptionalString("cursor", 1, 255);
    const auto limit = body.OptionalInt("limit", 1, kMaxOverridePage);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    auto page = ratelimits.ListOverrides(ns, cursor, static_cast<std::size_t>(limit.value_or(kDefaultOverridePage)),
                                         ScopeCheck(ctx.root_key, kReadOverride));
    if (!page) return Fail(page.error());
    nlohmann::json data = nlohmann::json::array();
    for (const RatelimitOverride& row : page->overrides) data.push_back(OverrideToJson(row));
    return ListResponse(ctx.request.request_id, std::move(data), page->next_cursor);
  });

  router.AddRpc("/v2/ratelimit.deleteOverride", [&ratelimits](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string ns = ReadNamespace(body);
    const std::string identifier = body.RequiredString("identifier", 1, kMaxRatelimitNameLength);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = ratelimits.DeleteOverride(ns, identifier, ScopeCheck(ctx.root_key, kDeleteOverride)); !s) {
      return Fail(s.error());
    }
    return OkResponse(ctx.request.request_id, nlohmann::json::object());
  });
}

}  // namespace tollgate
