// FieldReader: typed reads of a JSON object that collect every problem with its location.
#include "http/field_reader.h"

#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

class FieldReaderTest : public ::testing::Test {
 protected:
  // Parses `json` and makes a reader of it at "body".
  FieldReader Read(const std::string& json) {
    body_ = nlohmann::json::parse(json);
    return FieldReader(body_, "body", errors_);
  }

  // The one recorded error, as "location: message".
  std::string OnlyError() {
    EXPECT_EQ(errors_.size(), 1u);
    if (errors_.size() != 1) return "";
    return errors_[0].location + ": " + errors_[0].message;
  }

  nlohmann::json body_;
  std::vector<FieldError> errors_;
};

// ---- strings ----

TEST_F(FieldReaderTest, RequiredStringReturnsTheValue) {
  FieldReader reader = Read(R"({"name":"checkout"})");
  EXPECT_EQ(reader.RequiredString("name"), "checkout");
  EXPECT_TRUE(reader.ok());
}

TEST_F(FieldReaderTest, RequiredStringMissingOrNullIsRequired) {
  FieldReader reader = Read(R"({"other":1,"name":null})");
  reader.RequiredString("apiId");
  reader.RequiredString("name");
  ASSERT_EQ(errors_.size(), 2u);
  EXPECT_EQ(errors_[0].location, "body.apiId");
  EXPECT_EQ(errors_[0].message, "is required");
  EXPECT_EQ(errors_[1].location, "body.name");
  EXPECT_EQ(errors_[1].message, "is required");
  EXPECT_FALSE(reader.ok());
}

TEST_F(FieldReaderTest, NulCharactersAreRefusedInStringsAndStringArrays) {
  FieldReader reader = Read(R"({"identifier":"a\u0000b","tags":["ok","x\u0000"]})");
  EXPECT_EQ(reader.OptionalString("identifier"), std::nullopt);
  EXPECT_EQ(reader.OptionalStringArray("tags", 8), std::nullopt);
  ASSERT_EQ(errors_.size(), 2u);
  EXPECT_EQ(errors_[0].location, "body.identifier");
  EXPECT_NE(errors_[0].message.find("NUL"), std::string::npos) << errors_[0].message;
  EXPECT_EQ(errors_[1].location, "body.tags[1]");
}

TEST_F(FieldReaderTest, StringOfWrongTypeNamesFieldAndActualType) {
  FieldReader reader = Read(R"({"name":42})");
  reader.RequiredString("name");
  EXPECT_EQ(OnlyError(), "body.name: must be a string, got an integer");
}

TEST_F(FieldReaderTest, EachJsonTypeIsNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"true", "a boolean"}, {"1.5", "a number"}, {"-3", "an integer"},
      {"[1]", "an array"},   {"{}", "an object"}, {"\"s\"", "a string"},
  };
  for (const auto& [json, type] : cases) {
    errors_.clear();
    FieldReader reader = Read(std::string(R"({"flag":)") + json + "}");
    reader.OptionalBool("flag");
    if (std::string(type) == "a boolean") {
      EXPECT_TRUE(errors_.empty()) << json;
      continue;
    }
    EXPECT_EQ(OnlyError(), std::string("body.flag: must be a boolean, got ") + type) << json;
  }
}

TEST_F(FieldReaderTest, OptionalStringAbsentOrNullIsNulloptWithoutError) {
  FieldReader reader = Read(R"({"name":null})");
  EXPECT_EQ(reader.OptionalString("name"), std::nullopt);
  EXPECT_EQ(reader.OptionalString("prefix"), std::nullopt);
  EXPECT_TRUE(reader.ok());
  EXPECT_TRUE(reader.IsNull("name"));
  EXPECT_TRUE(reader.Has("name"));
  EXPECT_FALSE(reader.Has("prefix"));
  EXPECT_FALSE(reader.IsNull("prefix"));
}

TEST_F(FieldReaderTest, OptionalStringEmptyIsAValue) {
  FieldReader reader = Read(R"({"name":""})");
  EXPECT_EQ(reader.OptionalString("name"), "");
  EXPECT_TRUE(reader.ok());
}

TEST_F(FieldReaderTest, StringLengthOutsideTheBoundsIsRefused) {
  FieldReader reader = Read(R"({"short":"ab","long":"abcdef","exact":"abcd","fixed":"abc"})");
  EXPECT_EQ(reader.OptionalString("short", 3, 5), std::nullopt);
  EXPECT_EQ(reader.OptionalString("long", 3, 5), std::nullopt);
  EXPECT_EQ(reader.OptionalString("exact", 3, 5), "abcd");
  EXPECT_EQ(reader.OptionalString("fixed", 4, 4), std::nullopt);
  ASSERT_EQ(errors_.size(), 3u);
  EXPECT_EQ(errors_[0].location, "body.short");
  EXPECT_EQ(errors_[0].message, "must be 3 to 5 characters long");
  EXPECT_EQ(errors_[1].location, "body.long");
  EXPECT_EQ(errors_[2].message, "must be 4 characters");
}

TEST_F(FieldReaderTest, RequiredStringDefaultsToNonEmpty) {
  FieldReader reader = Read(R"({"apiId":""})");
  reader.RequiredString("apiId");
  EXPECT_EQ(OnlyError(), "body.apiId: must be 1 to 1024 characters long");
}

// ---- integers ----

TEST_F(FieldReaderTest, IntegersAreRead) {
  FieldReader reader = Read(R"({"a":5,"b":-7,"c":0,"d":9223372036854775807,"e":-9223372036854775808})");
  EXPECT_EQ(reader.RequiredInt("a"), 5);
  EXPECT_EQ(reader.OptionalInt("b"), -7);
  EXPECT_EQ(reader.OptionalInt("c"), 0);
  EXPECT_EQ(reader.OptionalInt("d"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(reader.OptionalInt("e"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(reader.OptionalInt("absent"), std::nullopt);
  EXPECT_TRUE(reader.ok());
}

TEST_F(FieldReaderTest, RequiredIntMissingIsRequired) {
  FieldReader reader = Read("{}");
  EXPECT_EQ(reader.RequiredInt("limit"), 0);
  EXPECT_EQ(OnlyError(), "body.limit: is required");
}

TEST_F(FieldReaderTest, IntegralFloatIsAcceptedAndFractionalIsRefused) {
  FieldReader reader = Read(R"({"whole":5.0,"negative":-2.0,"fraction":5.5})");
  EXPECT_EQ(reader.OptionalInt("whole"), 5);
  EXPECT_EQ(reader.OptionalInt("negative"), -2);
  EXPECT_EQ(reader.OptionalInt("fraction"), std::nullopt);
  EXPECT_EQ(OnlyError(), "body.fraction: must be an integer, got a number");
}

TEST_F(FieldReaderTest, IntOfWrongTypeNamesFieldAndActualType) {
  FieldReader reader = Read(R"({"limit":"10","cost":true,"refill":{}})");
  reader.OptionalInt("limit");
  reader.OptionalInt("cost");
  reader.RequiredInt("refill");
  ASSERT_EQ(errors_.size(), 3u);
  EXPECT_EQ(errors_[0].location + ": " + errors_[0].message, "body.limit: must be an integer, got a string");
  EXPECT_EQ(errors_[1].location + ": " + errors_[1].message, "body.cost: must be an integer, got a boolean");
  EXPECT_EQ(errors_[2].location + ": " + errors_[2].message, "body.refill: must be an integer, got an object");
}

TEST_F(FieldReaderTest, IntOutsideTheRangeIsRefusedNamingTheRange) {
  FieldReader reader = Read(R"({"low":0,"high":11,"ok":10,"float_high":11.0})");
  EXPECT_EQ(reader.OptionalInt("low", 1, 10), std::nullopt);
  EXPECT_EQ(reader.OptionalInt("high", 1, 10), std::nullopt);
  EXPECT_EQ(reader.OptionalInt("ok", 1, 10), 10);
  EXPECT_EQ(reader.OptionalInt("float_high", 1, 10), std::nullopt);
  ASSERT_EQ(errors_.size(), 3u);
  EXPECT_EQ(errors_[0].location, "body.low");
  EXPECT_EQ(errors_[0].message, "must be between 1 and 10");
  EXPECT_EQ(errors_[1].location, "body.high");
  EXPECT_EQ(errors_[2].location, "body.float_high");
}

TEST_F(FieldReaderTest, UnsignedBeyondInt64IsRefusedNotWrapped) {
  FieldReader reader = Read(R"({"huge":18446744073709551615,"just_over":9223372036854775808})");
  EXPECT_EQ(reader.OptionalInt("huge"), std::nullopt);
  EXPECT_EQ(reader.OptionalInt("just_over"), std::nullopt);
  ASSERT_EQ(errors_.size(), 2u);
  EXPECT_EQ(errors_[0].location, "body.huge");
  EXPECT_EQ(errors_[0].message, "must be at most 9223372036854775807");
  EXPECT_EQ(errors_[1].location, "body.just_over");
}

TEST_F(FieldReaderTest, UnsignedAboveASmallMaxIsRefused) {
  FieldReader reader = Read(R"({"byteLength":18446744073709551615})");
  EXPECT_EQ(reader.OptionalInt("byteLength", 16, 255), std::nullopt);
  EXPECT_EQ(OnlyError(), "body.byteLength: must be at most 255");
}

TEST_F(FieldReaderTest, FloatsBeyondInt64AreRefused) {
  // Larger than any uint64, so nlohmann parses them as floating point.
  FieldReader reader = Read(R"({"a":1e19,"b":-1e19,"c":1e300,"d":18446744073709551616})");
  for (const char* name : {"a", "b", "c", "d"}) EXPECT_EQ(reader.OptionalInt(name), std::nullopt) << name;
  ASSERT_EQ(errors_.size(), 4u);
  for (const FieldError& error : errors_) EXPECT_EQ(error.message, "must be an integer, got a number");
}

// ---- booleans, arrays, objects ----

TEST_F(FieldReaderTest, BooleansAreRead) {
  FieldReader reader = Read(R"({"yes":true,"no":false,"text":"true"})");
  EXPECT_EQ(reader.OptionalBool("yes"), true);
  EXPECT_EQ(reader.OptionalBool("no"), false);
  EXPECT_EQ(reader.OptionalBool("absent"), std::nullopt);
  EXPECT_EQ(reader.OptionalBool("text"), std::nullopt);
  EXPECT_EQ(OnlyError(), "body.text: must be a boolean, got a string");
}

TEST_F(FieldReaderTest, StringArraysAreRead) {
  FieldReader reader = Read(R"({"roles":["admin","reader"],"none":[]})");
  EXPECT_EQ(reader.OptionalStringArray("roles"), (std::vector<std::string>{"admin", "reader"}));
  EXPECT_EQ(reader.OptionalStringArray("none"), std::vector<std::string>{});
  EXPECT_EQ(reader.OptionalStringArray("absent"), std::nullopt);
  EXPECT_TRUE(reader.ok());
}

TEST_F(FieldReaderTest, StringArrayProblemsNameTheItem) {
  FieldReader reader = Read(R"({"roles":["admin",7],"permissions":"a.b","tags":["a","b","c"]})");
  EXPECT_EQ(reader.OptionalStringArray("roles"), std::nullopt);
  EXPECT_EQ(reader.OptionalStringArray("permissions"), std::nullopt);
  EXPECT_EQ(reader.OptionalStringArray("tags", 2), std::nullopt);
  ASSERT_EQ(errors_.size(), 3u);
  EXPECT_EQ(errors_[0].location, "body.roles[1]");
  EXPECT_EQ(errors_[0].message, "must be a string, got an integer");
  EXPECT_EQ(errors_[1].location, "body.permissions");
  EXPECT_EQ(errors_[1].message, "must be an array of strings, got a string");
  EXPECT_EQ(errors_[2].location, "body.tags");
  EXPECT_EQ(errors_[2].message, "must hold at most 2 items");
}

TEST_F(FieldReaderTest, ObjectTextIsCompactJson) {
  FieldReader reader = Read(R"({"meta": { "plan" : "pro", "seats": 3 }})");
  EXPECT_EQ(reader.OptionalObjectText("meta"), R"({"plan":"pro","seats":3})");
  EXPECT_EQ(reader.OptionalObjectText("absent"), std::nullopt);
  EXPECT_TRUE(reader.ok());
}

TEST_F(FieldReaderTest, ObjectTextProblems) {
  FieldReader reader = Read(R"({"meta":[1],"big":{"k":"0123456789"}})");
  EXPECT_EQ(reader.OptionalObjectText("meta"), std::nullopt);
  EXPECT_EQ(reader.OptionalObjectText("big", 10), std::nullopt);
  ASSERT_EQ(errors_.size(), 2u);
  EXPECT_EQ(errors_[0].location + ": " + errors_[0].message, "body.meta: must be an object, got an array");
  EXPECT_EQ(errors_[1].location + ": " + errors_[1].message, "body.big: must be at most 10 bytes as JSON");
}

TEST_F(FieldReaderTest, ObjectAndArrayPointersAndNestedLocations) {
  FieldReader reader = Read(R"({"credits":{"remaining":"many","refill":{"amount":0}},"ratelimits":[{}],"bad":1})");
  const nlohmann::json* credits = reader.OptionalObject("credits");
  ASSERT_NE(credits, nullptr);
  FieldReader credits_reader(*credits, reader.At("credits"), errors_);
  credits_reader.OptionalInt("remaining");
  const nlohmann::json* refill = credits_reader.OptionalObject("refill");
  ASSERT_NE(refill, nullptr);
  FieldReader refill_reader(*refill, credits_reader.At("refill"), errors_);
  refill_reader.OptionalInt("amount", 1);

  const nlohmann::json* ratelimits = reader.OptionalArray("ratelimits");
  ASSERT_NE(ratelimits, nullptr);
  EXPECT_EQ(ratelimits->size(), 1u);
  EXPECT_EQ(reader.OptionalArray("bad"), nullptr);
  EXPECT_EQ(reader.OptionalObject("bad"), nullptr);
  EXPECT_EQ(reader.OptionalObject("absent"), nullptr);

  ASSERT_EQ(errors_.size(), 4u);
  EXPECT_EQ(errors_[0].location, "body.credits.remaining");
  EXPECT_EQ(errors_[1].location, "body.credits.refill.amount");
  EXPECT_EQ(errors_[2].location + ": " + errors_[2].message, "body.bad: must be an array, got an integer");
  EXPECT_EQ(errors_[3].location + ": " + errors_[3].message, "body.bad: must be an object, got an integer");
}

TEST_F(FieldReaderTest, AddErrorKeepsTheFix) {
  FieldReader reader = Read("{}");
  reader.AddError(reader.At("expires"), "is in the past", "use a future Unix time in milliseconds");
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0].location, "body.expires");
  EXPECT_EQ(errors_[0].fix, "use a future Unix time in milliseconds");
}

}  // namespace
}  // namespace tollgate
