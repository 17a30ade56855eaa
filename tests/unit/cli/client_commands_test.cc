#include "cli/client_commands.h"

#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include "cli_test_support.h"

namespace tollgate {
namespace {

using nlohmann::json;

TEST_F(ClientCommandsTest, ApisCreatePrintsTheBareIdForScripts) {
  server_.AnswerData({{"apiId", "api_1"}});

  EXPECT_EQ(Run("apis create --name payments"), kExitOk);

  EXPECT_EQ(OnlyRequest("/v2/apis.createApi"), (json{{"name", "payments"}}));
  EXPECT_EQ(out_.str(), "api_1\n");
  ASSERT_EQ(server_.connections.size(), 1u);
  EXPECT_EQ(server_.connections[0].first, "tollgate.test:9000");
  EXPECT_EQ(server_.connections[0].second, kRootKey);
}

TEST_F(ClientCommandsTest, ApisGetAndDelete) {
  server_.AnswerData({{"id", "api_1"}, {"name", "payments"}});
  EXPECT_EQ(Run("apis get api_1"), kExitOk);
  EXPECT_EQ(out_.str(), "API ID  api_1\nName    payments\n");

  server_.AnswerData(json::object());
  out_.str("");
  EXPECT_EQ(Run("apis delete api_1"), kExitOk);
  EXPECT_EQ(server_.sent.back().path, "/v2/apis.deleteApi");
  EXPECT_EQ(server_.sent.back().body, (json{{"apiId", "api_1"}}));
  EXPECT_EQ(out_.str(), "Deleted API api_1\n");
}

TEST_F(ClientCommandsTest, KeysCreateSendsEveryFlagAndShowsTheKeyOnce) {
  server_.AnswerData({{"keyId", "key_1"}, {"key", "sk_abc"}});

  EXPECT_EQ(
      Run("keys create --api-id api_1 --prefix sk --name checkout --external-id acme "
          "--byte-length 24 --expires-in 30d --credits 5 --refill-monthly 100 --refill-day 15 "
          "--permission a --permission b,c --role admin --meta '{\"plan\":\"pro\"}' --disabled"),
      kExitOk);

  EXPECT_EQ(OnlyRequest("/v2/keys.createKey"), json::parse(R"({
    "apiId": "api_1", "prefix": "sk", "name": "checkout", "externalId": "acme", "byteLength": 24,
    "expires": 1711800000000,
    "credits": {"remaining": 5, "refill": {"interval": "monthly", "amount": 100, "refillDay": 15}},
    "permissions": ["a", "b", "c"], "roles": ["admin"], "meta": {"plan": "pro"}, "enabled": false
  })"));
  EXPECT_EQ(out_.str(), "Key ID  key_1\nKey     sk_abc\n");
  EXPECT_NE(err_.str().find("shown only once"), std::string::npos);
}

TEST_F(ClientCommandsTest, KeysCreateSendsOnlyWhatWasGiven) {
  server_.AnswerData({{"keyId", "key_1"}, {"key", "abc"}});

  EXPECT_EQ(Run("keys create --api-id api_1"), kExitOk);

  EXPECT_EQ(OnlyRequest("/v2/keys.createKey"), (json{{"apiId", "api_1"}}));
}

TEST_F(ClientCommandsTest, KeysCreateRefillStartsFullUnlessCreditsAreGiven) {
  server_.AnswerData({{"keyId", "key_1"}, {"key", "abc"}});

  EXPECT_EQ(Run("keys create --api-id api_1 --refill-daily 10 --expires 2024-03-01"), kExitOk);

  const json& body = OnlyRequest("/v2/keys.createKey");
  EXPECT_EQ(body["credits"],
            json::parse(R"({"remaining": 10, "refill": {"interval": "daily", "amount": 10}})"));
  EXPECT_EQ(body["expires"], kNow + 86'400'000 / 2);  // midnight after kNow's noon
}

TEST_F(ClientCommandsTest, BadValuesAreUsageErrorsAndSendNothing) {
  struct Case {
    const char* command;
    const char* message;
  };
  const Case cases[] = {
      {"keys create --api-id a --expires-in 3w", "invalid duration \"3w\""},
      {"keys create --api-id a --expires-in 0s", "longer than 0"},
      {"keys create --api-id a --expires soon", "invalid time \"soon\""},
      {"keys create --api-id a --meta [1]", "--meta must be a JSON object"},
      {"keys update key_1 --meta nope", "--meta must be a JSON object"},
      {"keys update key_1", "nothing to update"},
      {"keys reroll key_1 --expiration 1x", "--expiration: invalid duration"},
  };
  for (const Case& c : cases) {
    err_.str("");
    EXPECT_EQ(Run(c.command), kExitUsage) << c.command;
    EXPECT_NE(err_.str().find(c.message), std::string::npos) << c.command << ": " << err_.str();
  }
  EXPECT_TRUE(server_.sent.empty());
}

TEST_F(ClientCommandsTest, ConflictingFlagsAreRejectedByTheParser) {
  EXPECT_THROW(Run("keys create --api-id a --refill-daily 1 --refill-monthly 1"), CLI::ParseError);
  EXPECT_THROW(Run("keys create --api-id a --expires 1 --expires-in 1d"), CLI::ParseError);
  EXPECT_THROW(Run("keys create --api-id a --refill-day 3"), CLI::ParseError);
  EXPECT_THROW(Run("keys update key_1 --enable --disable"), CLI::ParseError);
  EXPECT_THROW(Run("keys create --api-id a --credits -1"), CLI::ParseError);
  EXPECT_THROW(Run("keys create"), CLI::ParseError);
  EXPECT_TRUE(server_.sent.empty());
}

TEST_F(ClientCommandsTest, ApiErrorsGoToStderrWithTheRequestIdAndExit1) {
  const json bad_request = json::parse(R"({
    "meta": {"requestId": "req_42"},
    "error": {"title": "Bad Request", "detail": "body.apiId is required", "status": 400,
              "errors": [{"location": "body.apiId", "message": "is required",
                          "fix": "pass an apiId"}]}
  })");
  server_.Answer(400, bad_request, "req_42");

  EXPECT_EQ(Run("keys get key_1"), kExitApiError);

  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(),
            "error: Bad Request: body.apiId is required\n"
            "  body.apiId: is required (fix: pass an apiId)\n"
            "request id: req_42\n");
  EXPECT_EQ(err_.str().find(kRootKey), std::string::npos);
}

TEST_F(ClientCommandsTest, AnErrorWithoutAnEnvelopeStillSaysWhatHappened) {
  server_.Answer(503, json::object(), "");
  EXPECT_EQ(Run("keys get key_1"), kExitApiError);
  EXPECT_EQ(err_.str(), "error: HTTP 503\n");
}

TEST_F(ClientCommandsTest, AnUnreachableServerIsExit2) {
  server_.FailToConnect("cannot reach tollgate at http://tollgate.test:9000: Connection refused");
  EXPECT_EQ(Run("keys get key_1"), kExitUsage);
  EXPECT_EQ(err_.str(),
            "error: cannot reach tollgate at http://tollgate.test:9000: Connection refused\n");
}

TEST_F(ClientCommandsTest, MissingRootKeyIsExit2BeforeAnyRequest) {
  unsetenv("TOLLGATE_ROOT_KEY");
  app_.parse(std::string("keys get key_1 --url http://tollgate.test:9000"));
  EXPECT_EQ(exit_code_, kExitUsage);
  EXPECT_NE(err_.str().find("TOLLGATE_ROOT_KEY"), std::string::npos);
  EXPECT_TRUE(server_.connections.empty());
}

TEST_F(ClientCommandsTest, UrlAndRootKeyComeFromTheEnvironment) {
  setenv("TOLLGATE_URL", "http://env.test:1234/prefix", 1);
  setenv("TOLLGATE_ROOT_KEY", "tg_root_FROM_ENV", 1);
  server_.AnswerData({{"id", "api_1"}, {"name", "n"}});
  app_.parse(std::string("apis get api_1"));
  unsetenv("TOLLGATE_URL");
  unsetenv("TOLLGATE_ROOT_KEY");

  EXPECT_EQ(exit_code_, kExitOk);
  ASSERT_EQ(server_.connections.size(), 1u);
  EXPECT_EQ(server_.connections[0].first, "env.test:1234/prefix");
  EXPECT_EQ(server_.connections[0].second, "tg_root_FROM_ENV");
}

TEST_F(ClientCommandsTest, AnInvalidUrlIsExit2) {
  app_.parse(std::string("keys get key_1 --url ftp://x --root-key k"));
  EXPECT_EQ(exit_code_, kExitUsage);
  EXPECT_NE(err_.str().find("invalid tollgate URL \"ftp://x\""), std::string::npos);
}

json KeyData(const std::string& id) {
  return {{"keyId", id}, {"start", "sk_ab"}, {"enabled", true}, {"createdAt", kNow}};
}

TEST_F(ClientCommandsTest, KeysListPrintsATableAndPointsAtTheNextPage) {
  server_.Answer(200, {{"meta", {{"requestId", "r"}}},
                       {"data", {KeyData("key_1")}},
                       {"pagination", {{"cursor", "c1"}, {"hasMore", true}}}});

  EXPECT_EQ(Run("keys list --api-id api_1 --external-id acme --limit 1"), kExitOk);

  EXPECT_EQ(OnlyRequest("/v2/apis.listKeys"),
            (json{{"apiId", "api_1"}, {"externalId", "acme"}, {"limit", 1}}));
  EXPECT_EQ(out_.str(),
            "KEY ID  START  NAME  IDENTITY  ENABLED  EXPIRES  CREDITS    CREATED\n"
            "key_1   sk_ab  -     -         yes      never    unlimited  2024-02-29T12:00:00Z\n");
  EXPECT_EQ(err_.str(), "More keys follow: rerun with --all, or with --cursor c1\n");
}

TEST_F(ClientCommandsTest, KeysListAllFollowsTheCursor) {
  server_.Answer(
      200, {{"data", {KeyData("key_1")}}, {"pagination", {{"cursor", "c1"}, {"hasMore", true}}}});
  server_.Answer(200, {{"data", {KeyData("key_2")}}, {"pagination", {{"hasMore", false}}}});

  EXPECT_EQ(Run("keys list --api-id api_1 --all --json"), kExitOk);

  ASSERT_EQ(server_.sent.size(), 2u);
  EXPECT_FALSE(server_.sent[0].body.contains("cursor"));
  EXPECT_EQ(server_.sent[1].body["cursor"], "c1");
  const json printed = json::parse(out_.str());
  ASSERT_TRUE(printed.is_array());
  ASSERT_EQ(printed.size(), 2u);
  EXPECT_EQ(printed[1]["keyId"], "key_2");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(ClientCommandsTest, KeysListAllStopsWhenTheServerRepeatsACursor) {
  for (int i = 0; i < 3; ++i) {
    server_.Answer(200, {{"data", {KeyData("key_1")}},
                         {"pagination", {{"cursor", "same"}, {"hasMore", true}}}});
  }
  EXPECT_EQ(Run("keys list --api-id api_1 --all"), kExitOk);
  EXPECT_EQ(server_.sent.size(), 2u);
  EXPECT_NE(err_.str().find("incomplete"), std::string::npos);
}

TEST_F(ClientCommandsTest, KeysListSaysSoWhenEmpty) {
  server_.Answer(200, {{"data", json::array()}, {"pagination", {{"hasMore", false}}}});
  EXPECT_EQ(Run("keys list --api-id api_1"), kExitOk);
  EXPECT_EQ(out_.str(), "No keys.\n");
}

TEST_F(ClientCommandsTest, KeysGetPrintsARecordOrTheRawData) {
  server_.AnswerData(KeyData("key_1"));
  EXPECT_EQ(Run("keys get key_1"), kExitOk);
  EXPECT_NE(out_.str().find("Key ID    key_1\n"), std::string::npos) << out_.str();

  server_.AnswerData(KeyData("key_1"));
  out_.str("");
  EXPECT_EQ(Run("keys get key_1 --json"), kExitOk);
  EXPECT_EQ(json::parse(out_.str()), KeyData("key_1"));
}

TEST_F(ClientCommandsTest, KeysUpdateSendsOnlyTheChanges) {
  server_.AnswerData(json::object());

  EXPECT_EQ(Run("keys update key_1 --name renamed --disable --no-expiry --unlimited-credits "
                "--permission x --role r1,r2"),
            kExitOk);

  EXPECT_EQ(OnlyRequest("/v2/keys.updateKey"), json::parse(R"({
    "keyId": "key_1", "name": "renamed", "enabled": false, "expires": null,
    "credits": {"remaining": null}, "permissions": ["x"], "roles": ["r1", "r2"]
  })"));
  EXPECT_EQ(out_.str(), "Updated key key_1\n");
}

TEST_F(ClientCommandsTest, KeysUpdateCanEnableAndSetAnExpiry) {
  server_.AnswerData(json::object());
  EXPECT_EQ(Run("keys update key_1 --enable --expires-in 1h"), kExitOk);
  EXPECT_EQ(OnlyRequest("/v2/keys.updateKey"),
            (json{{"keyId", "key_1"}, {"enabled", true}, {"expires", kNow + 3'600'000}}));
}

TEST_F(ClientCommandsTest, KeysRevokeCallsDeleteKey) {
  server_.AnswerData(json::object());
  EXPECT_EQ(Run("keys revoke key_1 --permanent"), kExitOk);
  EXPECT_EQ(OnlyRequest("/v2/keys.deleteKey"), (json{{"keyId", "key_1"}, {"permanent", true}}));
  EXPECT_EQ(out_.str(), "Revoked key key_1 and deleted it permanently\n");
}

TEST_F(ClientCommandsTest, KeysRerollShowsTheNewKeyAndWhatHappensToTheOld) {
  server_.AnswerData({{"keyId", "key_2"}, {"key", "sk_new"}});
  EXPECT_EQ(Run("keys reroll key_1 --expiration 1h"), kExitOk);
  EXPECT_EQ(OnlyRequest("/v2/keys.rerollKey"),
            (json{{"keyId", "key_1"}, {"expiration", 3'600'000}}));
  EXPECT_EQ(out_.str(), "Key ID  key_2\nKey     sk_new\n");
  EXPECT_NE(err_.str().find("The old key key_1 keeps working for 1h."), std::string::npos)
      << err_.str();
}

TEST_F(ClientCommandsTest, KeysRerollRevokesTheOldKeyAtOnceByDefault) {
  server_.AnswerData({{"keyId", "key_2"}, {"key", "sk_new"}});
  EXPECT_EQ(Run("keys reroll key_1"), kExitOk);
  EXPECT_EQ(OnlyRequest("/v2/keys.rerollKey")["expiration"], 0);
  EXPECT_NE(err_.str().find("no longer works"), std::string::npos);
}

TEST_F(ClientCommandsTest, KeysVerifyExits0WhenValidAnd3WhenNot) {
  server_.AnswerData({{"valid", true}, {"code", "VALID"}, {"keyId", "key_1"}});
  EXPECT_EQ(Run("keys verify sk_abc --permissions 'a AND b' --cost 2"), kExitOk);
  EXPECT_EQ(OnlyRequest("/v2/keys.verifyKey"),
            (json{{"key", "sk_abc"}, {"permissions", "a AND b"}, {"credits", {{"cost", 2}}}}));
  EXPECT_EQ(out_.str().rfind("Code     VALID\nValid    yes\nKey ID   key_1\n", 0), 0u)
      << out_.str();

  server_.AnswerData(
      {{"valid", false}, {"code", "DISABLED"}, {"keyId", "key_1"}, {"enabled", false}});
  out_.str("");
  EXPECT_EQ(Run("keys verify sk_abc"), kExitKeyNotValid);
  EXPECT_NE(out_.str().find("Code     DISABLED\n"), std::string::npos) << out_.str();
  EXPECT_EQ(out_.str().find("sk_abc"), std::string::npos) << "the key is not echoed";
}

TEST_F(ClientCommandsTest, KeysVerifyReadsTheKeyFromStdin) {
  in_.str("  sk_from_stdin \n");
  server_.AnswerData({{"valid", false}, {"code", "NOT_FOUND"}});
  EXPECT_EQ(Run("keys verify -"), kExitKeyNotValid);
  EXPECT_EQ(OnlyRequest("/v2/keys.verifyKey"), (json{{"key", "sk_from_stdin"}}));
  EXPECT_EQ(out_.str(), "Code   NOT_FOUND\nValid  no\n");
}

TEST_F(ClientCommandsTest, KeysVerifyRefusesAnEmptyStdin) {
  EXPECT_EQ(Run("keys verify -"), kExitUsage);
  EXPECT_TRUE(server_.sent.empty());
}

TEST_F(ClientCommandsTest, RootKeysCreateListDelete) {
  server_.AnswerData({{"keyId", "rk_1"}, {"key", "tg_root_NEW"}});
  EXPECT_EQ(Run("rootkeys create --permission api.*.verify_key,api.*.read_key --name ci"), kExitOk);
  EXPECT_EQ(server_.sent.back().path, "/v2/rootKeys.createRootKey");
  EXPECT_EQ(server_.sent.back().body,
            (json{{"permissions", {"api.*.verify_key", "api.*.read_key"}}, {"name", "ci"}}));
  EXPECT_EQ(out_.str(), "Key ID  rk_1\nKey     tg_root_NEW\n");

  server_.AnswerData(json::array({{{"keyId", "rk_1"},
                                   {"name", "ci"},
                                   {"start", "tg_root_NE"},
                                   {"permissions", {"*"}},
                                   {"createdAt", kNow}}}));
  out_.str("");
  EXPECT_EQ(Run("rootkeys list"), kExitOk);
  EXPECT_EQ(server_.sent.back().path, "/v2/rootKeys.listRootKeys");
  EXPECT_NE(out_.str().find("rk_1    ci    tg_root_NE  *"), std::string::npos) << out_.str();

  server_.AnswerData(json::object());
  out_.str("");
  EXPECT_EQ(Run("rootkeys delete rk_1"), kExitOk);
  EXPECT_EQ(server_.sent.back().body, (json{{"keyId", "rk_1"}}));
  EXPECT_EQ(out_.str(), "Deleted root key rk_1\n");
}

TEST_F(ClientCommandsTest, TheCallersRootKeyIsNeverPrinted) {
  server_.AnswerData({{"id", "api_1"}, {"name", "n"}});
  server_.Answer(401, {{"error", {{"title", "Unauthorized"}, {"detail", "unknown root key"}}}});
  Run("apis get api_1 --json");
  Run("apis get api_1");
  EXPECT_EQ(out_.str().find(kRootKey), std::string::npos);
  EXPECT_EQ(err_.str().find(kRootKey), std::string::npos);
}

TEST_F(ClientCommandsTest, HelpNeverShowsTheRootKeyFromTheEnvironment) {
  setenv("TOLLGATE_ROOT_KEY", "tg_root_FROM_ENV", 1);
  const std::string help = app_.get_subcommand("keys")->get_subcommand("list")->help();
  unsetenv("TOLLGATE_ROOT_KEY");
  EXPECT_NE(help.find("TOLLGATE_ROOT_KEY"), std::string::npos);
  EXPECT_EQ(help.find("tg_root_FROM_ENV"), std::string::npos);
}

}  // namespace
}  // namespace tollgate
