#include "http/router.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "auth/scope.h"
#include "http/envelope.h"

namespace tollgate {
namespace {

constexpr int kMaxJsonDepth = 32;

bool IsJsonContentType(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  std::string_view media = content_type.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media.size() != 16) return false;
  constexpr std::string_view kJson = "application/json";
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(media[i])) != kJson[i]) return false;
  }
  return true;
}

}  // namespace

// "Bearer <secret>" (scheme case-insensitive) -> secret; empty when absent or malformed.
std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return {};
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

namespace {

// Deepest nesting of arrays and objects in a JSON text, without parsing it; stops counting at
// `limit + 1`. nlohmann's parser is iterative, but dump() and the handlers recurse, so depth is
// bounded before anything else touches the document. One pass over the bytes.
int JsonDepth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

// A handler's result as the response: its own, or its error's; failures of tollgate or its store
// are logged.
HttpResponse Answer(const std::string& request_id, const std::string& path, Result<HttpResponse> result) {
  if (result) return std::move(*result);
  if (result.error().code == ErrorCode::kInternal || result.error().code == ErrorCode::kUnavailable) {
    spdlog::error("request {} to {}: {}", request_id, path, result.error().detail);
  }
  return ErrorResponse(request_id, result.error());
}

// Runs `handle`; an exception escaping it is a bug, answered with 500 and logged.
template <typename Handle>
HttpResponse Guarded(const std::string& id, const std::string& path, Handle&& handle) {
  try {
    return handle();
  } catch (const std::exception& e) {
    spdlog::error("request {} to {} failed with an exception: {}", id, path, e.what());
  } catch (...) {
    // Not every throw is a std::exception (a library may throw its own type); none may escape.
    spdlog::error("request {} to {} failed with a non-standard exception", id, path);
  }
  return ErrorResponse(id, Error::Internal("internal error; see the server log for request " + id));
}

HttpResponse Answer(const HttpRequest& request, Result<HttpResponse> result) {
  return Answer(request.request_id, request.path, std::move(result));
}

}  // namespace

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status RequireScope(const RootKey& root_key, const std::string& scope) {
  if (ScopesAllow(root_key.permissions, scope)) return {};
  return Fail(Error{ErrorCode::kForbidden, "this root key lacks the permission '" + scope + "'", {}});
}

void Router::AddRpc(std::string path, RpcHandler handler, RpcBody body) {
  std::string label = path;
  routes_[std::move(path)] = Route{"POST", std::move(handler), {}, body, {}, std::move(label)};
}

void Router::AddPlain(std::string method, std::string path, PlainHandler handler) {
  std::string label = path;
  routes_[std::move(path)] = Route{std::move(method), {}, std::move(handler), RpcBody::kObject, {}, std::move(label)};
}

void Router::AddPrefix(std::string method, std::string prefix, PrefixHandler handler) {
  AddPrefixRoute(std::move(prefix), Route{std::move(method), {}, {}, RpcBody::kObject, std::move(handler), {}});
}

void Router::AddPublicPrefix(std::string method, std::string prefix, PlainHandler handler) {
  AddPrefixRoute(std::move(prefix), Route{std::move(method), {}, std::move(handler), RpcBody::kObject, {}, {}});
}

void Router::AddPrefixRoute(std::string prefix, Route route) {
  route.label = prefix + "*";
  prefix_routes_.emplace_back(std::move(prefix), std::move(route));
}

const Router::Route* Router::Find(const std::string& path, std::string_view& rest) const {
  if (const auto it = routes_.find(path); it != routes_.end()) return &it->second;
  const Route* found = nullptr;
  std::size_t longest = 0;
  for (const auto& [prefix, route] : prefix_routes_) {
    if (path.size() > prefix.size() && path.starts_with(prefix) && prefix.size() > longest) {
      found = &route;
      longest = prefix.size();
    }
  }
  if (found) rest = std::string_view(path).substr(longest);
  return found;
}

HttpResponse Router::Handle(const HttpRequest& request) const {
  std::string_view rest;
  const Route* found = Find(request.path, rest);
  HttpResponse response = Dispatch(found, request, rest);
  response.route = found != nullptr ? std::string_view(found->label) : kUnknownRoute;
  return response;
}

HttpResponse Router::Dispatch(const Route* found, const HttpRequest& request, std::string_view rest) const {
  if (!found) {
    std::string detail = "no route for " + request.method + " " + request.path;
    if (!request.path.starts_with("/v2/")) detail += "; the API is POST /v2/<resource>.<action>";
    return ErrorResponse(request.request_id, Error::NotFound(std::move(detail)));
  }
  const Route& route = *found;
  // HEAD is GET without the body (the server drops it), as RFC 9110 9.3.2 asks.
  const bool head_of_get = request.method == "HEAD" && route.method == "GET";
  if (request.method != route.method && !head_of_get) {
    HttpResponse response = ErrorResponse(
        request.request_id, Error{ErrorCode::kMethodNotAllowed,
                                  request.path + " accepts " + route.method + ", not " + request.method, {}});
    response.SetHeader("Allow", route.method);
    return response;
  }
  return Guarded(request.request_id, request.path, [&]() -> HttpResponse {
    if (route.plain) return route.plain(request);
    if (route.prefix) return HandlePrefix(route, request, rest);
    return HandleRpc(route, request);
  });
}

HttpResponse Router::HandleRpc(const Route& route, const HttpRequest& request) const {
  const std::string& id = request.request_id;
  if (!IsJsonContentType(request.content_type)) {
    return ErrorResponse(id, Error{ErrorCode::kUnsupportedMedia,
                                   "Content-Type must be application/json, got '" +
                                       (request.content_type.empty() ? std::string("none") : request.content_type) + "'",
                                   {}});
  }
  auto root_key = Authenticate(request);
  if (!root_key) return ErrorResponse(id, root_key.error());

  if (JsonDepth(request.body, kMaxJsonDepth) > kMaxJsonDepth) {
    return ErrorResponse(id, Error::InvalidInput(
                                 "the request body nests objects or arrays deeper than " + std::to_string(kMaxJsonDepth) + " levels",
                                 {{"body", "is nested too deeply", "flatten the JSON; no tollgate field needs more than a few levels"}}));
  }
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset of the problem; e.what() is nlohmann's full description.
    return ErrorResponse(id, Error::InvalidInput(
                                 "the request body is not valid JSON (at byte " + std::to_string(e.byte) + ")",
                                 {{"body", "is not valid JSON: " + std::string(e.what()), "send a JSON object"}}));
  } catch (const nlohmann::json::out_of_range& e) {
    // Valid JSON that nlohmann cannot hold: a number beyond a double's range, such as 1e400.
    return ErrorResponse(id, Error::InvalidInput(
                                 "the request body holds a number too large to read",
                                 {{"body", "holds a number out of range: " + std::string(e.what()),
                                   "send whole numbers within the field's documented range"}}));
  }
  if (route.body == RpcBody::kArray && !body.is_array()) {
    return ErrorResponse(id, Error::InvalidInput("the request body must be a JSON array",
                                                 {{"body", "must be a JSON array", "send the items as [{...}, ...]"}}));
  }
  if (route.body == RpcBody::kObject && !body.is_object()) {
    return ErrorResponse(id, Error::InvalidInput("the request body must be a JSON object",
                                                 {{"body", "must be a JSON object", "wrap the fields in {...}"}}));
  }
  return Answer(request, route.rpc(RpcContext{request, body, **root_key}));
}

HttpResponse Router::HandlePrefix(const Route& route, const HttpRequest& request, std::string_view rest) const {
  auto root_key = Authenticate(request);
  if (!root_key) return ErrorResponse(request.request_id, root_key.error());
  return Answer(request, route.prefix(PrefixContext{request, rest, **root_key}));
}

Result<std::shared_ptr<const RootKey>> Router::Authenticate(const HttpRequest& request) const {
  if (request.authorization.empty()) {
    return Fail(Error{ErrorCode::kUnauthorized, "missing Authorization header; send 'Authorization: Bearer <root key>'", {}});
  }
  const std::string_view token = BearerToken(request.authorization);
  std::shared_ptr<const RootKey> root_key = token.empty() ? nullptr : authenticate_(token);
  if (!root_key) return Fail(Error{ErrorCode::kUnauthorized, "the root key in the Authorization header is not valid", {}});
  return root_key;
}

HttpResponse AnswerLater(const HttpRequest& request, const std::function<void(FinishAnswer finish)>& start) {
  auto deferred = std::make_shared<DeferredResponse>();
  start([deferred, id = request.request_id, path = request.path](const std::function<Result<HttpResponse>()>& answer) {
    deferred->Complete(Guarded(id, path, [&] { return Answer(id, path, answer()); }));
  });
  if (deferred->ready()) return deferred->Take();
  return Later(std::move(deferred));
}

}  // namespace tollgate
