// A small synchronous HTTP/1.1 client for the tollgate API, for the command line: one request
// per connection, a deadline per request, HTTPS with the server's certificate verified (against
// the system's certificate authorities, or a PEM file of them). Blocks the calling thread; it owns
// its own io_context, so it needs no event loop from the caller.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "cli/api_transport.h"
#include "common/result.h"

namespace tollgate {

// A server address as the user gave it, split for the socket and the request line.
struct ServerUrl {
  std::string host;       // name or IP; IPv6 without brackets
  std::string port;       // decimal, "80" (http) or "443" (https) when the URL names none
  bool tls = false;       // https://
  // https: a PEM file of the certificate authorities to trust instead of the system's (a
  // self-signed server certificate is its own authority); from --ca-file, not from the URL.
  std::string ca_file;
  std::string base_path;  // "" or "/prefix" without a trailing '/', prepended to every path
  std::string text;       // the URL as given, for messages
};

// Parses "http[s]://host[:port][/base]"; IPv6 hosts in brackets ("http://[::1]:8080"). Fails with
// InvalidInput for another scheme, a missing host, a bad port, or user info, query or fragment,
// which the API has no use for.
Result<ServerUrl> ParseServerUrl(std::string_view url);

inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{10'000};

class HttpClient final : public ApiTransport {
 public:
  // bearer is the root key, sent as "Authorization: Bearer …" and nowhere else; it never
  // appears in an error. timeout bounds each request as a whole: resolve, connect, write, read.
  // One exception: a name lookup stuck in getaddrinfo cannot be interrupted, so PostJson
  // reports the timeout only once the lookup gives up (numeric hosts never wait).
  HttpClient(ServerUrl url, std::string bearer,
             std::chrono::milliseconds timeout = kDefaultRequestTimeout);

  Result<ApiResponse> PostJson(std::string_view path, const nlohmann::json& body) override;

 private:
  ServerUrl url_;
  std::string bearer_;
  std::chrono::milliseconds timeout_;
};

}  // namespace tollgate
