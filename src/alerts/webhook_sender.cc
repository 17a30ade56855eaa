#include <utility>  // before Boost, see DESIGN.md

#include "alerts/webhook_sender.h"

#include <exception>

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace tollgate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// A receiver's answer is not read beyond this: only its status matters.
constexpr std::uint64_t kMaxAnswerBytes = 64 * 1024;

using Request = http::request<http::string_body>;

// Writes the request and reads the answer's status, within the deadline set on the stream.
template <typename Stream>
asio::awaitable<void> WriteAndRead(Stream& stream, const Request& request, SendResult& result) {
  beast::error_code ec;
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    result.error = "sending the request: " + ec.message();
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  // An answer cut short after its status line still says how the receiver decided.
  if (parser.is_header_done()) result.status = parser.get().result_int();
  if (ec && !result.status) result.error = "reading the answer: " + ec.message();
}

asio::awaitable<void> Send(const WebhookUrl& url, const Request& request, asio::ssl::context* tls, SendResult& result,
                           std::chrono::milliseconds timeout) {
  const auto executor = co_await asio::this_coro::executor;
  beast::error_code ec;
  asio::ip::tcp::resolver resolver(executor);
  const auto endpoints = co_await resolver.async_resolve(url.host, url.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    result.error = "cannot resolve " + url.host + ": " + ec.message();
    co_return;
  }
  beast::tcp_stream tcp(executor);
  tcp.expires_after(timeout);
  co_await tcp.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    result.error = "cannot connect to " + url.host + ":" + url.port + ": " + ec.message();
    co_return;
  }
  // One deadline for the rest: TLS handshake, request and answer.
  tcp.expires_after(timeout);
  if (tls == nullptr) {
    co_await WriteAndRead(tcp, request, result);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *tls);
  // SNI, and the certificate must name the host.
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    result.error = "TLS: cannot set the server name " + url.host;
    co_return;
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    result.error = "TLS handshake with " + url.host + ": " + ec.message();
    co_return;
  }
  co_await WriteAndRead(stream, request, result);
}

Request MakeRequest(const WebhookUrl& url, const HeaderList& headers, const std::string& body) {
  Request request{http::verb::post, url.target, 11};
  const bool default_port = url.port == (url.tls ? "443" : "80");
  const bool ipv6 = url.host.find(':') != std::string::npos;
  const std::string host = ipv6 ? "[" + url.host + "]" : url.host;
  request.set(http::field::host, default_port ? host : host + ":" + url.port);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  return request;
}

}  // namespace

SendResult HttpWebhookSender::Post(const WebhookUrl& url, const HeaderList& headers, const std::string& body) {
  SendResult result;
  const Request request = MakeRequest(url, headers, body);
  std::optional<asio::ssl::context> tls;
  if (url.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    tls->set_default_verify_paths();
    tls->set_verify_mode(asio::ssl::verify_peer);
  }
  std::exception_ptr thrown;
  asio::io_context io_context(1);
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return {.cancelled = true};
    running_ = &io_context;
  }
  asio::co_spawn(io_context, Send(url, request, tls ? &*tls : nullptr, result, timeout_),
                 [&thrown](std::exception_ptr e) { thrown = std::move(e); });
  // Each phase has its own deadline; this bounds the whole (connect, then handshake + exchange).
  io_context.run_for(2 * timeout_ + std::chrono::seconds(1));
  {
    std::lock_guard lock(mu_);
    running_ = nullptr;
    if (cancelled_) return {.cancelled = true};
  }
  if (thrown) {
    try {
      std::rethrow_exception(thrown);
    } catch (const std::exception& e) {
      return {.error = std::string("sending failed: ") + e.what()};
    }
  }
  if (!result.status && result.error.empty()) result.error = "no answer within the timeout";
  if (result.status && !result.ok()) result.error = "answered HTTP " + std::to_string(*result.status);
  return result;
}

void HttpWebhookSender::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (running_ != nullptr) running_->stop();
}

}  // namespace tollgate
