// Transport-neutral request and response values. The server turns Beast messages into these and
// back; the router and handlers see nothing of sockets (as in Beast's own examples).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate {

struct HttpRequest {
  std::string method;        // "GET", "POST", ...
  std::string path;          // target without the query string
  std::string query;         // after '?', possibly empty
  std::string content_type;
  std::string authorization; // raw header value; never logged
  std::string api_key;       // X-API-Key header; never logged
  std::string remote_address;
  std::string real_ip;       // X-Real-IP, set by a gateway in front (trusted only from loopback)
  std::string body;
  std::string request_id;    // "req_…", assigned by the server
};

struct HttpResponse {
  unsigned status = 200;
  std::string body;  // JSON unless content_type says otherwise
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  void SetHeader(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

}  // namespace tollgate
