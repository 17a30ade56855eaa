// Maps a request to its handler: "POST /v2/<resource>.<action>" RPC routes with a JSON body and a
// root key, prefix routes for resources named in the path (GET /billing/invoices/<id>.html) with a
// root key, and plain routes (GET /livez, ...). Owns the checks every RPC route shares, in this
// order: route (404), method (405), content type (415), root key (401), JSON body (400); prefix
// routes share the route, method and root key checks; public prefix routes (the dashboard's
// files) only the route and method checks. A handler is a plain function of the parsed request;
// it never sees the socket.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

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

struct PrefixContext {
  const HttpRequest& request;
  std::string_view rest;  // the path after the route's prefix; never empty
  const RootKey& root_key;
};

class Router {
 public:
  // HttpResponse::route of a request no route took (a 404).
  static constexpr std::string_view kUnknownRoute = "other";

  using RpcHandler = std::function<Result<HttpResponse>(const RpcContext&)>;
  using PlainHandler = std::function<HttpResponse(const HttpRequest&)>;
  using PrefixHandler = std::function<Result<HttpResponse>(const PrefixContext&)>;
  using Authenticator = std::function<std::shared_ptr<const RootKey>(std::string_view secret)>;

  explicit Router(Authenticator authenticate) : authenticate_(std::move(authenticate)) {}

  void AddRpc(std::string path, RpcHandler handler, RpcBody body = RpcBody::kObject);
  void AddPlain(std::string method, std::string path, PlainHandler handler);
  // Every path that starts with `prefix` (ending in '/') and goes on, when no exact route has it;
  // the longest matching prefix wins. The handler parses the rest and answers 404 for what it
  // does not know.
  void AddPrefix(std::string method, std::string prefix, PrefixHandler handler);
  // The same without a root key, for what anyone may fetch (the dashboard's static files); the
  // handler finds the rest of the path in request.path after `prefix`.
  void AddPublicPrefix(std::string method, std::string prefix, PlainHandler handler);

  // Never throws: an exception escaping a handler is a bug, answered with 500 and logged.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    RpcHandler rpc;      // set for RPC routes
    PlainHandler plain;  // set for plain routes and public prefix routes
    RpcBody body = RpcBody::kObject;
    PrefixHandler prefix;  // set for prefix routes
    std::string label;     // the path, or the prefix and "*": HttpResponse::route
  };
  void AddPrefixRoute(std::string prefix, Route route);  // sets the route's label
  // The route of an exact path, else of the longest prefix; nullptr when none.
  const Route* Find(const std::string& path, std::string_view& rest) const;
  HttpResponse Dispatch(const Route* found, const HttpRequest& request, std::string_view rest) const;
  HttpResponse HandleRpc(const Route& route, const HttpRequest& request) const;
  HttpResponse HandlePrefix(const Route& route, const HttpRequest& request, std::string_view rest) const;
  // The root key of the Authorization header; Unauthorized (401) when it names none.
  Result<std::shared_ptr<const RootKey>> Authenticate(const HttpRequest& request) const;

  Authenticator authenticate_;
  std::unordered_map<std::string, Route> routes_;  // by path; written only before serving
  std::vector<std::pair<std::string, Route>> prefix_routes_;  // by prefix; likewise
};

// For a handler whose answer comes later (it waits on the Redis limiter). `start` begins the work
// and is given `finish`, which the work calls exactly once, on the request's worker thread, with
// a function producing the answer: that function's errors become the error envelope and its
// exceptions a 500, as for any handler. Returns the answer itself when the work finished inline
// (the in-memory limiter), else a deferred response the server awaits.
using FinishAnswer = std::function<void(const std::function<Result<HttpResponse>()>& answer)>;
HttpResponse AnswerLater(const HttpRequest& request, const std::function<void(FinishAnswer finish)>& start);

// Checks that the root key holds `scope`; Forbidden naming the scope otherwise.
Status RequireScope(const RootKey& root_key, const std::string& scope);

// "Bearer <token>" with the scheme in any case (RFC 9110 11.1) -> token; empty otherwise.
std::string_view BearerToken(std::string_view header);

// The body as text that can always be encoded: handlers echo user input in messages.
std::string DumpJson(const nlohmann::json& value);

}  // namespace tollgate
