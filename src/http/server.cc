#include <utility>  // before Boost, see DESIGN.md

#include "http/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <list>
#include <optional>
#include <thread>
#include <vector>

#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "common/base58.h"
#include "common/event_loop.h"
#include "common/request_scope.h"
#include "common/crypto.h"
#include "common/text.h"

namespace tollgate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
// A TLS connection over the session's own socket, which stays where the sweep and Shutdown find
// it (SessionEntry::socket): cancelling the socket cancels the TLS stream's operations too.
using TlsStream = asio::ssl::stream<tcp::socket&>;

namespace {

// Request ids: a random per-thread stem and a counter. Unique without a syscall or the CSPRNG
// on every request (NewId would cost ~1 µs of RAND_bytes per request).
std::string NextRequestId() {
  thread_local const std::string stem = "req_" + Base58Encode(RandomBytes(8));
  thread_local std::uint64_t counter = 0;
  std::string id = stem;
  id.push_back('_');
  id += std::to_string(++counter);
  return id;
}

// Header values carry stored strings (external ids, names); a CR or LF there would let data
// forge headers. Validation refuses them at the edge; this is the last line of defence.
bool SafeHeaderValue(const std::string& name, const std::string& value, const std::string& request_id) {
  if (HasNoControlCharacters(value)) return true;
  spdlog::error("dropped response header {} of request {}: it holds control characters", name, request_id);
  return false;
}

// The headers of a streamed tollgate response, on a Beast message.
void SetHeaders(http::response_header<>& res, const HttpResponse& response, const std::string& request_id) {
  res.set(http::field::server, "tollgate");
  res.set(http::field::content_type, response.content_type);
  res.set("X-Request-Id", request_id);
  for (const auto& [name, value] : response.headers) {
    if (SafeHeaderValue(name, value, request_id)) res.insert(name, value);
  }
}

// 1xx, 204 and 304 carry no content, and RFC 9110 forbids a Content-Length there that is not
// what a 200 would send.
bool Bodiless(unsigned status) { return status < 200 || status == 204 || status == 304; }

// The status line and headers of a response whose body is `content_length` bytes, appended to
// `out`. Written by hand rather than through Beast's serializer: a verification's answer is the
// hottest path there is, and the serializer's buffer sequences cost more than the handler
// (callgrind, docs/ARCHITECTURE.md). Connection follows RFC 9112: HTTP/1.1 says close when
// closing, HTTP/1.0 says keep-alive when keeping.
void RenderHead(std::string& out, const HttpResponse& response, unsigned version, bool keep_alive,
                const std::string& request_id, std::size_t content_length) {
  char number[24];
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out.append(number, std::to_chars(number, number + sizeof number, response.status).ptr);
  out += ' ';
  out += http::obsolete_reason(static_cast<http::status>(response.status));
  out += "\r\nServer: tollgate\r\nContent-Type: ";
  out += response.content_type;
  out += "\r\nX-Request-Id: ";
  out += request_id;
  out += "\r\n";
  for (const auto& [name, value] : response.headers) {
    if (!SafeHeaderValue(name, value, request_id)) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!Bodiless(response.status)) {
    out += "Content-Length: ";
    out.append(number, std::to_chars(number, number + sizeof number, content_length).ptr);
    out += "\r\n";
  }
  if (version >= 11 && !keep_alive) out += "Connection: close\r\n";
  if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n";
  out += "\r\n";
}

HttpResponse PlainError(unsigned status, const char* title, const std::string& detail, const std::string& request_id) {
  HttpResponse response;
  response.status = status;
  response.body = std::string(R"({"meta":{"requestId":")") + request_id + R"("},"error":{"title":")" + title +
                  R"(","detail":")" + detail + R"(","status":)" + std::to_string(status) +
                  R"(,"type":"urn:tollgate:error:transport"}})";
  return response;
}

// The producer's next piece. An exception is a bug; it counts as a failure of the body, since
// nothing may escape into the event loop.
BodyPiece NextPiece(BodyProducer& producer, std::string& piece, const std::string& request_id) {
  try {
    return producer(piece);
  } catch (const std::exception& e) {
    spdlog::error("the body of request {} failed with an exception: {}", request_id, e.what());
  } catch (...) {
    spdlog::error("the body of request {} failed with a non-standard exception", request_id);
  }
  return BodyPiece::kFailed;
}

}  // namespace

using SteadyClock = std::chrono::steady_clock;

// One accepted connection, registered with its worker while it lives so Shutdown can close it
// when idle and the sweep can cut it at its deadline. Touched only on its worker's thread.
//
// Timeouts are deadlines, not timers: each phase (idle, headers, body, write) only stores when
// it must be over, and the worker's sweep (a few times a second, see SweepInterval) cancels the
// socket of every session past its deadline. A timer per operation, as beast::tcp_stream arms,
// cost a timer cancel and re-arm for every read and write, 14 % of a verification.
struct SessionEntry {
  tcp::socket* socket = nullptr;
  bool idle = true;
  bool timed_out = false;  // set by the sweep, which then cancels the socket's operations
  SteadyClock::time_point deadline = SteadyClock::time_point::max();

  void ExpireAfter(std::chrono::milliseconds timeout) { deadline = SteadyClock::now() + timeout; }
  void NoDeadline() { deadline = SteadyClock::time_point::max(); }
};

struct Worker {
  // Declared before the io_context, so it outlives it: destroying the io_context destroys the
  // frames of sessions still open (the reaper stopped the loop), whose registrations erase
  // themselves from this list.
  std::list<SessionEntry*> sessions;
  asio::io_context ioc{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  bool draining = false;
  std::atomic<bool> drain_started{false};  // set on the worker, read by the reaper
  std::thread thread;
};

class HttpServer::Impl {
 public:
  Impl(ServerOptions options, Handler handler) : options_(std::move(options)), handler_(std::move(handler)) {}

  Status LoadTls();
  Status Bind();
  void Run();
  void Shutdown(std::chrono::milliseconds grace);
  void Wait();

  unsigned short port() const { return port_; }
  std::size_t open_connections() const { return connections_.load(std::memory_order_relaxed); }

 private:
  using Parser = http::request_parser<http::string_body>;

  asio::awaitable<void> Accept(Worker& worker);
  asio::awaitable<void> Sweep(Worker& worker);
  // One connection: registers it, does the TLS handshake when the port speaks TLS, runs Session,
  // and closes.
  asio::awaitable<void> Serve(Worker& worker, tcp::socket socket);
  // Requests and answers on `stream` (the socket itself, or a TlsStream over it) until the
  // connection ends. True when it ended by tollgate's choice (Connection: close, shutdown) with
  // the stream sound, so that a TLS connection is worth a close_notify.
  template <class Stream>
  asio::awaitable<bool> Session(Worker& worker, SessionEntry& entry, Stream& stream, const std::string& remote);
  // Reads until `parser` holds a whole request (already buffered bytes first), under the header
  // and then the body deadline. Beast's parser, fed by hand: its composed read operations cost
  // more than the parsing.
  template <class Stream>
  asio::awaitable<boost::system::error_code> ReadRequest(SessionEntry& entry, Stream& stream,
                                                         beast::flat_buffer& buffer, Parser& parser);
  // Sends `head` and `body` (one gathered write, and usually no wait at all); false when the
  // connection failed or timed out.
  asio::awaitable<bool> Send(SessionEntry& entry, tcp::socket& socket, std::string_view head, std::string_view body);
  // The same over TLS.
  asio::awaitable<bool> Send(SessionEntry& entry, TlsStream& stream, std::string_view head, std::string_view body);
  // Answers a request whose headers or body broke a limit, then closes after draining a little.
  template <class Stream>
  asio::awaitable<void> Reject(SessionEntry& entry, Stream& stream, unsigned version, HttpResponse response,
                               const std::string& request_id);
  // How a streamed response ended: failed (an error, a timeout, a failed body: the connection is
  // cut), whole with the connection to be closed (an HTTP/1.0 body ends with it), or whole with
  // the connection kept for the next request.
  enum class StreamEnd { kFailed, kClose, kKeepAlive };
  // Writes a response whose body comes from its producer.
  template <class Stream>
  asio::awaitable<StreamEnd> WriteStreamed(SessionEntry& entry, Stream& stream, HttpResponse response, unsigned version,
                                      bool keep_alive, const std::string& request_id, bool head);
  // The response a handler completes later; 503 if it is not completed within the deadline.
  asio::awaitable<HttpResponse> AwaitDeferred(Worker& worker, std::shared_ptr<DeferredResponse> deferred,
                                              const std::string& request_id);
  // How often each worker looks for sessions past their deadline: a tenth of the shortest
  // timeout, between 5 ms and 250 ms, so a deadline is enforced within 10 % of its length.
  std::chrono::milliseconds SweepInterval() const;

  ServerOptions options_;
  Handler handler_;
  std::atomic<std::size_t> connections_{0};  // outlives the workers (sessions count themselves out)
  std::vector<std::unique_ptr<Worker>> workers_;
  unsigned short port_ = 0;
  std::atomic<bool> shutting_down_{false};
  std::thread reaper_;  // enforces the shutdown grace period
  // Set when the port speaks TLS. OpenSSL's SSL_CTX is safe to share: each connection gets its
  // own SSL from it, on its worker's thread.
  std::optional<asio::ssl::context> tls_;
};

namespace {

// A file the server must read at start, or the reason it cannot, in words a person can act on.
Status CheckReadable(const std::string& path, const char* what) {
  std::ifstream file(path);
  if (!file) {
    return Fail(Error::InvalidInput(std::string("cannot read the TLS ") + what + " file '" + path +
                                    "': " + std::strerror(errno)));
  }
  return {};
}

}  // namespace

Status HttpServer::Impl::LoadTls() {
  const std::string& cert = options_.tls_cert_file;
  const std::string& key = options_.tls_key_file;
  if (cert.empty() && key.empty()) return {};
  if (cert.empty() || key.empty()) {
    return Fail(Error::InvalidInput("TLS needs both a certificate file and a private key file (--tls-cert and --tls-key)"));
  }
  if (auto status = CheckReadable(cert, "certificate"); !status) return status;
  if (auto status = CheckReadable(key, "private key"); !status) return status;
  asio::ssl::context context(asio::ssl::context::tls_server);
  SSL_CTX* native = context.native_handle();
  // TLS 1.2 and 1.3 only; no renegotiation (a client-driven CPU cost with no use here).
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // OpenSSL's default for an encrypted key is to prompt on the terminal, which would hang a
  // server: refuse such a key instead, and say so below.
  SSL_CTX_set_default_passwd_cb(native, [](char*, int, int, void*) { return 0; });
  boost::system::error_code ec;
  context.use_certificate_chain_file(cert, ec);
  if (ec) {
    return Fail(Error::InvalidInput("the TLS certificate file '" + cert + "' holds no usable PEM certificate chain (" +
                                    ec.message() + ")"));
  }
  context.use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    return Fail(Error::InvalidInput("the TLS private key in '" + key + "' does not belong to the certificate in '" +
                                    cert + "'"));
  }
  if (ec) {
    return Fail(Error::InvalidInput("the TLS private key file '" + key + "' holds no usable PEM private key (" +
                                    ec.message() + "); an encrypted key is not supported, decrypt it first"));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return Fail(Error::InvalidInput("the TLS private key in '" + key + "' does not belong to the certificate in '" +
                                    cert + "'"));
  }
  struct stat info {};
  if (::stat(key.c_str(), &info) == 0 && (info.st_mode & S_IROTH) != 0) {
    spdlog::warn("the TLS private key file '{}' is readable by every user of this machine; chmod 600 it", key);
  }
  tls_.emplace(std::move(context));
  return {};
}

Status HttpServer::Impl::Bind() {
  if (auto status = LoadTls(); !status) return status;
  const int count = options_.workers > 0 ? options_.workers
                                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return Fail(Error::InvalidInput("listen address '" + options_.address + "' is not an IP address"));
  unsigned short port = options_.port;
  for (int i = 0; i < count; ++i) {
    auto worker = std::make_unique<Worker>();
    auto acceptor = std::make_unique<tcp::acceptor>(worker->ioc);
    const tcp::endpoint endpoint(address, port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      // SO_REUSEPORT: every worker listens on the same port and the kernel balances between them.
      int one = 1;
      if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        ec = boost::system::error_code(errno, boost::system::system_category());
      }
    }
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Fail(Error::Unavailable("cannot listen on " + options_.address + ":" + std::to_string(port) + ": " + ec.message()));
    }
    // With port 0 the first bind picks the port; the other workers join it.
    if (port == 0) port = acceptor->local_endpoint().port();
    worker->acceptor = std::move(acceptor);
    workers_.push_back(std::move(worker));
  }
  port_ = port;
  return {};
}

void HttpServer::Impl::Run() {
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    asio::co_spawn(w->ioc, Accept(*w), asio::detached);
    asio::co_spawn(w->ioc, Sweep(*w), asio::detached);
    w->thread = std::thread([w] {
      const ScopedEventLoop loop(w->ioc);
      w->ioc.run();
    });
  }
}

asio::awaitable<void> HttpServer::Impl::Accept(Worker& worker) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await worker.acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !worker.acceptor->is_open()) co_return;
      // EMFILE and friends: back off briefly instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer timer(worker.ioc, std::chrono::milliseconds(50));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
      socket.close(ec);  // over the cap: refuse at once rather than queue unboundedly
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(worker.ioc, Serve(worker, std::move(socket)), asio::detached);
  }
}

std::chrono::milliseconds HttpServer::Impl::SweepInterval() const {
  const auto shortest = std::min({options_.header_timeout, options_.body_timeout, options_.idle_timeout,
                                  options_.write_timeout});
  return std::clamp(shortest / 10, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
}

asio::awaitable<void> HttpServer::Impl::Sweep(Worker& worker) {
  asio::steady_timer timer(worker.ioc);
  const auto interval = SweepInterval();
  boost::system::error_code ec;
  for (;;) {
    timer.expires_after(interval);
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    const auto now = SteadyClock::now();
    for (SessionEntry* session : worker.sessions) {
      // Cancelled at every sweep while past its deadline, not once: a TLS read is several socket
      // operations, and one that starts after a cancel must be cancelled again.
      if (session->deadline <= now) {
        session->timed_out = true;
        session->socket->cancel(ec);
      }
    }
  }
}

template <class Stream>
asio::awaitable<boost::system::error_code> HttpServer::Impl::ReadRequest(SessionEntry& entry, Stream& stream,
                                                                         beast::flat_buffer& buffer, Parser& parser) {
  boost::system::error_code ec;
  bool reading_body = false;
  for (;;) {
    if (buffer.size() > 0) {
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec && ec != http::error::need_more) co_return ec;
      ec = {};
      if (parser.is_done()) co_return ec;
      // The header's size is Beast's header_limit; past it, a chunk-size line or a trailer that
      // never ends would grow the buffer without bound (body_limit counts chunk data only).
      if (used == 0 && parser.is_header_done() && buffer.size() > options_.max_header_bytes) {
        co_return http::error::body_limit;
      }
      if (!reading_body && parser.is_header_done()) {
        reading_body = true;
        entry.ExpireAfter(options_.body_timeout);
      }
      // Progress with bytes left: parse on (a chunked body ends one chunk at a time).
      if (used > 0 && buffer.size() > 0) continue;
    }
    const std::size_t room = std::max<std::size_t>(buffer.capacity() - buffer.size(), 4096);
    const std::size_t n = co_await stream.async_read_some(buffer.prepare(room),
                                                          asio::redirect_error(asio::use_awaitable, ec));
    if (entry.timed_out) co_return beast::error::timeout;
    if (ec == asio::error::eof) {
      // The client closed its side: a message delimited by the close may end here.
      parser.put_eof(ec);
      if (ec) co_return ec;  // cut short (partial_message): answered 400
      co_return parser.is_done() ? ec : http::error::end_of_stream;
    }
    if (ec) co_return ec;
    buffer.commit(n);
  }
}

asio::awaitable<bool> HttpServer::Impl::Send(SessionEntry& entry, TlsStream& stream, std::string_view head,
                                             std::string_view body) {
  // TLS writes one record per buffer: give it head and body as one, for one record and one send.
  // Encryption costs more than the copy.
  std::string message;
  message.reserve(head.size() + body.size());
  message.append(head).append(body);
  boost::system::error_code ec;
  entry.ExpireAfter(options_.write_timeout);
  co_await asio::async_write(stream, asio::buffer(message), asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec && !entry.timed_out;
}

asio::awaitable<bool> HttpServer::Impl::Send(SessionEntry& entry, tcp::socket& stream, std::string_view head,
                                             std::string_view body) {
  boost::system::error_code ec;
  const std::array<asio::const_buffer, 2> both{asio::buffer(head), asio::buffer(body)};
  // An answer almost always fits the socket's send buffer: send it now, without a trip through
  // the event loop. Only what did not fit waits for the socket, under the write timeout.
  std::size_t sent = stream.write_some(both, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    sent = 0;
  }
  if (ec) co_return false;
  if (sent == head.size() + body.size()) co_return true;
  entry.ExpireAfter(options_.write_timeout);
  if (sent < head.size()) {
    const std::array<asio::const_buffer, 2> rest{asio::buffer(head.substr(sent)), asio::buffer(body)};
    co_await asio::async_write(stream, rest, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(stream, asio::buffer(body.substr(sent - head.size())),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return !ec && !entry.timed_out;
}

asio::awaitable<void> HttpServer::Impl::Serve(Worker& worker, tcp::socket socket) {
  connections_.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code ec;
  socket.non_blocking(true, ec);  // Send's first attempt must not block
  SessionEntry entry{&socket};
  // Registered for the session's whole life, also when it ends by an exception (co_spawn's
  // detached frame unwinds): the sweep reads every registered entry.
  struct Registration {
    Worker& worker;
    std::list<SessionEntry*>::iterator at;
    std::atomic<std::size_t>& connections;
    ~Registration() {
      worker.sessions.erase(at);
      connections.fetch_sub(1, std::memory_order_relaxed);
    }
  } registration{worker, worker.sessions.insert(worker.sessions.end(), &entry), connections_};
  std::string remote;
  {
    const auto endpoint = socket.remote_endpoint(ec);
    if (!ec) remote = endpoint.address().to_string();
  }

  if (!tls_) {
    co_await Session(worker, entry, socket, remote);
  } else {
    TlsStream stream(socket, *tls_);
    // The handshake is part of the request's headers: bounded by the header timeout, and, like
    // an idle connection, closed at once by Shutdown.
    entry.ExpireAfter(options_.header_timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || entry.timed_out) {
      spdlog::debug("TLS handshake with {} failed: {}", remote, entry.timed_out ? "timed out" : ec.message());
    } else if (co_await Session(worker, entry, stream, remote)) {
      // close_notify, so the client can tell the end from a cut; bounded, as the client may
      // never answer with its own.
      entry.timed_out = false;
      entry.ExpireAfter(std::min(options_.write_timeout, std::chrono::milliseconds(500)));
      co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

template <class Stream>
asio::awaitable<bool> HttpServer::Impl::Session(Worker& worker, SessionEntry& entry, Stream& stream,
                                                const std::string& remote) {
  boost::system::error_code ec;
  beast::flat_buffer buffer;
  std::string head;  // the answer's status line and headers, its memory kept between requests

  while (!worker.draining) {
    // Idle: wait for the first byte of the next request, bounded by the idle timeout.
    entry.idle = true;
    if (buffer.size() == 0) {
      entry.ExpireAfter(options_.idle_timeout);
      const std::size_t n = co_await stream.async_read_some(buffer.prepare(8192), asio::redirect_error(asio::use_awaitable, ec));
      if (ec || entry.timed_out) co_return false;
      buffer.commit(n);
    }
    entry.idle = false;

    const std::string request_id = NextRequestId();
    Parser parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    parser.body_limit(options_.max_body_bytes);
    parser.eager(true);
    entry.ExpireAfter(options_.header_timeout);
    ec = co_await ReadRequest(entry, stream, buffer, parser);
    if (ec == http::error::header_limit) {
      co_await Reject(entry, stream, 11, PlainError(431, "Request Header Fields Too Large",
                                            "the request headers exceed " + std::to_string(options_.max_header_bytes) + " bytes", request_id), request_id);
      co_return false;
    }
    if (ec == http::error::body_limit) {
      co_await Reject(entry, stream, parser.is_header_done() ? parser.get().version() : 11,
                      PlainError(413, "Payload Too Large",
                                 "the request body exceeds the limit of " + std::to_string(options_.max_body_bytes) + " bytes", request_id), request_id);
      co_return false;
    }
    if (ec) {
      // A malformed request gets an answer; a timeout, a close, a reset or a broken TLS session
      // does not.
      const bool tls_failed = ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated;
      if (ec != beast::error::timeout && ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != asio::error::eof && ec != asio::error::connection_reset && !tls_failed) {
        co_await Reject(entry, stream, 11, PlainError(400, "Bad Request", "malformed HTTP request", request_id), request_id);
      }
      co_return false;
    }
    entry.NoDeadline();  // the handler runs; a deferred answer has its own deadline

    http::request<http::string_body> req = parser.release();
    HttpRequest request;
    request.method = std::string(req.method_string());
    const std::string_view target = req.target();
    const auto question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
    request.content_type = std::string(req[http::field::content_type]);
    request.authorization = std::string(req[http::field::authorization]);
    request.api_key = std::string(req["X-API-Key"]);
    request.real_ip = std::string(req["X-Real-IP"]);
    request.if_none_match = std::string(req[http::field::if_none_match]);
    request.remote_address = remote;
    request.body = std::move(req.body());
    request.request_id = request_id;

    const auto started = SteadyClock::now();
    HttpResponse response = [&] {
      RequestScope scope(request_id);  // the handler's log lines carry the request's id
      return handler_(request);
    }();
    const std::string_view route = response.route;
    if (response.deferred) response = co_await AwaitDeferred(worker, std::move(response.deferred), request_id);
    const auto elapsed = SteadyClock::now() - started;
    if (options_.on_answer) options_.on_answer(route, response.status, elapsed);
    // The request line only: headers and bodies may hold keys.
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("{} {} {} {} us {} {}", request.method, request.path, response.status,
                    std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count(), request.remote_address,
                    request_id);
    }
    const bool keep_alive = req.keep_alive() && !worker.draining;
    const bool is_head = req.method() == http::verb::head;
    if (response.producer) {
      // A stream keeps the session busy (not idle) until its last piece: Shutdown lets it
      // finish within the grace period, after which the reaper cuts it.
      const StreamEnd end =
          co_await WriteStreamed(entry, stream, std::move(response), req.version(), keep_alive, request_id, is_head);
      if (end != StreamEnd::kKeepAlive) co_return end == StreamEnd::kClose;
      continue;
    }
    head.clear();
    RenderHead(head, response, req.version(), keep_alive, request_id, response.body.size());
    // HEAD: what GET would send, without the body.
    const bool no_body = is_head || Bodiless(response.status);
    if (!co_await Send(entry, stream, head, no_body ? std::string_view() : std::string_view(response.body))) {
      co_return false;
    }
    if (!keep_alive) co_return true;
  }
  co_return true;  // draining: the last answer went out whole
}

asio::awaitable<HttpResponse> HttpServer::Impl::AwaitDeferred(Worker& worker, std::shared_ptr<DeferredResponse> deferred,
                                                               const std::string& request_id) {
  if (!deferred->ready()) {
    // Woken by Complete through a weak pointer: a completion that comes after this frame is gone
    // (the deadline passed, or the server stopped) finds no timer and does nothing.
    auto wait = std::make_shared<asio::steady_timer>(worker.ioc, options_.deferred_timeout);
    deferred->OnReady([weak = std::weak_ptr<asio::steady_timer>(wait)] {
      if (auto timer = weak.lock()) timer->cancel();
    });
    boost::system::error_code ec;
    co_await wait->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    deferred->OnReady(nullptr);
  }
  if (deferred->ready()) co_return deferred->Take();
  spdlog::error("request {} got no answer within {} ms", request_id, options_.deferred_timeout.count());
  co_return PlainError(503, "Service Unavailable", "the answer did not come in time; retry", request_id);
}

template <class Stream>
asio::awaitable<void> HttpServer::Impl::Reject(SessionEntry& entry, Stream& stream, unsigned version,
                                               HttpResponse response, const std::string& request_id) {
  entry.timed_out = false;  // the answer gets its own write timeout, even after a slow request
  std::string head;
  RenderHead(head, response, version, false, request_id, response.body.size());
  if (!co_await Send(entry, stream, head, response.body)) co_return;
  // Lingering close: stop sending, then read and discard what the client is still sending for a
  // moment, so its TCP stack does not answer our response with a reset before it is read.
  boost::system::error_code ec;
  entry.socket->shutdown(tcp::socket::shutdown_send, ec);
  entry.ExpireAfter(std::chrono::milliseconds(500));
  std::array<char, 16384> sink;
  std::size_t drained = 0;
  while (!ec && !entry.timed_out && drained < (8u << 20)) {
    drained += co_await entry.socket->async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
  }
}

// HTTP/1.1: the header with "Transfer-Encoding: chunked", one chunk per piece (each write
// bounded by the write timeout), then the last chunk. HTTP/1.0 has no chunked encoding, so the
// body is sent as is and ends with the connection. A failed body ends the connection without
// the last chunk: the client sees a truncated transfer.
template <class Stream>
asio::awaitable<HttpServer::Impl::StreamEnd> HttpServer::Impl::WriteStreamed(SessionEntry& entry, Stream& socket, HttpResponse response,
                                                      unsigned version, bool keep_alive,
                                                      const std::string& request_id, bool head) {
  const bool chunked = version >= 11;
  http::response<http::empty_body> res{static_cast<http::status>(response.status), version};
  SetHeaders(res, response, request_id);
  res.keep_alive(keep_alive && chunked);
  res.chunked(chunked);
  http::response_serializer<http::empty_body> serializer{res};
  boost::system::error_code ec;
  entry.ExpireAfter(options_.write_timeout);
  co_await http::async_write_header(socket, serializer, asio::redirect_error(asio::use_awaitable, ec));
  if (ec || entry.timed_out) co_return StreamEnd::kFailed;
  const StreamEnd whole = res.keep_alive() ? StreamEnd::kKeepAlive : StreamEnd::kClose;
  if (head) co_return whole;

  std::string piece;
  std::size_t sent = 0;
  for (BodyPiece state = BodyPiece::kMore; state != BodyPiece::kLast;) {
    piece.clear();
    state = NextPiece(response.producer, piece, request_id);
    if (state == BodyPiece::kFailed) {
      spdlog::warn("response to request {} cut after {} bytes of its body: the body could not be completed",
                   request_id, sent);
      co_return StreamEnd::kFailed;
    }
    if (piece.empty()) continue;  // an empty chunk would end the body
    const asio::const_buffer bytes(piece.data(), piece.size());
    entry.ExpireAfter(options_.write_timeout);
    if (chunked) {
      co_await asio::async_write(socket, http::make_chunk(bytes), asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await asio::async_write(socket, bytes, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || entry.timed_out) co_return StreamEnd::kFailed;
    sent += piece.size();
  }
  if (!chunked) co_return StreamEnd::kClose;  // HTTP/1.0: the body ends with the connection
  entry.ExpireAfter(options_.write_timeout);
  co_await asio::async_write(socket, http::make_chunk_last(), asio::redirect_error(asio::use_awaitable, ec));
  co_return ec || entry.timed_out ? StreamEnd::kFailed : whole;
}

void HttpServer::Impl::Shutdown(std::chrono::milliseconds grace) {
  if (shutting_down_.exchange(true)) return;
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    asio::post(w->ioc, [w] {
      w->draining = true;
      w->drain_started.store(true);
      boost::system::error_code ec;
      w->acceptor->close(ec);
      // Busy sessions finish their request and then see `draining`; idle ones are woken now.
      for (SessionEntry* session : w->sessions) {
        if (session->idle) session->socket->cancel(ec);
      }
    });
  }
  reaper_ = std::thread([this, grace] {
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all_stopped = true;
      bool all_draining = true;
      for (auto& worker : workers_) {
        all_stopped = all_stopped && worker->ioc.stopped();
        all_draining = all_draining && (worker->ioc.stopped() || worker->drain_started.load());
      }
      if (all_stopped) return;
      // Every session is gone and no worker accepts any more: what is left on the loops is not
      // ours to wait for (the Redis limiter keeps a read armed on each shard connection).
      if (all_draining && open_connections() == 0) {
        for (auto& worker : workers_) worker->ioc.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    spdlog::warn("shutdown grace period over; closing {} connection(s) still open", open_connections());
    for (auto& worker : workers_) worker->ioc.stop();
  });
}

void HttpServer::Impl::Wait() {
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
  if (reaper_.joinable()) reaper_.join();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  impl_->Shutdown(std::chrono::milliseconds(0));
  impl_->Wait();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const ServerOptions& options, Handler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  if (auto status = impl->Bind(); !status) return Fail(status.error());
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

unsigned short HttpServer::port() const { return impl_->port(); }
std::size_t HttpServer::open_connections() const { return impl_->open_connections(); }
void HttpServer::Shutdown(std::chrono::milliseconds grace) { impl_->Shutdown(grace); }
void HttpServer::Wait() { impl_->Wait(); }

}  // namespace tollgate
