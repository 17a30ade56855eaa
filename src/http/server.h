// The HTTP/1.1 server: Boost.Beast on Asio with C++20 coroutines. It moves bytes and enforces
// transport limits; what a request means is the handler's business (see router.h).
//
// Threads: one io_context per worker thread, each with its own SO_REUSEPORT acceptor on the
// same port, so the kernel spreads connections and a connection lives its whole life on one
// thread: no cross-thread handoff, no locks on the I/O path. Each worker owns its sessions
// list; Shutdown() only posts work to the workers.
//
// Limits: request body (413 above it), header size (431), a timeout to receive the headers and
// one for the body (slow clients are cut off), an idle timeout between keep-alive requests, and
// a cap on open connections per server.
//
// TLS (tls_cert_file and tls_key_file): the port then speaks HTTPS only, TLS 1.2 and 1.3, for
// deployments without a proxy in front. The handshake counts against the header timeout, so a
// client that opens a connection and never finishes its handshake is cut like a slow one.
//
// Streamed responses (HttpResponse::producer) go out chunked, one piece per write, each write
// under the write timeout; the next piece is produced only once the previous one is written, so a
// stream holds one piece in memory. A stream keeps its connection busy: Shutdown lets it finish
// within the grace period and cuts it after.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "http/message.h"

namespace tollgate {

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8080;  // 0 picks a free port; see HttpServer::port()
  int workers = 0;             // 0 = one per core
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  // The longest a deferred answer (HttpResponse::deferred) is awaited before the server answers
  // 503 itself. The Redis limiter answers within its own timeout; this only catches a bug.
  std::chrono::milliseconds deferred_timeout{5'000};
  std::size_t max_connections = 10'000;
  // HTTPS: a PEM certificate chain (the server's certificate first, then its intermediates) and
  // its PEM private key, read once by Start. Both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Called on the worker thread once the answer to a request is ready (before it is written),
  // with HttpResponse::route as the handler set it (Router: the route's path), the status and
  // the time from the parsed request to the answer. Not called for what the server rejects
  // before a handler runs (431, 413, malformed requests). Must not throw.
  std::function<void(std::string_view route, unsigned status, std::chrono::nanoseconds elapsed)> on_answer;
};

class HttpServer {
 public:
  // Must not throw. Called on a worker thread; may be called concurrently.
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Loads the TLS files (if any), binds the listening sockets and starts the worker threads.
  static Result<std::unique_ptr<HttpServer>> Start(const ServerOptions& options, Handler handler);
  ~HttpServer();

  unsigned short port() const;
  std::size_t open_connections() const;

  // Stops accepting, closes idle keep-alive connections, and lets requests in flight finish and
  // be answered (with "Connection: close"). Returns at once; Wait() for the workers. After
  // `grace`, connections still open are cut.
  void Shutdown(std::chrono::milliseconds grace);
  // Blocks until every worker thread has finished.
  void Wait();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate
