// tollgate's log: spdlog to stderr, as JSON lines (the default: one object per line with time,
// level, logger, msg, and requestId inside a request; what log shippers parse) or as text for a
// terminal. The level is set at start (--log-level) and can be changed at run time
// (operations.setLogLevel, SetLogLevel). Secrets never reach the log: handlers log ids, never
// keys, and the request line logged at debug level carries no header or body.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/formatter.h>

#include "common/result.h"

namespace tollgate {

// Formats a record as {"time":"…Z","level":"info","logger":"tollgate","msg":"…","requestId":"req_…"}.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Makes the "tollgate" logger on stderr the default, in `format` ("json" or "text") at `level`.
void SetUpLogging(std::string_view format, std::string_view level);
// Changes the level of every logger now; fails for a name spdlog does not know.
Status SetLogLevel(std::string_view level);
std::string CurrentLogLevel();

}  // namespace tollgate
