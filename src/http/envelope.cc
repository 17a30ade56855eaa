#include "http/envelope.h"

namespace tollgate {
namespace {

struct ErrorKind {
  unsigned status;
  const char* title;
  const char* slug;
};

ErrorKind KindOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidInput: return {400, "Bad Request", "invalid_input"};
    case ErrorCode::kUnauthorized: return {401, "Unauthorized", "unauthorized"};
    case ErrorCode::kForbidden: return {403, "Forbidden", "insufficient_permissions"};
    case ErrorCode::kNotFound: return {404, "Not Found", "not_found"};
    case ErrorCode::kMethodNotAllowed: return {405, "Method Not Allowed", "method_not_allowed"};
    case ErrorCode::kConflict: return {409, "Conflict", "conflict"};
    case ErrorCode::kPayloadTooLarge: return {413, "Payload Too Large", "payload_too_large"};
    case ErrorCode::kUnsupportedMedia: return {415, "Unsupported Media Type", "unsupported_media_type"};
    case ErrorCode::kHeadersTooLarge: return {431, "Request Header Fields Too Large", "headers_too_large"};
    case ErrorCode::kTooManyRequests: return {429, "Too Many Requests", "rate_limited"};
    case ErrorCode::kUnavailable: return {503, "Service Unavailable", "unavailable"};
    case ErrorCode::kInternal: return {500, "Internal Server Error", "internal"};
  }
  return {500, "Internal Server Error", "internal"};
}

nlohmann::json Meta(const std::string& request_id) { return {{"requestId", request_id}}; }

}  // namespace

unsigned HttpStatusOf(ErrorCode code) { return KindOf(code).status; }

HttpResponse OkResponse(const std::string& request_id, nlohmann::json data) {
  HttpResponse response;
  response.body = nlohmann::json{{"meta", Meta(request_id)}, {"data", std::move(data)}}.dump();
  return response;
}

HttpResponse ListResponse(const std::string& request_id, nlohmann::json data,
                          const std::optional<std::string>& cursor) {
  nlohmann::json pagination = {{"hasMore", cursor.has_value()}};
  if (cursor) pagination["cursor"] = *cursor;
  HttpResponse response;
  response.body = nlohmann::json{{"meta", Meta(request_id)}, {"data", std::move(data)}, {"pagination", pagination}}.dump();
  return response;
}

HttpResponse ErrorResponse(const std::string& request_id, const Error& error) {
  const ErrorKind kind = KindOf(error.code);
  nlohmann::json body = {
      {"title", kind.title},
      {"detail", error.detail.empty() ? kind.title : error.detail},
      {"status", kind.status},
      {"type", std::string("urn:tollgate:error:") + kind.slug},
  };
  if (error.code == ErrorCode::kInvalidInput) {
    nlohmann::json errors = nlohmann::json::array();
    for (const FieldError& field : error.fields) {
      nlohmann::json entry = {{"location", field.location}, {"message", field.message}};
      if (!field.fix.empty()) entry["fix"] = field.fix;
      errors.push_back(std::move(entry));
    }
    body["errors"] = std::move(errors);
  }
  HttpResponse response;
  response.status = kind.status;
  response.body = nlohmann::json{{"meta", Meta(request_id)}, {"error", std::move(body)}}
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

}  // namespace tollgate
