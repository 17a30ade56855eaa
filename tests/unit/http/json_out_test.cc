// JsonOut prints what nlohmann would build: the verify answer is written with it, every other
// answer with nlohmann, and a client must not be able to tell.
#include "http/json_out.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/envelope.h"
#include "http/key_json.h"

namespace tollgate {
namespace {

nlohmann::json Parsed(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << text;
  return parsed;
}

TEST(JsonOutTest, EscapesWhatJsonRequires) {
  const std::string nasty = std::string("quote\" backslash\\ newline\n tab\t nul") + '\0' + " \x1f bell\x07 é 🚀 </script>";
  JsonOut out;
  out.StartObject().Field("s", nasty).EndObject();
  const std::string text = out.Take();
  EXPECT_EQ(Parsed(text)["s"], nasty);
  for (char c : text) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "a raw control character in " << text;
}

TEST(JsonOutTest, WritesNumbersBooleansNullsAndRawValues) {
  JsonOut out;
  out.StartObject()
      .Field("min", std::int64_t{INT64_MIN})
      .Field("max", std::int64_t{INT64_MAX})
      .Field("yes", true)
      .Key("none").Null()
      .Key("meta").Raw(R"({"plan":"pro","n":[1,2]})")
      .Key("list").Strings({"a", "b"})
      .EndObject();
  EXPECT_EQ(Parsed(out.Take()), nlohmann::json({{"min", INT64_MIN}, {"max", INT64_MAX}, {"yes", true}, {"none", nullptr},
                                                {"meta", {{"plan", "pro"}, {"n", {1, 2}}}}, {"list", {"a", "b"}}}));
}

TEST(JsonOutTest, EachDocumentStartsEmptyOnTheSameThread) {
  JsonOut first;
  first.StartArray().String("first").EndArray();
  EXPECT_EQ(first.Take(), R"(["first"])");
  JsonOut second;
  second.StartArray().EndArray();
  EXPECT_EQ(second.Take(), "[]");
}

TEST(JsonOutTest, ANestedDocumentDoesNotDisturbTheOuterOne) {
  JsonOut outer;
  outer.StartObject().Field("a", std::int64_t{1});
  {
    JsonOut inner;
    inner.StartArray().String("inner").EndArray();
    EXPECT_EQ(inner.Take(), R"(["inner"])");
  }
  outer.Field("b", std::int64_t{2}).EndObject();
  EXPECT_EQ(outer.Take(), R"({"a":1,"b":2})");
  JsonOut after;  // the thread's buffer is free again, and empty
  after.StartArray().EndArray();
  EXPECT_EQ(after.Take(), "[]");
}

TEST(JsonOutTest, IdentityMatchesTheNlohmannForm) {
  Identity identity;
  identity.id = "id_1";
  identity.external_id = "acme \"corp\"";
  identity.meta_json = R"({"region":"eu","seats":3})";
  identity.tier = "pro";
  identity.anniversary_billing = true;
  RateLimitConfig limit;
  limit.id = "rl_1";
  limit.name = "requests";
  limit.limit = 100;
  limit.duration_ms = 60'000;
  limit.auto_apply = true;
  limit.algorithm = RateLimitAlgorithm::kTokenBucket;
  identity.ratelimits = {limit};
  JsonOut out;
  WriteIdentity(out, identity);
  EXPECT_EQ(Parsed(out.Take()), IdentityToJson(identity));

  Identity bare;
  bare.id = "id_2";
  bare.external_id = "solo";
  JsonOut bare_out;
  WriteIdentity(bare_out, bare);
  EXPECT_EQ(Parsed(bare_out.Take()), IdentityToJson(bare));
}

TEST(JsonOutTest, OkResponseWithMatchesOkResponse) {
  const HttpResponse streamed = OkResponseWith("req_1", [](JsonOut& out) {
    out.StartObject().Field("valid", true).Field("code", "VALID").EndObject();
  });
  const HttpResponse built = OkResponse("req_1", {{"valid", true}, {"code", "VALID"}});
  EXPECT_EQ(streamed.status, built.status);
  EXPECT_EQ(streamed.content_type, built.content_type);
  EXPECT_EQ(Parsed(streamed.body), Parsed(built.body));
}

}  // namespace
}  // namespace tollgate
