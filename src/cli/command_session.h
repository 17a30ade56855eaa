// What every client command (`tollgate apis|keys|rootkeys|usage …`) shares: the connection flags
// each leaf command takes, and the Session through which one run of a command talks to the
// server and reports failures. Split from client_commands.cc so that a command can live in its
// own file (usage_command.cc) without a second copy of this plumbing.
//
// Threads: a command runs on the thread that parses the command line; nothing here is shared
// between threads. Ownership: the options and the Shared state are owned by the commands'
// callbacks (shared_ptr), i.e. live as long as the CLI::App; a Session lives for one run.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "cli/api_transport.h"
#include "cli/client_commands.h"
#include "cli/json_fields.h"
#include "common/clock.h"

namespace tollgate::cli {

// A failure that has already been reported to the user; what is left of it is the exit code.
struct Reported {
  int exit_code;
};
template <typename T>
using Outcome = tl::expected<T, Reported>;

struct ConnectionOptions {
  std::string url = kDefaultServerUrl;
  std::string root_key;
  std::string ca_file;  // https: the certificate authorities to trust instead of the system's
  bool json = false;
};

// --url, --root-key and --json. Every leaf command takes these itself, rather than its group,
// so that they work after the command name (`tollgate keys list --json`) and show in its --help.
void AddConnectionOptions(CLI::App& command, ConnectionOptions& options);

// What all client commands of one app share. Owned jointly by their callbacks.
struct Shared {
  ClientEnvironment environment;
  int& exit_code;
};
using SharedPtr = std::shared_ptr<Shared>;

// One command run's conversation with the server. The transport is made on the first request,
// so a command checks its flags before anything needs a root key or the network. Every failure
// is reported to the user here; commands only decide what to print on success.
class Session {
 public:
  Session(const Shared& shared, const ConnectionOptions& options)
      : environment_(shared.environment), options_(options) {}

  std::ostream& Out() { return environment_.out; }
  std::ostream& Err() { return environment_.err; }
  std::istream& In() { return environment_.in; }
  bool WantsJson() const { return options_.json; }
  // Whether the terminal takes UTF-8 (ClientEnvironment::utf8_output).
  bool Utf8Output() const { return environment_.utf8_output; }
  UnixMillis Now() const { return environment_.clock->NowMillis(); }

  void PrintJson(const nlohmann::json& value) { Out() << DumpJson(value, 2) << '\n'; }

  // "error: message" on stderr; the result carries kExitUsage.
  Reported UsageError(std::string_view message);

  // Sends body to path; the whole envelope when the server accepted the request (HTTP 2xx).
  Outcome<nlohmann::json> Call(std::string_view path, const nlohmann::json& body);

  // Call, keeping only the envelope's data (null when there is none).
  Outcome<nlohmann::json> CallData(std::string_view path, const nlohmann::json& body);

 private:
  Outcome<ApiTransport*> Transport();
  void ReportApiError(const ApiResponse& response);

  const ClientEnvironment& environment_;
  const ConnectionOptions& options_;
  ApiTransportPtr transport_;
};

// Binds run to command: when the command is chosen, run gets a fresh session and its options,
// and its result becomes the exit code. The options live as long as the callback, i.e. the app.
template <typename Options>
void OnRun(CLI::App& command, const SharedPtr& shared, std::shared_ptr<Options> options,
           int (*run)(Session&, const Options&)) {
  command.callback([shared, options, run] {
    Session session(*shared, options->connection);
    shared->exit_code = run(session, *options);
  });
}

// Whether the user gave the option on the command line (or its environment variable).
inline bool Given(const CLI::Option* option) {
  return option != nullptr && option->count() > 0;
}

}  // namespace tollgate::cli
