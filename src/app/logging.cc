#include "app/logging.h"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/request_scope.h"

namespace tollgate {
namespace {

// A JSON string literal; invalid UTF-8 in a message becomes U+FFFD instead of breaking the line.
void AppendJsonString(spdlog::memory_buf_t& dest, std::string_view text) {
  const std::string quoted = nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  dest.append(quoted.data(), quoted.data() + quoted.size());
}

void Append(spdlog::memory_buf_t& dest, std::string_view text) { dest.append(text.data(), text.data() + text.size()); }

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const auto since_epoch = msg.time.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char time[40];
  const std::size_t length = std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(time + length, sizeof time - length, ".%03dZ", static_cast<int>(millis));

  Append(dest, "{\"time\":\"");
  Append(dest, time);
  Append(dest, "\",\"level\":\"");
  const auto level = spdlog::level::to_string_view(msg.level);
  Append(dest, std::string_view(level.data(), level.size()));
  Append(dest, "\",\"logger\":");
  AppendJsonString(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
  Append(dest, ",\"msg\":");
  AppendJsonString(dest, std::string_view(msg.payload.data(), msg.payload.size()));
  if (current_request_id != nullptr) {
    Append(dest, ",\"requestId\":");
    AppendJsonString(dest, *current_request_id);
  }
  Append(dest, ",\"thread\":");
  Append(dest, std::to_string(msg.thread_id));
  Append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const { return std::make_unique<JsonLogFormatter>(); }

void SetUpLogging(std::string_view format, std::string_view level) {
  auto logger = spdlog::get("tollgate");
  if (!logger) logger = spdlog::stderr_color_mt("tollgate");
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

Status SetLogLevel(std::string_view level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for any name it does not know: only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return Fail(Error::InvalidInput("unknown log level '" + std::string(level) + "'",
                                    {{"body.level", "is not a log level", "use trace, debug, info, warn, error or off"}}));
  }
  spdlog::set_level(parsed);
  return {};
}

std::string CurrentLogLevel() {
  const auto name = spdlog::level::to_string_view(spdlog::get_level());
  return std::string(name.data(), name.size());
}

}  // namespace tollgate
