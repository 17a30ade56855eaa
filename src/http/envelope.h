// The response envelopes of DESIGN.md: {"meta":{"requestId"},"data"} on success, with
// "pagination" for lists, and an RFC 7807-shaped "error" object on failure.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "http/message.h"

namespace tollgate {

unsigned HttpStatusOf(ErrorCode code);

HttpResponse OkResponse(const std::string& request_id, nlohmann::json data);
HttpResponse ListResponse(const std::string& request_id, nlohmann::json data,
                          const std::optional<std::string>& cursor);
HttpResponse ErrorResponse(const std::string& request_id, const Error& error);

}  // namespace tollgate
