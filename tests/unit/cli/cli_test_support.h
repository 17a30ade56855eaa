// What the CLI's tests share. ClientCommandsTest runs the client commands against a scripted
// server: it registers them on an app whose transport is a ScriptedServer (answers queued by the
// test, requests recorded), with string streams and a ManualClock at kNow; the tests of
// client_commands.cc and usage_command.cc use it. At and Lines help read times and output.
#pragma once

#include <deque>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/client_commands.h"
#include "cli/timestamp.h"

namespace tollgate {

inline constexpr const char* kRootKey = "tg_root_SECRET";
inline constexpr const char* kConnect = " --url http://tollgate.test:9000 --root-key tg_root_SECRET";
// 2024-02-29T12:00:00Z
inline constexpr UnixMillis kNow = 1'709'208'000'000;

// A time the way the CLI takes it, e.g. At("2024-02-29T09:00:00Z"); the test fails on a typo.
inline UnixMillis At(const char* text) {
  auto at = ParseTimestamp(text);
  EXPECT_TRUE(at.has_value()) << text;
  return at.value_or(0);
}

// text's lines without their '\n'.
inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

struct SentRequest {
  std::string path;
  nlohmann::json body;
};

// Plays the server: answers requests from a script, in order, and records them.
class ScriptedServer {
 public:
  void Answer(unsigned status, nlohmann::json body, std::string request_id = "req_test") {
    answers_.push_back(ApiResponse{status, std::move(body), std::move(request_id)});
  }
  void AnswerData(nlohmann::json data) {
    Answer(200, {{"meta", {{"requestId", "req_test"}}}, {"data", std::move(data)}});
  }
  void FailToConnect(std::string detail) {
    answers_.push_back(tl::unexpected(Error::Unavailable(std::move(detail))));
  }

  Result<ApiResponse> Next(std::string_view path, const nlohmann::json& body) {
    sent.push_back({std::string(path), body});
    if (answers_.empty()) {
      return Fail(Error::Internal("the test scripted no answer for " + std::string(path)));
    }
    auto answer = std::move(answers_.front());
    answers_.pop_front();
    return answer;
  }

  std::vector<SentRequest> sent;
  std::vector<std::pair<std::string, std::string>> connections;  // (host:port+base, root key)

 private:
  std::deque<Result<ApiResponse>> answers_;
};

class ScriptedTransport final : public ApiTransport {
 public:
  explicit ScriptedTransport(ScriptedServer& server) : server_(server) {}
  Result<ApiResponse> PostJson(std::string_view path, const nlohmann::json& body) override {
    return server_.Next(path, body);
  }

 private:
  ScriptedServer& server_;
};

class ClientCommandsTest : public ::testing::Test {
 protected:
  // utf8_output: what the environment says about the terminal (see ClientEnvironment).
  explicit ClientCommandsTest(bool utf8_output = false)
      : clock_(std::make_shared<ManualClock>(kNow)) {
    app_.require_subcommand(1);
    AddClientCommands(
        app_, exit_code_,
        ClientEnvironment{
            [this](const ServerUrl& url, const std::string& root_key) -> ApiTransportPtr {
              server_.connections.emplace_back(url.host + ":" + url.port + url.base_path, root_key);
              return std::make_unique<ScriptedTransport>(server_);
            },
            out_, err_, in_, clock_, utf8_output});
  }

  // Runs "tollgate <command_line>" with the test server's URL and root key appended.
  int Run(const std::string& command_line) {
    app_.parse(command_line + kConnect);
    return exit_code_;
  }

  const nlohmann::json& OnlyRequest(const std::string& path) {
    EXPECT_EQ(server_.sent.size(), 1u);
    static const nlohmann::json kNothing;
    if (server_.sent.empty()) return kNothing;
    EXPECT_EQ(server_.sent.front().path, path);
    return server_.sent.front().body;
  }

  ScriptedServer server_;
  std::ostringstream out_;
  std::ostringstream err_;
  std::istringstream in_;
  std::shared_ptr<ManualClock> clock_;
  CLI::App app_{"tollgate"};
  int exit_code_ = -1;
};

}  // namespace tollgate
