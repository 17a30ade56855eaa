#include <utility>  // before Boost, see DESIGN.md

#include "alerts/webhook_sender.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <condition_variable>
#include <exception>
#include <system_error>
#include <thread>

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
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
  co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    result.error = "reading the answer: " + ec.message();
    co_return;
  }
  // The status says how the receiver decided, whatever becomes of the rest (a shutdown, a body
  // cut short or too long). The body is read only so as not to close on a receiver mid-answer.
  result.status = parser.get().result_int();
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
}

// The endpoints of `addresses` on `port` that this sender may connect to; an error naming what
// was refused when none is left.
Result<std::vector<asio::ip::tcp::endpoint>> Reachable(const WebhookUrl& url, const std::vector<std::string>& addresses,
                                                       bool allow_private) {
  const auto port = static_cast<unsigned short>(std::stoi(url.port));  // 1..65535: ParseWebhookUrl checked it
  std::vector<asio::ip::tcp::endpoint> endpoints;
  std::string refused;  // the first address refused, and why
  for (const std::string& text : addresses) {
    beast::error_code ec;
    const asio::ip::address address = asio::ip::make_address(text, ec);
    if (ec) continue;
    const std::string_view kind = address.is_v4() ? NonPublicAddressKind(address.to_v4().to_bytes())
                                                   : NonPublicAddressKind(address.to_v6().to_bytes());
    if (kind.empty() || allow_private) {
      endpoints.emplace_back(address, port);
    } else if (refused.empty()) {
      refused = (text == url.host ? "" : "resolves to " + text + ", ") + "a " + std::string(kind) + " address";
    }
  }
  if (!endpoints.empty()) return endpoints;
  if (refused.empty()) return Fail(Error::Unavailable("cannot resolve " + url.host + ": no address"));
  return Fail(Error::InvalidInput("refused: " + url.host + (refused.starts_with("a ") ? " is " : " ") + refused +
                                  "; webhooks go only to public addresses unless tollgate runs with "
                                  "--webhook-allow-private-addresses"));
}

asio::awaitable<void> Send(const WebhookUrl& url, const std::vector<asio::ip::tcp::endpoint>& endpoints,
                           const Request& request, asio::ssl::context* tls, SendResult& result,
                           std::chrono::milliseconds timeout) {
  const auto executor = co_await asio::this_coro::executor;
  beast::error_code ec;
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

// A lookup under way: its thread writes the answer, Post waits for it (or for Cancel).
struct HttpWebhookSender::PendingLookup {
  std::mutex mu;
  std::condition_variable settled;
  std::optional<Result<std::vector<std::string>>> answer;  // guarded by mu
  bool cancelled = false;                                   // guarded by mu

  void Cancel() {
    {
      std::lock_guard lock(mu);
      cancelled = true;
    }
    settled.notify_all();
  }
};

Result<std::vector<std::string>> SystemNameLookup(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return Fail(Error::Unavailable("cannot resolve " + host + ": " + gai_strerror(rc)));
  }
  std::vector<std::string> addresses;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
      addresses.emplace_back(text);
    } else if (a->ai_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
      addresses.emplace_back(v6->sin6_scope_id == 0 ? std::string(text)
                                                    : std::string(text) + "%" + std::to_string(v6->sin6_scope_id));
    }
  }
  freeaddrinfo(found);
  return addresses;
}

std::optional<Result<std::vector<std::string>>> HttpWebhookSender::LookUp(const WebhookUrl& url) {
  beast::error_code ec;
  asio::ip::make_address(url.host, ec);
  if (!ec) return Result<std::vector<std::string>>(std::vector<std::string>{url.host});  // an address: no lookup
  auto pending = std::make_shared<PendingLookup>();
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return std::nullopt;
    looking_up_ = pending;
  }
  try {
    std::thread([pending, lookup = options_.lookup ? options_.lookup : NameLookup(SystemNameLookup), host = url.host] {
      auto answer = lookup(host);
      {
        std::lock_guard lock(pending->mu);
        pending->answer = std::move(answer);
      }
      pending->settled.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    pending->answer = Fail(Error::Unavailable(std::string("cannot start looking up ") + url.host + ": " + e.what()));
  }
  std::optional<Result<std::vector<std::string>>> answer;
  {
    std::unique_lock lock(pending->mu);
    pending->settled.wait_for(lock, options_.timeout, [&] { return pending->answer || pending->cancelled; });
    if (!pending->cancelled) {
      answer = pending->answer ? std::move(*pending->answer)
                               : Fail(Error::Unavailable("looking up " + url.host + " took longer than " +
                                                         std::to_string(options_.timeout.count()) + " ms"));
    }
  }
  std::lock_guard lock(mu_);
  looking_up_.reset();
  return answer;
}

SendResult HttpWebhookSender::Post(const WebhookUrl& url, const HeaderList& headers, const std::string& body) {
  auto addresses = LookUp(url);
  if (!addresses) return {.cancelled = true};
  if (!*addresses) return {.error = addresses->error().detail};
  auto endpoints = Reachable(url, **addresses, options_.allow_private_addresses);
  if (!endpoints) return {.error = endpoints.error().detail};
  SendResult result;
  const Request request = MakeRequest(url, headers, body);
  std::optional<asio::ssl::context> tls;
  if (url.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    tls->set_default_verify_paths();
    tls->set_verify_mode(asio::ssl::verify_peer);
  }
  std::exception_ptr thrown;
  bool finished = false;
  asio::io_context io_context(1);
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return {.cancelled = true};
    running_ = &io_context;
  }
  asio::co_spawn(io_context, Send(url, *endpoints, request, tls ? &*tls : nullptr, result, options_.timeout),
                 [&thrown, &finished](std::exception_ptr e) {
                   thrown = std::move(e);
                   finished = true;
                 });
  // Each phase has its own deadline; this bounds the whole (connect, then handshake + exchange).
  io_context.run_for(2 * options_.timeout + std::chrono::seconds(1));
  {
    std::lock_guard lock(mu_);
    running_ = nullptr;
    // Cut off before the receiver answered: not an attempt. Once it answered (or the exchange
    // ended anyway), the outcome stands: a 2xx just before shutdown is a delivery, not sent again.
    if (cancelled_ && !finished && !result.status) return {.cancelled = true};
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
  if (looking_up_) looking_up_->Cancel();
}

}  // namespace tollgate
