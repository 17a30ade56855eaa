// The response envelopes of DESIGN.md: {"meta":{"requestId"},"data"} on success, with
// "pagination" for lists, and an RFC 7807-shaped "error" object on failure.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "http/json_out.h"
#include "http/message.h"

namespace tollgate {

unsigned HttpStatusOf(ErrorCode code);

HttpResponse OkResponse(const std::string& request_id, nlohmann::json data);
HttpResponse ListResponse(const std::string& request_id, nlohmann::json data,
                          const std::optional<std::string>& cursor);
// The success envelope with a `data` that write(JsonOut&) prints: for the hot routes, where
// building an nlohmann tree costs more than the work (see json_out.h).
template <typename WriteData>
HttpResponse OkResponseWith(const std::string& request_id, WriteData&& write) {
  JsonOut out;
  out.StartObject().Key("meta").StartObject().Field("requestId", request_id).EndObject().Key("data");
  write(out);
  out.EndObject();
  HttpResponse response;
  response.body = out.Take();
  return response;
}
HttpResponse ErrorResponse(const std::string& request_id, const Error& error);

}  // namespace tollgate
