// Errors as values. Every fallible operation in tollgate returns Result<T>; exceptions never
// cross a thread or an event-loop handler. An Error carries a category that the HTTP layer maps
// to a status code, a human-readable detail, and, for validation failures, the offending fields.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace tollgate {

enum class ErrorCode {
  kInvalidInput,        // 400: the caller sent something malformed; fields say what
  kUnauthorized,        // 401: no or unknown credentials
  kForbidden,           // 403: credentials lack a permission
  kNotFound,            // 404
  kMethodNotAllowed,    // 405
  kConflict,            // 409: duplicate or state conflict
  kPayloadTooLarge,     // 413
  kUnsupportedMedia,    // 415
  kHeadersTooLarge,     // 431
  kTooManyRequests,     // 429
  kUnavailable,         // 503: a dependency (store, broker, ...) is down
  kInternal,            // 500: a bug; logged loudly
};

// One problem with one field of a request, in the shape of Unkey's ValidationError.
struct FieldError {
  std::string location;  // e.g. "body.apiId"
  std::string message;   // e.g. "is required"
  std::string fix;       // optional hint; empty when there is none
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string detail;
  std::vector<FieldError> fields;

  static Error InvalidInput(std::string detail, std::vector<FieldError> fields = {}) {
    return {ErrorCode::kInvalidInput, std::move(detail), std::move(fields)};
  }
  static Error NotFound(std::string detail) { return {ErrorCode::kNotFound, std::move(detail), {}}; }
  static Error Conflict(std::string detail) { return {ErrorCode::kConflict, std::move(detail), {}}; }
  static Error Unavailable(std::string detail) {
    return {ErrorCode::kUnavailable, std::move(detail), {}};
  }
  static Error Internal(std::string detail) { return {ErrorCode::kInternal, std::move(detail), {}}; }
};

template <typename T>
using Result = tl::expected<T, Error>;

// For operations that return nothing on success.
using Status = Result<void>;

inline tl::unexpected<Error> Fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

// Turns collected field errors into one InvalidInput error whose detail names the first field;
// success when there are none.
inline Status FieldErrorsToStatus(std::vector<FieldError> errors) {
  if (errors.empty()) return {};
  std::string detail = errors.front().location + " " + errors.front().message;
  if (errors.size() > 1) detail += " (and " + std::to_string(errors.size() - 1) + " more problems)";
  return Fail(Error::InvalidInput(std::move(detail), std::move(errors)));
}

}  // namespace tollgate
