// How the client commands reach a tollgate server: one JSON request, one JSON answer. An
// interface so that the commands can be tested against a scripted server without sockets.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace tollgate {

struct ApiResponse {
  unsigned status = 0;  // HTTP status code
  nlohmann::json body;  // the parsed envelope: {"meta":…,"data":…} or {"meta":…,"error":…}
  std::string request_id;  // meta.requestId, else the X-Request-Id header; may be empty
};

class ApiTransport {
 public:
  virtual ~ApiTransport() = default;

  // POSTs body to path (e.g. "/v2/keys.getKey") and parses the JSON answer. An HTTP error
  // status is a successful call: the envelope explains it. Fails with kUnavailable when no
  // answer arrived (cannot connect, timeout, connection dropped) or the answer is not JSON, i.e.
  // whatever answered is not tollgate.
  virtual Result<ApiResponse> PostJson(std::string_view path, const nlohmann::json& body) = 0;
};
using ApiTransportPtr = std::unique_ptr<ApiTransport>;

}  // namespace tollgate
