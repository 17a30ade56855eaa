#include "cli/usage_command.h"

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include "cli_test_support.h"

namespace tollgate {
namespace {

using nlohmann::json;

constexpr UnixMillis kMinute = 60'000;
constexpr UnixMillis kHour = 3'600'000;

json Series(const char* granularity, json points = json::array()) {
  return {{"granularity", granularity}, {"points", std::move(points)}};
}

using UsageCommandTest = ClientCommandsTest;

TEST_F(UsageCommandTest, ByDefaultAsksForTheLast24HoursPerHourOfEverything) {
  server_.AnswerData(Series("hour"));

  EXPECT_EQ(Run("usage"), kExitOk);

  EXPECT_EQ(OnlyRequest("/v2/usage.timeseries"),
            (json{{"start", kNow - 24 * kHour},
                  {"end", kNow},
                  {"granularity", "hour"},
                  {"groupBy", "outcome"}}));
  const auto lines = Lines(out_.str());
  ASSERT_GE(lines.size(), 26u) << out_.str();
  EXPECT_EQ(lines[0], "HOUR (UTC)        TOTAL  VALID  DENIED  CREDITS");
  EXPECT_EQ(lines[1], "2024-02-28 12:00      0      0       0        0");
  EXPECT_EQ(lines[24], "2024-02-29 11:00      0      0       0        0");
  EXPECT_EQ(lines[25], "");
  EXPECT_EQ(lines[26], "Scope    everything");
  EXPECT_EQ(lines[27], "Range    2024-02-28T12:00:00Z to 2024-02-29T12:00:00Z, 24 hours");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(UsageCommandTest, SinceCountsBackFromNowAndStartsAtAWholePeriod) {
  const UnixMillis now = kNow + 34 * kMinute + 56'789;  // 12:34:56.789
  clock_->Set(now);
  server_.AnswerData(Series("minute"));

  EXPECT_EQ(Run("usage --since 1h"), kExitOk);

  // 11:34:56.789 starts in the minute of 11:34; 61 minutes overlap the hour.
  EXPECT_EQ(OnlyRequest("/v2/usage.timeseries"),
            (json{{"start", kNow - 26 * kMinute},
                  {"end", now},
                  {"granularity", "minute"},
                  {"groupBy", "outcome"}}));
  const auto lines = Lines(out_.str());
  ASSERT_GT(lines.size(), 62u);
  EXPECT_EQ(lines[0].substr(0, 12), "MINUTE (UTC)");
  EXPECT_EQ(lines[1].substr(0, 16), "2024-02-29 11:34");
  EXPECT_EQ(lines[61].substr(0, 16), "2024-02-29 12:34");
  EXPECT_EQ(lines[62], "");
}

TEST_F(UsageCommandTest, TheDefaultPeriodFollowsTheLengthOfTheRange) {
  struct Case {
    std::string flags;
    const char* granularity;
    UnixMillis start;
  };
  const Case cases[] = {
      {"--since 15m", "minute", kNow - 15 * kMinute},
      {"--since 7d", "day", At("2024-02-22")},
      {"--since 90d", "month", At("2023-12-01")},
      {"--from 2024-01-15T10:00:00Z", "day", At("2024-01-15")},
      {"--from 2024-02-29T09:30:00Z --to 2024-02-29T10:00:00Z", "minute",
       At("2024-02-29T09:30:00Z")},
  };
  for (const Case& c : cases) {
    server_.sent.clear();
    server_.AnswerData(Series(c.granularity));
    EXPECT_EQ(Run("usage " + c.flags), kExitOk) << c.flags << ": " << err_.str();
    ASSERT_EQ(server_.sent.size(), 1u) << c.flags;
    EXPECT_EQ(server_.sent[0].body["granularity"], c.granularity) << c.flags;
    EXPECT_EQ(server_.sent[0].body["start"], c.start) << c.flags;
  }
}

TEST_F(UsageCommandTest, FromToAndByAreSentAsGiven) {
  server_.AnswerData(Series("day"));

  EXPECT_EQ(Run("usage --from 2024-01-01 --to 2024-02-01 --by day"), kExitOk);

  EXPECT_EQ(OnlyRequest("/v2/usage.timeseries"),
            (json{{"start", At("2024-01-01")},
                  {"end", At("2024-02-01")},
                  {"granularity", "day"},
                  {"groupBy", "outcome"}}));
  const auto lines = Lines(out_.str());
  EXPECT_EQ(lines[1].substr(0, 10), "2024-01-01");
  EXPECT_EQ(lines[31].substr(0, 10), "2024-01-31");
  EXPECT_EQ(lines[32], "");
}

TEST_F(UsageCommandTest, ScopeFlagsBecomeFilters) {
  server_.AnswerData(Series("hour"));

  EXPECT_EQ(Run("usage --key key_1 --identity acme --api api_1"), kExitOk);

  const json& body = OnlyRequest("/v2/usage.timeseries");
  EXPECT_EQ(body["keyId"], "key_1");
  EXPECT_EQ(body["externalId"], "acme");
  EXPECT_EQ(body["apiId"], "api_1");
  EXPECT_NE(out_.str().find("\nScope    key key_1, identity acme, API api_1\n"),
            std::string::npos)
      << out_.str();

  // The names the other commands use work too.
  server_.sent.clear();
  server_.AnswerData(Series("hour"));
  EXPECT_EQ(Run("usage --key-id key_2 --external-id globex --api-id api_2"), kExitOk);
  EXPECT_EQ(server_.sent[0].body["keyId"], "key_2");
  EXPECT_EQ(server_.sent[0].body["externalId"], "globex");
  EXPECT_EQ(server_.sent[0].body["apiId"], "api_2");
}

TEST_F(UsageCommandTest, PrintsEveryPeriodWithBarsAndTheTotals) {
  server_.AnswerData(Series("hour", json::parse(R"([
    {"time": 1709197200000, "group": "RATE_LIMITED", "count": 2, "credits": 0},
    {"time": 1709197200000, "group": "VALID", "count": 5, "credits": 5},
    {"time": 1709204400000, "group": "NOT_FOUND", "count": 1, "credits": 0}
  ])")));

  EXPECT_EQ(Run("usage --from 2024-02-29T09:00:00Z --to 2024-02-29T12:00:00Z"), kExitOk);

  // 10:00 had no usage and is there all the same.
  EXPECT_EQ(out_.str(),
            "HOUR (UTC)        TOTAL  VALID  DENIED  CREDITS\n"
            "2024-02-29 09:00      7      5       2        5  "
            "#############################xxxxxxxxxxx\n"
            "2024-02-29 10:00      0      0       0        0\n"
            "2024-02-29 11:00      1      0       1        0  xxxxxx\n"
            "\n"
            "Scope    everything\n"
            "Range    2024-02-29T09:00:00Z to 2024-02-29T12:00:00Z, 3 hours\n"
            "Total    8\n"
            "Valid    5 (62.5%)\n"
            "Denied   3 (37.5%): 2 RATE_LIMITED, 1 NOT_FOUND\n"
            "Credits  5\n"
            "Bars     # valid, x denied; the longest is 7\n");
}

TEST_F(UsageCommandTest, TopListsTheBusiestKeysAndIdentitiesOverTheSameRange) {
  server_.AnswerData(Series("hour"));
  server_.AnswerData(json::parse(R"([{"keyId": "key_busy", "count": 1200, "valid": 1100,
                                      "credits": 3}])"));
  server_.AnswerData(json::array());

  EXPECT_EQ(Run("usage --api api_1 --top 3"), kExitOk);

  ASSERT_EQ(server_.sent.size(), 3u);
  const json top_request{
      {"apiId", "api_1"}, {"start", kNow - 24 * kHour}, {"end", kNow}, {"limit", 3}};
  EXPECT_EQ(server_.sent[1].path, "/v2/usage.topKeys");
  EXPECT_EQ(server_.sent[1].body, top_request);
  EXPECT_EQ(server_.sent[2].path, "/v2/usage.topIdentities");
  EXPECT_EQ(server_.sent[2].body, top_request);
  const std::string out = out_.str();
  EXPECT_NE(out.find("\n\nTop keys\n"
                     "KEY ID    TOTAL  VALID  CREDITS\n"
                     "key_busy  1,200  1,100        3\n"
                     "\nTop identities: none in this range\n"),
            std::string::npos)
      << out;
}

TEST_F(UsageCommandTest, TopLeavesOutTheListTheScopeAlreadyNames) {
  server_.AnswerData(Series("hour"));
  server_.AnswerData(json::array());
  EXPECT_EQ(Run("usage --key key_1 --top 5"), kExitOk);
  ASSERT_EQ(server_.sent.size(), 2u);
  EXPECT_EQ(server_.sent[1].path, "/v2/usage.topIdentities");
  EXPECT_EQ(server_.sent[1].body["keyId"], "key_1");

  server_.sent.clear();
  server_.AnswerData(Series("hour"));
  server_.AnswerData(json::array());
  EXPECT_EQ(Run("usage --identity acme --top 5"), kExitOk);
  ASSERT_EQ(server_.sent.size(), 2u);
  EXPECT_EQ(server_.sent[1].path, "/v2/usage.topKeys");
}

TEST_F(UsageCommandTest, JsonPrintsTheRawPointsWithTheRange) {
  const json points = json::parse(
      R"([{"time": 1709204400000, "group": "VALID", "count": 2, "credits": 2}])");
  const json top_keys =
      json::parse(R"([{"keyId": "key_1", "count": 2, "valid": 2, "credits": 2}])");
  server_.AnswerData(Series("hour", points));
  server_.AnswerData(top_keys);

  EXPECT_EQ(Run("usage --identity acme --top 1 --json"), kExitOk);

  EXPECT_EQ(json::parse(out_.str()), (json{{"start", kNow - 24 * kHour},
                                           {"end", kNow},
                                           {"granularity", "hour"},
                                           {"points", points},
                                           {"topKeys", top_keys}}));
}

TEST_F(UsageCommandTest, BadValuesAreUsageErrorsAndSendNothing) {
  struct Case {
    const char* command;
    const char* message;
  };
  const Case cases[] = {
      {"usage --since 3w", "--since: invalid duration \"3w\""},
      {"usage --since 0s", "--since must be longer than 0"},
      {"usage --since 401d", "--since 401d is longer than 400 days"},
      {"usage --from soon", "--from: invalid time \"soon\""},
      {"usage --to 2024-13-01", "--to: invalid time"},
      {"usage --from 2024-03-01", "is empty: --from must be before --to"},
      {"usage --from 2024-02-29T12:00:00Z --to 2024-02-29T12:00:00Z", "is empty"},
      {"usage --from 2020-01-01 --to 2024-01-01", "longer than 400 days"},
      {"usage --from 2023-02-15 --to 2024-03-15 --by month",
       "from the start of its first month (2023-02-01T00:00:00Z) the range is longer than 400"},
      {"usage --from 1969-12-31 --to 1970-01-02", "between 1970-01-01 and 9999-12-31"},
      {"usage --from 99999999999999998 --to 99999999999999999", "between 1970-01-01"},
      {"usage --since 30d --by minute", "--by minute gives 43200 rows over this range, more "
                                        "than 10000"},
  };
  for (const Case& c : cases) {
    err_.str("");
    EXPECT_EQ(Run(c.command), kExitUsage) << c.command;
    EXPECT_NE(err_.str().find(c.message), std::string::npos) << c.command << ": " << err_.str();
  }
  EXPECT_TRUE(server_.sent.empty());
  EXPECT_EQ(out_.str(), "");
}

TEST_F(UsageCommandTest, ConflictingOrUnknownFlagValuesAreRejectedByTheParser) {
  EXPECT_THROW(Run("usage --by week"), CLI::ParseError);
  EXPECT_THROW(Run("usage --since 1h --from 2024-01-01"), CLI::ParseError);
  EXPECT_THROW(Run("usage --since 1h --to 2024-01-01"), CLI::ParseError);
  EXPECT_THROW(Run("usage --top 0"), CLI::ParseError);
  EXPECT_THROW(Run("usage --top 101"), CLI::ParseError);
  EXPECT_THROW(Run("usage --top many"), CLI::ParseError);
  EXPECT_TRUE(server_.sent.empty());
}

TEST_F(UsageCommandTest, AServerRefusalIsExit1AndPrintsNoTable) {
  server_.Answer(403, json::parse(R"({"meta": {"requestId": "req_9"},
      "error": {"title": "Forbidden", "detail": "missing scope usage.*.read", "status": 403}})"),
                 "req_9");

  EXPECT_EQ(Run("usage --top 3"), kExitApiError);

  EXPECT_EQ(server_.sent.size(), 1u);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "error: Forbidden: missing scope usage.*.read\nrequest id: req_9\n");
}

class UsageOnUtf8TerminalTest : public ClientCommandsTest {
 protected:
  UsageOnUtf8TerminalTest() : ClientCommandsTest(/*utf8_output=*/true) {}
};

TEST_F(UsageOnUtf8TerminalTest, BarsUseBlockCharactersUnlessAsciiIsAsked) {
  const json points = json::parse(R"([
    {"time": 1709204400000, "group": "VALID", "count": 3},
    {"time": 1709204400000, "group": "EXPIRED", "count": 1}
  ])");
  server_.AnswerData(Series("hour", points));
  EXPECT_EQ(Run("usage"), kExitOk);
  EXPECT_NE(out_.str().find("  \u2588\u2588\u2588"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("\u2591\n"), std::string::npos) << out_.str();
  EXPECT_EQ(out_.str().find('#'), std::string::npos) << out_.str();

  out_.str("");
  server_.AnswerData(Series("hour", points));
  EXPECT_EQ(Run("usage --ascii"), kExitOk);
  EXPECT_NE(out_.str().find("  ###"), std::string::npos) << out_.str();
  EXPECT_EQ(out_.str().find("\u2588"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace tollgate
