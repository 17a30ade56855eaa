// The request a thread is handling, for its log lines: the server opens a RequestScope around a
// handler, and the JSON log formatter (app/logging.h) adds "requestId" to every line written
// inside it. Thread-local: a handler's work runs on its worker thread. A continuation that runs
// later (the Redis limiter's answers) is outside the scope, and its lines name the id themselves.
#pragma once

#include <string>

namespace tollgate {

inline thread_local const std::string* current_request_id = nullptr;

class RequestScope {
 public:
  explicit RequestScope(const std::string& request_id) : previous_(current_request_id) {
    current_request_id = &request_id;
  }
  ~RequestScope() { current_request_id = previous_; }
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

 private:
  const std::string* previous_;
};

}  // namespace tollgate
