#include "app/logging.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "common/request_scope.h"

namespace tollgate {
namespace {

// One JSON line per record, read back as JSON.
class JsonLogTest : public ::testing::Test {
 protected:
  JsonLogTest() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)), logger_("test", sink_) {
    logger_.set_formatter(std::make_unique<JsonLogFormatter>());
    logger_.set_level(spdlog::level::trace);
  }
  std::vector<nlohmann::json> Lines() {
    std::vector<nlohmann::json> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) {
      auto parsed = nlohmann::json::parse(line, nullptr, false);
      EXPECT_FALSE(parsed.is_discarded()) << line;
      lines.push_back(parsed);
    }
    return lines;
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::logger logger_;
};

TEST_F(JsonLogTest, WritesOneObjectPerLineWithTheRequestIdInsideARequest) {
  logger_.info("listening on {}", "127.0.0.1:8080");
  {
    const std::string id = "req_abc123";
    RequestScope scope(id);
    logger_.warn("quote \" backslash \\ newline \n tab \t and bad UTF-8 \xff");
  }
  logger_.error("after");
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["logger"], "test");
  EXPECT_EQ(lines[0]["msg"], "listening on 127.0.0.1:8080");
  EXPECT_FALSE(lines[0].contains("requestId"));
  EXPECT_TRUE(lines[0]["time"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(lines[0]["time"].get<std::string>().size(), 24u) << "2026-11-29T02:11:23.123Z";
  EXPECT_EQ(lines[1]["requestId"], "req_abc123");
  EXPECT_EQ(lines[1]["msg"], "quote \" backslash \\ newline \n tab \t and bad UTF-8 \xEF\xBF\xBD");
  EXPECT_FALSE(lines[2].contains("requestId")) << "the scope ended";
}

TEST(LogLevelTest, ChangesAtRunTimeAndRefusesUnknownNames) {
  const std::string before = CurrentLogLevel();
  ASSERT_TRUE(SetLogLevel("debug"));
  EXPECT_EQ(CurrentLogLevel(), "debug");
  EXPECT_TRUE(spdlog::should_log(spdlog::level::debug));
  auto refused = SetLogLevel("verbose");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(CurrentLogLevel(), "debug") << "unchanged";
  ASSERT_TRUE(SetLogLevel(before));
}

}  // namespace
}  // namespace tollgate
