// Maps a request to its handler: "POST /v2/<resource>.<action>" RPC routes with a JSON body and a
// root key, and plain routes (GET /livez, ...). Owns the checks every RPC route shares, in this
// order: route (404), method (405), content type (415), root key (401), JSON body (400). A handler
// is a plain function of the parsed request; it never sees the socket.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "auth/root_key_store.h"
#include "common/result.h"
#include "http/message.h"

namespace tollgate {

// The JSON a route takes as its body: an object (every route but one), or an array (Unkey's
// ratelimit.multiLimit sends its limits as a bare array).
enum class RpcBody { kObject, kArray };

struct RpcContext {
  const HttpRequest& request;
  const nlohmann::json& body;  // a JSON object, or an array for RpcBody::kArray routes
  const RootKey& root_key;
};

class Router {
 public:
  using RpcHandler = std::function<Result<HttpResponse>(const RpcContext&)>;
  using PlainHandler = std::function<HttpResponse(const HttpRequest&)>;
  using Authenticator = std::function<std::shared_ptr<const RootKey>(std::string_view secret)>;

  explicit Router(Authenticator authenticate) : authenticate_(std::move(authenticate)) {}

  void AddRpc(std::string path, RpcHandler handler, RpcBody body = RpcBody::kObject);
  void AddPlain(std::string method, std::string path, PlainHandler handler);

  // Never throws: an exception escaping a handler is a bug, answered with 500 and logged.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    RpcHandler rpc;      // set for RPC routes
    PlainHandler plain;  // set for plain routes
    RpcBody body = RpcBody::kObject;
  };
  HttpResponse HandleRpc(const Route& route, const HttpRequest& request) const;

  Authenticator authenticate_;
  std::unordered_map<std::string, Route> routes_;  // by path; written only before serving
};

// Checks that the root key holds `scope`; Forbidden naming the scope otherwise.
Status RequireScope(const RootKey& root_key, const std::string& scope);

// "Bearer <token>" with the scheme in any case (RFC 9110 11.1) -> token; empty otherwise.
std::string_view BearerToken(std::string_view header);

// The body as text that can always be encoded: handlers echo user input in messages.
std::string DumpJson(const nlohmann::json& value);

}  // namespace tollgate
