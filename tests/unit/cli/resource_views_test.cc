#include "cli/resource_views.h"

#include <string>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

using nlohmann::json;

// 2024-02-29T12:00:00Z and a day later.
constexpr std::int64_t kCreated = 1'709'208'000'000;
constexpr std::int64_t kExpires = kCreated + 86'400'000;

json FullKey() {
  return json::parse(R"({
    "keyId": "key_1", "start": "sk_3xY9", "enabled": true, "name": "checkout",
    "createdAt": 1709208000000, "updatedAt": 1709208000000, "expires": 1709294400000,
    "credits": {"remaining": 42, "refill": {"interval": "monthly", "amount": 100, "refillDay": 1}},
    "identity": {"id": "id_9", "externalId": "acme"},
    "permissions": ["documents.read", "documents.write"], "roles": ["admin"],
    "ratelimits": [{"id": "rl_1", "name": "requests", "limit": 100, "duration": 60000, "autoApply": true}],
    "meta": {"plan": "pro"}
  })");
}

std::string Value(const RecordFields& fields, const std::string& label) {
  for (const auto& [name, value] : fields) {
    if (name == label) return value;
  }
  return "<absent>";
}

TEST(RenderKeyTable, ShowsOneRowPerKeyWithReadableValues) {
  const json bare = {
      {"keyId", "key_2"}, {"start", "3xY9"}, {"enabled", false}, {"createdAt", kCreated}};
  EXPECT_EQ(
      RenderKeyTable({FullKey(), bare}),
      "KEY ID  START    NAME      IDENTITY  ENABLED  EXPIRES               CREDITS    CREATED\n"
      "key_1   sk_3xY9  checkout  acme      yes      2024-03-01T12:00:00Z  42         "
      "2024-02-29T12:00:00Z\n"
      "key_2   3xY9     -         -         no       never                 unlimited  "
      "2024-02-29T12:00:00Z\n");
}

TEST(KeyRecord, ShowsEveryFieldOfAFullKey) {
  const RecordFields fields = KeyRecord(FullKey());
  EXPECT_EQ(Value(fields, "Key ID"), "key_1");
  EXPECT_EQ(Value(fields, "Identity"), "acme (id_9)");
  EXPECT_EQ(Value(fields, "Created"), "2024-02-29T12:00:00Z");
  EXPECT_EQ(Value(fields, "Expires"), "2024-03-01T12:00:00Z");
  EXPECT_EQ(Value(fields, "Credits"), "42 (refills to 100 monthly on day 1)");
  EXPECT_EQ(Value(fields, "Permissions"), "documents.read\ndocuments.write");
  EXPECT_EQ(Value(fields, "Roles"), "admin");
  EXPECT_EQ(Value(fields, "Ratelimits"), "requests: 100 per 1m (auto-applied)");
  EXPECT_EQ(Value(fields, "Meta"), R"({"plan":"pro"})");
}

TEST(KeyRecord, LeavesOutOptionalFieldsAKeyDoesNotHave) {
  const RecordFields fields = KeyRecord({{"keyId", "key_2"}, {"enabled", true}, {"name", nullptr}});
  EXPECT_EQ(Value(fields, "Name"), "-");
  EXPECT_EQ(Value(fields, "Expires"), "never");
  EXPECT_EQ(Value(fields, "Credits"), "unlimited");
  EXPECT_EQ(Value(fields, "Permissions"), "<absent>");
  EXPECT_EQ(Value(fields, "Meta"), "<absent>");
  EXPECT_EQ(Value(fields, "Updated"), "<absent>");
}

TEST(KeyRecord, SurvivesUnexpectedShapes) {
  // A newer server or a proxy may send anything; the CLI shows what it can and never throws.
  const json odd = {{"keyId", 7},        {"enabled", "yes"},        {"createdAt", "yesterday"},
                    {"credits", "lots"}, {"permissions", {1, "x"}}, {"identity", 3}};
  const RecordFields fields = KeyRecord(odd);
  EXPECT_EQ(Value(fields, "Key ID"), "7");
  EXPECT_EQ(Value(fields, "Enabled"), "-");
  EXPECT_EQ(Value(fields, "Created"), "-");
  EXPECT_EQ(Value(fields, "Credits"), "unlimited");
  EXPECT_EQ(Value(fields, "Permissions"), "1\nx");
  EXPECT_NO_THROW(KeyRecord(json::array()));
  EXPECT_NO_THROW(RenderKeyTable({json("string"), json()}));
}

TEST(DescribeCredits, NamesTheRefill) {
  const json daily = {{"remaining", 5}, {"refill", {{"interval", "daily"}, {"amount", 10}}}};
  EXPECT_EQ(DescribeCredits(&daily), "5 (refills to 10 daily)");
  const json unlimited = {{"remaining", nullptr}};
  EXPECT_EQ(DescribeCredits(&unlimited), "unlimited");
  EXPECT_EQ(DescribeCredits(nullptr), "unlimited");
}

TEST(VerifyRecord, PutsTheCodeFirstAndDescribesTheKey) {
  const json result = json::parse(R"({
    "valid": false, "code": "DISABLED", "keyId": "key_1", "name": "checkout", "enabled": false,
    "credits": 3, "identity": {"id": "id_9", "externalId": "acme"},
    "ratelimits": [{"name": "requests", "exceeded": true, "limit": 10, "remaining": 0,
                    "duration": 60000, "reset": 1709208060000}]
  })");
  const RecordFields fields = VerifyRecord(result);
  ASSERT_GE(fields.size(), 2u);
  EXPECT_EQ(fields[0], (std::pair<std::string, std::string>{"Code", "DISABLED"}));
  EXPECT_EQ(fields[1], (std::pair<std::string, std::string>{"Valid", "no"}));
  EXPECT_EQ(Value(fields, "Enabled"), "no");
  EXPECT_EQ(Value(fields, "Credits"), "3");
  EXPECT_EQ(Value(fields, "Identity"), "acme (id_9)");
  EXPECT_EQ(Value(fields, "Ratelimits"),
            "requests: 0 of 10 left per 1m, resets 2024-02-29T12:01:00Z (exceeded)");
}

TEST(VerifyRecord, ShowsOnlyTheCodeForAnUnknownKey) {
  const RecordFields fields = VerifyRecord({{"valid", false}, {"code", "NOT_FOUND"}});
  EXPECT_EQ(fields, (RecordFields{{"Code", "NOT_FOUND"}, {"Valid", "no"}}));
}

TEST(RenderRootKeyTable, JoinsPermissionsAndNeverNeedsTheSecret) {
  const json keys = json::parse(R"([
    {"keyId": "rk_1", "name": "ci", "start": "tg_root_ab", "permissions": ["api.*.create_key", "api.*.read_key"],
     "createdAt": 1709208000000}
  ])");
  EXPECT_EQ(RenderRootKeyTable(keys),
            "KEY ID  NAME  START       PERMISSIONS                      CREATED\n"
            "rk_1    ci    tg_root_ab  api.*.create_key,api.*.read_key  2024-02-29T12:00:00Z\n");
}

}  // namespace
}  // namespace tollgate
