// Transport-neutral request and response values. The server turns Beast messages into these and
// back; the router and handlers see nothing of sockets (as in Beast's own examples).
#pragma once

#include <functional>
#include <memory>
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
  std::string if_none_match; // If-None-Match: the ETags a cache holds (the dashboard's files answer 304)
  std::string body;
  std::string request_id;    // "req_…", assigned by the server
};

// A streamed body, for answers too large to hold in memory (usage.export). The server calls the
// producer on the connection's worker thread after the status line and headers went out, and
// again after each piece is written (so memory is one piece, and a slow client slows the
// producer down), until it answers kLast or kFailed. Each call appends the next piece to `out`,
// which the server empties first. kFailed means the body cannot be completed: the producer logs
// why, and the server closes the connection without the terminating chunk, so the client sees a
// truncated transfer rather than a short file. A producer blocks its worker while it runs, so a
// piece should cost milliseconds (one page of a store read), not the whole answer.
enum class BodyPiece { kMore, kLast, kFailed };
using BodyProducer = std::function<BodyPiece(std::string& out)>;

class DeferredResponse;

struct HttpResponse {
  unsigned status = 200;
  std::string body;  // JSON unless content_type says otherwise; unused when producer is set
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  BodyProducer producer;  // set: the body is streamed (chunked on HTTP/1.1) instead of `body`
  // Set: the answer is not known yet (it waits on the network, e.g. the Redis limiter); every
  // other field is ignored and the server sends what the DeferredResponse is completed with.
  std::shared_ptr<DeferredResponse> deferred;
  // The route that answered, for metrics: set by the Router, valid for the Router's life.
  std::string_view route;

  void SetHeader(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// An answer completed after the handler returned. The handler creates it, hands it to whatever
// finishes the work, and returns Later(it). Complete must be called exactly once,
// on the worker thread that runs the request (the Redis limiter's callbacks run there), before
// or after the server starts waiting; the server waits at most its own deadline and then answers
// 503 itself, dropping a later completion. Not thread-safe by design: one worker owns it.
class DeferredResponse {
 public:
  void Complete(HttpResponse response) {
    ready_ = std::make_unique<HttpResponse>(std::move(response));
    if (wake_) std::exchange(wake_, nullptr)();
  }
  bool ready() const { return ready_ != nullptr; }
  HttpResponse Take() { return std::move(*ready_); }
  // The server's wake-up call, run by Complete; nullptr to stop listening.
  void OnReady(std::function<void()> wake) { wake_ = std::move(wake); }

 private:
  std::unique_ptr<HttpResponse> ready_;
  std::function<void()> wake_;
};

inline HttpResponse Later(std::shared_ptr<DeferredResponse> deferred) {
  HttpResponse response;
  response.deferred = std::move(deferred);
  return response;
}

}  // namespace tollgate
