// A small synchronous HTTP/1.1 client for the tollgate API, for the command line: one request
// per connection, a deadline per request, no TLS (put a TLS-terminating proxy in front of
// tollgate and run the CLI next to it, or tunnel). Blocks the calling thread; it owns its own
// io_context, so it needs no event loop from the caller.
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
  std::string port;       // decimal, "80" when the URL names none
  std::string base_path;  // "" or "/prefix" without a trailing '/', prepended to every path
  std::string text;       // the URL as given, for messages
};

// Parses "http://host[:port][/base]"; IPv6 hosts in brackets ("http://[::1]:8080"). Fails with
// InvalidInput for another scheme (https included: see the file comment), a missing host, a bad
// port, or user info, query or fragment, which the API has no use for.
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
