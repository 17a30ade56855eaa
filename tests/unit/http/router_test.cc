// The checks every RPC route shares, in their documented order (404, 405, 415, 401, 400), and
// what becomes of a handler's result: its error's status, or a 500 for an exception; prefix
// routes (longest prefix, root key, method), and public prefix routes (no root key).
#include "http/router.h"

#include <memory>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "http/envelope.h"

namespace tollgate {
namespace {

constexpr const char* kGoodKey = "tg_root_good";

class RouterTest : public ::testing::Test {
 protected:
  RouterTest()
      : router_([this](std::string_view secret) -> std::shared_ptr<const RootKey> {
          last_secret_ = std::string(secret);
          if (secret != kGoodKey) return nullptr;
          auto key = std::make_shared<RootKey>();
          key->id = "rk_good";
          key->permissions = {"api.*.create_key"};
          return key;
        }) {
    router_.AddRpc("/v2/keys.echo", [this](const RpcContext& context) -> Result<HttpResponse> {
      ++handler_calls_;
      return OkResponse(context.request.request_id,
                        {{"body", context.body}, {"rootKeyId", context.root_key.id}});
    });
    router_.AddPlain("GET", "/livez", [](const HttpRequest& request) {
      HttpResponse response;
      response.content_type = "text/plain";
      response.body = "ok " + request.request_id;
      return response;
    });
  }

  static HttpRequest Rpc(std::string path = "/v2/keys.echo", std::string body = "{}") {
    HttpRequest request;
    request.method = "POST";
    request.path = std::move(path);
    request.content_type = "application/json";
    request.authorization = std::string("Bearer ") + kGoodKey;
    request.body = std::move(body);
    request.request_id = "req_test123";
    return request;
  }

  static nlohmann::json Json(const HttpResponse& response) {
    auto parsed = nlohmann::json::parse(response.body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << response.body;
    return parsed;
  }

  static std::string Header(const HttpResponse& response, const std::string& name) {
    for (const auto& [key, value] : response.headers) {
      if (key == name) return value;
    }
    return "";
  }

  Router router_;
  int handler_calls_ = 0;
  std::string last_secret_;
};

TEST_F(RouterTest, ValidRequestReachesTheHandlerAndEchoesTheRequestId) {
  const HttpResponse response = router_.Handle(Rpc("/v2/keys.echo", R"({"name":"x"})"));
  EXPECT_EQ(response.status, 200u);
  const nlohmann::json body = Json(response);
  EXPECT_EQ(body["meta"]["requestId"], "req_test123");
  EXPECT_EQ(body["data"]["body"], nlohmann::json({{"name", "x"}}));
  EXPECT_EQ(body["data"]["rootKeyId"], "rk_good");
  EXPECT_EQ(handler_calls_, 1);
  EXPECT_EQ(last_secret_, kGoodKey);
}

TEST_F(RouterTest, UnknownPathIs404) {
  const HttpResponse response = router_.Handle(Rpc("/v2/keys.nothing"));
  EXPECT_EQ(response.status, 404u);
  const nlohmann::json body = Json(response);
  EXPECT_EQ(body["error"]["status"], 404);
  EXPECT_EQ(body["meta"]["requestId"], "req_test123");
  EXPECT_NE(body["error"]["detail"].get<std::string>().find("/v2/keys.nothing"), std::string::npos);
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(RouterTest, UnknownPathOutsideV2PointsAtTheApiShape) {
  HttpRequest request = Rpc("/keys");
  const HttpResponse response = router_.Handle(request);
  EXPECT_EQ(response.status, 404u);
  EXPECT_NE(Json(response)["error"]["detail"].get<std::string>().find("POST /v2/<resource>.<action>"),
            std::string::npos);
}

TEST_F(RouterTest, WrongMethodIs405WithAllowHeader) {
  HttpRequest get_rpc = Rpc();
  get_rpc.method = "GET";
  const HttpResponse rpc_response = router_.Handle(get_rpc);
  EXPECT_EQ(rpc_response.status, 405u);
  EXPECT_EQ(Header(rpc_response, "Allow"), "POST");
  EXPECT_EQ(Json(rpc_response)["error"]["status"], 405);

  HttpRequest post_plain = Rpc("/livez");
  const HttpResponse plain_response = router_.Handle(post_plain);
  EXPECT_EQ(plain_response.status, 405u);
  EXPECT_EQ(Header(plain_response, "Allow"), "GET");
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(RouterTest, PlainRouteNeedsNeitherContentTypeNorRootKey) {
  HttpRequest request;
  request.method = "GET";
  request.path = "/livez";
  request.request_id = "req_plain";
  const HttpResponse response = router_.Handle(request);
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(response.body, "ok req_plain");
}

TEST_F(RouterTest, NonJsonContentTypeIs415) {
  for (const std::string content_type : {"text/plain", "", "application/jsonx", "application/xml",
                                         "application/json-patch+json"}) {
    HttpRequest request = Rpc();
    request.content_type = content_type;
    const HttpResponse response = router_.Handle(request);
    EXPECT_EQ(response.status, 415u) << content_type;
    EXPECT_EQ(Json(response)["error"]["status"], 415) << content_type;
  }
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(RouterTest, JsonContentTypeWithParametersOrOtherCaseIsAccepted) {
  for (const std::string content_type : {"application/json; charset=utf-8", "application/json;charset=UTF-8",
                                         "Application/JSON", "application/json "}) {
    HttpRequest request = Rpc();
    request.content_type = content_type;
    EXPECT_EQ(router_.Handle(request).status, 200u) << content_type;
  }
  EXPECT_EQ(handler_calls_, 4);
}

TEST_F(RouterTest, ContentTypeIsCheckedBeforeTheRootKey) {
  HttpRequest request = Rpc();
  request.content_type = "text/plain";
  request.authorization = "";
  EXPECT_EQ(router_.Handle(request).status, 415u);
}

TEST_F(RouterTest, MissingOrInvalidBearerIs401) {
  for (const std::string authorization :
       {"", "Bearer", "Bearer ", "Bearer wrong", "Basic tg_root_good", "tg_root_good", "Bearertg_root_good"}) {
    HttpRequest request = Rpc();
    request.authorization = authorization;
    const HttpResponse response = router_.Handle(request);
    EXPECT_EQ(response.status, 401u) << '"' << authorization << '"';
    EXPECT_EQ(Json(response)["error"]["status"], 401);
  }
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(RouterTest, BearerSchemeIsCaseInsensitiveAndSpacesAroundTheTokenAreIgnored) {
  for (const std::string authorization : {"bearer tg_root_good", "BEARER tg_root_good", "Bearer  tg_root_good "}) {
    HttpRequest request = Rpc();
    request.authorization = authorization;
    EXPECT_EQ(router_.Handle(request).status, 200u) << '"' << authorization << '"';
  }
}

TEST_F(RouterTest, RootKeyIsCheckedBeforeTheBody) {
  HttpRequest request = Rpc("/v2/keys.echo", "{not json");
  request.authorization = "Bearer wrong";
  EXPECT_EQ(router_.Handle(request).status, 401u);
}

TEST_F(RouterTest, MalformedJsonIs400AtBody) {
  for (const std::string text : {"{", "", "{\"a\":}", "{'a':1}", "{} {}"}) {
    const HttpResponse response = router_.Handle(Rpc("/v2/keys.echo", text));
    EXPECT_EQ(response.status, 400u) << text;
    const nlohmann::json body = Json(response);
    ASSERT_TRUE(body["error"]["errors"].is_array()) << response.body;
    ASSERT_FALSE(body["error"]["errors"].empty());
    EXPECT_EQ(body["error"]["errors"][0]["location"], "body") << text;
    EXPECT_EQ(body["meta"]["requestId"], "req_test123");
  }
  EXPECT_EQ(handler_calls_, 0);
}

// Found by fuzz/fuzz_http_request: nlohmann throws out_of_range, not parse_error, for a number
// no double holds, and it used to escape as a 500.
TEST_F(RouterTest, NumberTooLargeForADoubleIs400AtBody) {
  for (const std::string text : {R"({"name":1e400})", R"({"limit":-1E+999})", R"([1e400])"}) {
    const HttpResponse response = router_.Handle(Rpc("/v2/keys.echo", text));
    EXPECT_EQ(response.status, 400u) << text;
    const nlohmann::json body = Json(response);
    EXPECT_EQ(body["error"]["errors"][0]["location"], "body") << text;
    EXPECT_NE(body["error"]["errors"][0]["message"].get<std::string>().find("number overflow"), std::string::npos)
        << response.body;
  }
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(RouterTest, JsonThatIsNotAnObjectIs400) {
  for (const std::string text : {"[]", "[{\"a\":1}]", "42", "\"text\"", "null", "true"}) {
    const HttpResponse response = router_.Handle(Rpc("/v2/keys.echo", text));
    EXPECT_EQ(response.status, 400u) << text;
    const nlohmann::json body = Json(response);
    EXPECT_EQ(body["error"]["errors"][0]["location"], "body") << text;
    EXPECT_EQ(body["error"]["errors"][0]["message"], "must be a JSON object") << text;
  }
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(RouterTest, ArrayRouteTakesAnArrayAndRefusesAnythingElse) {
  router_.AddRpc(
      "/v2/things.many",
      [this](const RpcContext& context) -> Result<HttpResponse> {
        ++handler_calls_;
        return OkResponse(context.request.request_id, {{"count", context.body.size()}});
      },
      RpcBody::kArray);
  const HttpResponse ok = router_.Handle(Rpc("/v2/things.many", R"([{"a":1},{"b":2}])"));
  EXPECT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(Json(ok)["data"]["count"], 2);
  for (const std::string text : {"{}", R"({"limits":[]})", "42", "null"}) {
    const HttpResponse response = router_.Handle(Rpc("/v2/things.many", text));
    EXPECT_EQ(response.status, 400u) << text;
    EXPECT_EQ(Json(response)["error"]["errors"][0]["message"], "must be a JSON array") << text;
  }
  EXPECT_EQ(handler_calls_, 1);
}

TEST_F(RouterTest, BodyNestedDeeperThan32LevelsIs400AtBody) {
  const auto nested = [](int depth) {
    return R"({"a":)" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  EXPECT_EQ(router_.Handle(Rpc("/v2/keys.echo", nested(32))).status, 200u);

  const HttpResponse response = router_.Handle(Rpc("/v2/keys.echo", nested(33)));
  EXPECT_EQ(response.status, 400u);
  EXPECT_EQ(Json(response)["error"]["errors"][0]["location"], "body");
  EXPECT_EQ(handler_calls_, 1);

  // Brackets inside strings are text, not nesting.
  const std::string brackets(100, '[');
  EXPECT_EQ(router_.Handle(Rpc("/v2/keys.echo", R"({"name":")" + brackets + R"("})")).status, 200u);
}

TEST_F(RouterTest, HandlerErrorMapsToItsStatus) {
  router_.AddRpc("/v2/keys.fail", [](const RpcContext& context) -> Result<HttpResponse> {
    const std::string kind = context.body.value("kind", "");
    if (kind == "not_found") return Fail(Error::NotFound("no key with id 'key_1'"));
    if (kind == "forbidden") return Fail(Error{ErrorCode::kForbidden, "lacks api.x.y", {}});
    if (kind == "conflict") return Fail(Error::Conflict("taken"));
    if (kind == "unavailable") return Fail(Error::Unavailable("store down"));
    return Fail(Error::InvalidInput("body.name is required", {{"body.name", "is required", ""}}));
  });
  const std::pair<const char*, unsigned> cases[] = {
      {"not_found", 404}, {"forbidden", 403}, {"conflict", 409}, {"unavailable", 503}, {"invalid", 400}};
  for (const auto& [kind, status] : cases) {
    const HttpResponse response = router_.Handle(Rpc("/v2/keys.fail", std::string(R"({"kind":")") + kind + "\"}"));
    EXPECT_EQ(response.status, status) << kind;
    EXPECT_EQ(Json(response)["error"]["status"], status) << kind;
    EXPECT_EQ(Json(response)["meta"]["requestId"], "req_test123");
  }
  const HttpResponse not_found = router_.Handle(Rpc("/v2/keys.fail", R"({"kind":"not_found"})"));
  EXPECT_EQ(Json(not_found)["error"]["detail"], "no key with id 'key_1'");
  const HttpResponse invalid = router_.Handle(Rpc("/v2/keys.fail", R"({"kind":"invalid"})"));
  EXPECT_EQ(Json(invalid)["error"]["errors"][0]["location"], "body.name");
}

TEST_F(RouterTest, AnExceptionFromAHandlerBecomesA500AndDoesNotEscape) {
  router_.AddRpc("/v2/keys.throwStd", [](const RpcContext&) -> Result<HttpResponse> {
    throw std::runtime_error("secret internals");
  });
  router_.AddRpc("/v2/keys.throwJson", [](const RpcContext& context) -> Result<HttpResponse> {
    return OkResponse("x", context.body.at("missing"));  // nlohmann throws out_of_range
  });
  router_.AddRpc("/v2/keys.throwOther", [](const RpcContext&) -> Result<HttpResponse> { throw 42; });
  router_.AddPlain("GET", "/v2/plainThrow", [](const HttpRequest&) -> HttpResponse {
    throw std::logic_error("plain");
  });

  for (const char* path : {"/v2/keys.throwStd", "/v2/keys.throwJson", "/v2/keys.throwOther"}) {
    HttpResponse response;
    EXPECT_NO_THROW(response = router_.Handle(Rpc(path))) << path;
    EXPECT_EQ(response.status, 500u) << path;
    const nlohmann::json body = Json(response);
    EXPECT_EQ(body["error"]["status"], 500) << path;
    EXPECT_EQ(body["meta"]["requestId"], "req_test123");
    // The detail points at the log by request id and leaks nothing of the exception.
    const std::string detail = body["error"]["detail"].get<std::string>();
    EXPECT_NE(detail.find("req_test123"), std::string::npos) << detail;
    EXPECT_EQ(response.body.find("secret internals"), std::string::npos) << response.body;
  }

  HttpRequest plain;
  plain.method = "GET";
  plain.path = "/v2/plainThrow";
  plain.request_id = "req_plain";
  HttpResponse response;
  EXPECT_NO_THROW(response = router_.Handle(plain));
  EXPECT_EQ(response.status, 500u);
}

// A prefix route answering with what it was given: the rest of the path and the root key's id.
class PrefixRouteTest : public RouterTest {
 protected:
  PrefixRouteTest() {
    for (const char* prefix : {"/things/", "/things/special/"}) {
      router_.AddPrefix("GET", prefix, [this, prefix](const PrefixContext& context) -> Result<HttpResponse> {
        ++handler_calls_;
        if (context.rest == "missing") return Fail(Error::NotFound("no thing 'missing'"));
        HttpResponse response;
        response.content_type = "text/plain";
        response.body = std::string(prefix) + "|" + std::string(context.rest) + "|" + context.root_key.id;
        return response;
      });
    }
  }

  static HttpRequest Get(std::string path, std::string authorization = std::string("Bearer ") + kGoodKey) {
    HttpRequest request;
    request.method = "GET";
    request.path = std::move(path);
    request.authorization = std::move(authorization);
    request.request_id = "req_get";
    return request;
  }
};

TEST_F(PrefixRouteTest, TheHandlerGetsTheRestOfThePathUnderTheLongestPrefix) {
  HttpResponse response = router_.Handle(Get("/things/inv_1.html"));
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(response.body, "/things/|inv_1.html|rk_good");
  response = router_.Handle(Get("/things/special/a/b"));
  EXPECT_EQ(response.body, "/things/special/|a/b|rk_good");
  // HEAD is GET without the body, as for plain routes.
  HttpRequest head = Get("/things/x");
  head.method = "HEAD";
  EXPECT_EQ(router_.Handle(head).status, 200u);
  EXPECT_EQ(handler_calls_, 3);
}

TEST_F(PrefixRouteTest, AnswersNameTheirRouteForMetricsNeverTheRawPath) {
  EXPECT_EQ(router_.Handle(Get("/things/inv_1.html")).route, "/things/*");
  EXPECT_EQ(router_.Handle(Get("/things/special/a")).route, "/things/special/*");
  EXPECT_EQ(router_.Handle(Get("/livez")).route, "/livez");
  // Errors too: a route's 401 is that route's; an unknown path is "other", whatever it is.
  EXPECT_EQ(router_.Handle(Get("/things/x", "Bearer wrong")).route, "/things/*");
  EXPECT_EQ(router_.Handle(Get("/no/such/path/req_123")).route, Router::kUnknownRoute);
  HttpRequest rpc;
  rpc.method = "GET";  // 405
  rpc.path = "/v2/keys.echo";
  EXPECT_EQ(router_.Handle(rpc).route, "/v2/keys.echo");
}

TEST_F(PrefixRouteTest, ThePrefixAloneOrAnotherPathIs404AndExactRoutesComeFirst) {
  for (const char* path : {"/things/", "/things", "/thingsx/y", "/other/things/y"}) {
    const HttpResponse response = router_.Handle(Get(path));
    EXPECT_EQ(response.status, 404u) << path;
    EXPECT_EQ(Json(response)["error"]["status"], 404) << path;
  }
  router_.AddPlain("GET", "/things/exact", [](const HttpRequest&) {
    HttpResponse response;
    response.body = "exact";
    return response;
  });
  EXPECT_EQ(router_.Handle(Get("/things/exact", "")).body, "exact");
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(PrefixRouteTest, NeedsAValidRootKeyLikeRpcRoutes) {
  for (const std::string authorization : {"", "Bearer", "Bearer wrong", "Basic tg_root_good"}) {
    const HttpResponse response = router_.Handle(Get("/things/x", authorization));
    EXPECT_EQ(response.status, 401u) << '"' << authorization << '"';
    EXPECT_EQ(Json(response)["error"]["status"], 401);
  }
  EXPECT_EQ(handler_calls_, 0);
  EXPECT_EQ(router_.Handle(Get("/things/x", "bearer tg_root_good")).status, 200u);
}

TEST_F(PrefixRouteTest, WrongMethodIs405AndHandlerErrorsKeepTheirStatus) {
  HttpRequest post = Get("/things/x");
  post.method = "POST";
  const HttpResponse wrong = router_.Handle(post);
  EXPECT_EQ(wrong.status, 405u);
  EXPECT_EQ(Header(wrong, "Allow"), "GET");

  const HttpResponse missing = router_.Handle(Get("/things/missing"));
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(Json(missing)["error"]["detail"], "no thing 'missing'");
  EXPECT_EQ(Json(missing)["meta"]["requestId"], "req_get");
}

TEST_F(PrefixRouteTest, PublicPrefixRoutesNeedNoRootKeyAndTakeTheLongestPrefix) {
  router_.AddPublicPrefix("GET", "/public/", [](const HttpRequest& request) {
    HttpResponse response;
    response.body = "public " + request.path;
    return response;
  });
  for (const std::string authorization : {"", "Bearer wrong"}) {
    const HttpResponse response = router_.Handle(Get("/public/a/b.js", authorization));
    EXPECT_EQ(response.status, 200u) << '"' << authorization << '"';
    EXPECT_EQ(response.body, "public /public/a/b.js");
    EXPECT_EQ(response.route, "/public/*");
  }
  // A root-key prefix under it still needs its key; the prefix alone is no match.
  router_.AddPrefix("GET", "/public/private/", [](const PrefixContext&) -> Result<HttpResponse> { return HttpResponse{}; });
  EXPECT_EQ(router_.Handle(Get("/public/private/x", "")).status, 401u);
  EXPECT_EQ(router_.Handle(Get("/public/", "")).status, 404u);
  HttpRequest post = Get("/public/a");
  post.method = "POST";
  EXPECT_EQ(router_.Handle(post).status, 405u);
}

TEST(RequireScopeTest, AllowsHeldScopesAndNamesAMissingOne) {
  RootKey key;
  key.permissions = {"api.*.create_key"};
  EXPECT_TRUE(RequireScope(key, "api.api_1.create_key").has_value());
  auto denied = RequireScope(key, "api.api_1.delete_key");
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, ErrorCode::kForbidden);
  EXPECT_NE(denied.error().detail.find("api.api_1.delete_key"), std::string::npos);
}

TEST(DumpJsonTest, InvalidUtf8IsReplacedInsteadOfThrowing) {
  const nlohmann::json value = {{"name", std::string("bad \xff byte")}};
  std::string text;
  EXPECT_NO_THROW(text = DumpJson(value));
  EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
}

}  // namespace
}  // namespace tollgate
