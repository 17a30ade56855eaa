// The wire shape of every response: {"meta":{"requestId"},"data"[,"pagination"]} on success and
// {"meta":{"requestId"},"error":{title,detail,status,type[,errors]}} on failure.
#include "http/envelope.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

nlohmann::json Json(const HttpResponse& response) {
  auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << response.body;
  return parsed;
}

std::set<std::string> Keys(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

TEST(OkResponseTest, WrapsDataWithTheRequestId) {
  const HttpResponse response = OkResponse("req_1", {{"keyId", "key_1"}});
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(response.content_type, "application/json");
  const nlohmann::json body = Json(response);
  EXPECT_EQ(Keys(body), (std::set<std::string>{"meta", "data"}));
  EXPECT_EQ(body["meta"], nlohmann::json({{"requestId", "req_1"}}));
  EXPECT_EQ(body["data"], nlohmann::json({{"keyId", "key_1"}}));
}

TEST(ListResponseTest, CursorMeansMore) {
  const nlohmann::json body = Json(ListResponse("req_2", nlohmann::json::array({1, 2}), "key_2"));
  EXPECT_EQ(Keys(body), (std::set<std::string>{"meta", "data", "pagination"}));
  EXPECT_EQ(body["meta"]["requestId"], "req_2");
  EXPECT_EQ(body["data"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(body["pagination"], nlohmann::json({{"hasMore", true}, {"cursor", "key_2"}}));
}

TEST(ListResponseTest, LastPageHasNoCursor) {
  const nlohmann::json body = Json(ListResponse("req_3", nlohmann::json::array(), std::nullopt));
  EXPECT_EQ(body["pagination"], nlohmann::json({{"hasMore", false}}));
  EXPECT_FALSE(body["pagination"].contains("cursor"));
  EXPECT_TRUE(body["data"].is_array());
}

TEST(ErrorResponseTest, HasTheProblemShapeAndNoErrorsOutside400) {
  const HttpResponse response = ErrorResponse("req_4", Error::NotFound("no key with id 'key_9'"));
  EXPECT_EQ(response.status, 404u);
  EXPECT_EQ(response.content_type, "application/json");
  const nlohmann::json body = Json(response);
  EXPECT_EQ(Keys(body), (std::set<std::string>{"meta", "error"}));
  EXPECT_EQ(body["meta"], nlohmann::json({{"requestId", "req_4"}}));
  EXPECT_EQ(body["error"], nlohmann::json({{"title", "Not Found"},
                                           {"detail", "no key with id 'key_9'"},
                                           {"status", 404},
                                           {"type", "urn:tollgate:error:not_found"}}));
}

TEST(ErrorResponseTest, InvalidInputListsEveryFieldWithFixOnlyWhenThereIsOne) {
  const Error error = Error::InvalidInput(
      "body.name is too long", {{"body.name", "must be at most 255 characters", ""},
                                {"body.ratelimits[0].duration", "must be at least 1000", "use milliseconds"}});
  const HttpResponse response = ErrorResponse("req_5", error);
  EXPECT_EQ(response.status, 400u);
  const nlohmann::json body = Json(response);
  EXPECT_EQ(body["error"]["title"], "Bad Request");
  EXPECT_EQ(body["error"]["status"], 400);
  EXPECT_EQ(body["error"]["type"], "urn:tollgate:error:invalid_input");
  EXPECT_EQ(body["error"]["detail"], "body.name is too long");
  EXPECT_EQ(body["error"]["errors"],
            nlohmann::json::array({{{"location", "body.name"}, {"message", "must be at most 255 characters"}},
                                   {{"location", "body.ratelimits[0].duration"},
                                    {"message", "must be at least 1000"},
                                    {"fix", "use milliseconds"}}}));
}

TEST(ErrorResponseTest, InvalidInputWithoutFieldsStillHasAnErrorsArray) {
  const nlohmann::json body = Json(ErrorResponse("req_6", Error::InvalidInput("bad config")));
  ASSERT_TRUE(body["error"].contains("errors"));
  EXPECT_EQ(body["error"]["errors"], nlohmann::json::array());
}

TEST(ErrorResponseTest, FieldsOfANon400ErrorAreNotShown) {
  const Error error{ErrorCode::kForbidden, "lacks a scope", {{"body.apiId", "not yours", ""}}};
  const nlohmann::json body = Json(ErrorResponse("req_7", error));
  EXPECT_EQ(body["error"]["status"], 403);
  EXPECT_FALSE(body["error"].contains("errors"));
}

TEST(ErrorResponseTest, EmptyDetailFallsBackToTheTitle) {
  const nlohmann::json body = Json(ErrorResponse("req_8", Error{ErrorCode::kTooManyRequests, "", {}}));
  EXPECT_EQ(body["error"]["detail"], "Too Many Requests");
  EXPECT_EQ(body["error"]["status"], 429);
}

TEST(ErrorResponseTest, InvalidUtf8InUserInputStillGivesValidJson) {
  const Error error = Error::InvalidInput("bad \xff name", {{"body.name", "got \xfe", ""}});
  HttpResponse response;
  EXPECT_NO_THROW(response = ErrorResponse("req_9", error));
  EXPECT_EQ(response.status, 400u);
  const nlohmann::json body = Json(response);
  EXPECT_EQ(body["error"]["errors"][0]["location"], "body.name");
}

TEST(HttpStatusOfTest, EveryErrorCodeHasItsStatus) {
  const std::pair<ErrorCode, unsigned> cases[] = {
      {ErrorCode::kInvalidInput, 400},     {ErrorCode::kUnauthorized, 401},
      {ErrorCode::kForbidden, 403},        {ErrorCode::kNotFound, 404},
      {ErrorCode::kMethodNotAllowed, 405}, {ErrorCode::kConflict, 409},
      {ErrorCode::kPayloadTooLarge, 413},  {ErrorCode::kUnsupportedMedia, 415},
      {ErrorCode::kTooManyRequests, 429},  {ErrorCode::kHeadersTooLarge, 431},
      {ErrorCode::kInternal, 500},         {ErrorCode::kUnavailable, 503},
  };
  for (const auto& [code, status] : cases) {
    EXPECT_EQ(HttpStatusOf(code), status) << static_cast<int>(code);
    EXPECT_EQ(ErrorResponse("r", Error{code, "d", {}}).status, status) << static_cast<int>(code);
  }
}

}  // namespace
}  // namespace tollgate
