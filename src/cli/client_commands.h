// The command line for people: `tollgate apis|keys|rootkeys|usage …`, on the same binary as the
// server. Each command sends one or a few requests to a running tollgate over its HTTP API and
// prints readable tables and records, or with --json the response's raw `data`.
//
// `tollgate usage [--key ID | --identity EXTERNAL_ID | --api ID] [--since 24h | --from T --to T]
// [--by minute|hour|day|month] [--top N] [--ascii]` (usage_command.h) shows recorded usage as a
// table, one row per period with a bar per row, and the totals over the range.
//
// Where the server is: --url, else TOLLGATE_URL, else http://127.0.0.1:8080. Credentials:
// --root-key, else TOLLGATE_ROOT_KEY (prefer the variable: arguments are visible to other local
// users). The root key is sent in the Authorization header and never printed. An API key is
// printed only when it is created (keys create, keys reroll) and a root key only when
// `rootkeys create` makes one, because those are the only moments it exists in plain text.
//
// Exit codes (exit_code is left alone when no client command ran):
//   0  success (keys verify: the key is VALID)
//   1  the server refused the request; its title, detail, field errors and request id go to stderr
//   2  usage error (bad flag value, missing root key) or the server cannot be reached
//   3  keys verify only: the server answered, and the key is not valid (the code says why)
// Errors detected by CLI11 itself while parsing (unknown flag, missing required option, a
// non-number where one is expected) are raised as CLI::ParseError to whoever calls App::parse.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "cli/api_transport.h"
#include "cli/http_client.h"
#include "common/clock.h"

namespace CLI {
class App;
}  // namespace CLI

namespace tollgate {

inline constexpr int kExitOk = 0;
inline constexpr int kExitApiError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitKeyNotValid = 3;

inline constexpr const char* kDefaultServerUrl = "http://127.0.0.1:8080";

// Registers the client subcommands `apis`, `keys`, `rootkeys` and `usage` on app. When one of
// them runs, it talks to the server at TOLLGATE_URL with TOLLGATE_ROOT_KEY (see above), prints
// to stdout and stderr and sets exit_code, which must outlive app.
void AddClientCommands(CLI::App& app, int& exit_code);

// What the client commands take from the outside world, so that tests can substitute a scripted
// server, string streams and a manual clock. Every member must outlive the app.
struct ClientEnvironment {
  // Makes the transport for one command run. The default builds an HttpClient.
  std::function<ApiTransportPtr(const ServerUrl& url, const std::string& root_key)> connect;
  std::ostream& out;
  std::ostream& err;
  std::istream& in;  // `keys verify -` reads the key from here, keeping it out of argv
  std::shared_ptr<const Clock> clock;  // --expires-in and usage --since count from its now
  // Whether out may carry non-ASCII drawing characters (the bars of `usage`); '#' when not.
  bool utf8_output = false;
};

// The real world: HttpClient with the default timeout, std::cout, std::cerr, std::cin,
// SystemClock, and UTF-8 output when the locale variables (LC_ALL, LC_CTYPE, LANG) say UTF-8.
ClientEnvironment DefaultClientEnvironment();

void AddClientCommands(CLI::App& app, int& exit_code, ClientEnvironment environment);

}  // namespace tollgate
