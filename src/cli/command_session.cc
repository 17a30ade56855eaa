#include "cli/command_session.h"

#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cli/http_client.h"
#include "cli/table.h"

namespace tollgate::cli {

namespace {

using nlohmann::json;

constexpr const char* kConnectionGroup = "Connection";

}  // namespace

void AddConnectionOptions(CLI::App& command, ConnectionOptions& options) {
  command.add_option("--url", options.url, "tollgate server to talk to")
      ->envname("TOLLGATE_URL")
      ->capture_default_str()
      ->group(kConnectionGroup);
  command
      .add_option("--root-key", options.root_key,
                  "root key to authenticate with; prefer the environment variable, since "
                  "arguments are visible to other users of this machine")
      ->envname("TOLLGATE_ROOT_KEY")
      ->group(kConnectionGroup);
  command
      .add_option("--ca-file", options.ca_file,
                  "for an https:// URL: a PEM file of the certificate authorities to trust instead of "
                  "the system's (e.g. the server's own self-signed certificate)")
      ->envname("TOLLGATE_CA_FILE")
      ->group(kConnectionGroup);
  command.add_flag("--json", options.json, "print the response's data as JSON instead of text")
      ->group(kConnectionGroup);
}

Reported Session::UsageError(std::string_view message) {
  Err() << "error: " << StripControlCharacters(message) << '\n';
  return {kExitUsage};
}

Outcome<json> Session::Call(std::string_view path, const json& body) {
  auto transport = Transport();
  if (!transport) return tl::unexpected(transport.error());
  auto response = (*transport)->PostJson(path, body);
  if (!response) return tl::unexpected(UsageError(response.error().detail));
  if (response->status < 200 || response->status > 299) {
    ReportApiError(*response);
    return tl::unexpected(Reported{kExitApiError});
  }
  return std::move(response->body);
}

Outcome<json> Session::CallData(std::string_view path, const json& body) {
  auto envelope = Call(path, body);
  if (!envelope) return envelope;
  const json* data = FindField(*envelope, "data");
  return data == nullptr ? json() : *data;
}

Outcome<ApiTransport*> Session::Transport() {
  if (transport_) return transport_.get();
  if (options_.root_key.empty()) {
    return tl::unexpected(UsageError("no root key: set TOLLGATE_ROOT_KEY or pass --root-key"));
  }
  auto url = ParseServerUrl(options_.url);
  if (!url) return tl::unexpected(UsageError(url.error().detail));
  url->ca_file = options_.ca_file;
  transport_ = environment_.connect(*url, options_.root_key);
  return transport_.get();
}

// "error: Title: detail", the field errors of a 400, and the request id to quote to whoever runs
// the server.
void Session::ReportApiError(const ApiResponse& response) {
  const json* error = FindField(response.body, "error");
  const json none = json::object();
  const json& problem = error != nullptr ? *error : none;
  const std::string title = TextField(problem, "title", fmt::format("HTTP {}", response.status));
  const std::string detail = TextField(problem, "detail", "");
  // Each line is cleaned on its own: the server's strings may hold anything, our newlines not.
  std::vector<std::string> lines{detail.empty() ? fmt::format("error: {}", title)
                                                : fmt::format("error: {}: {}", title, detail)};
  if (const json* fields = FindField(problem, "errors"); fields != nullptr && fields->is_array()) {
    for (const json& field : *fields) {
      std::string line = fmt::format("  {}: {}", TextField(field, "location", "?"),
                                     TextField(field, "message", "?"));
      if (const std::string fix = TextField(field, "fix", ""); !fix.empty()) {
        line += fmt::format(" (fix: {})", fix);
      }
      lines.push_back(std::move(line));
    }
  }
  if (!response.request_id.empty()) lines.push_back("request id: " + response.request_id);
  for (const std::string& line : lines) Err() << StripControlCharacters(line) << '\n';
}

}  // namespace tollgate::cli
