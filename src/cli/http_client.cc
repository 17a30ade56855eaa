#include "cli/http_client.h"

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>

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
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cli/duration.h"
#include "common/text.h"

namespace tollgate {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Far above any answer the API gives (a page of 100 keys is tens of KiB) while still bounding
// what a misbehaving server can make the CLI hold in memory.
constexpr std::uint64_t kMaxResponseBytes = 16 * 1024 * 1024;


Error BadUrl(std::string_view url, std::string_view why) {
  return Error::InvalidInput(fmt::format("invalid tollgate URL \"{}\": {}", url, why));
}

// What one exchange produced; written by the coroutine, read after the io_context stops.
struct Exchange {
  bool done = false;
  std::string failure;  // empty on success
  http::response<http::string_body> response;
};

// Send, receive, on a connected stream (the TCP stream, or TLS over it).
template <class Stream>
asio::awaitable<void> Converse(Stream& stream, const ServerUrl& url,
                               const http::request<http::string_body>& request, Exchange& exchange) {
  beast::error_code ec;
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    exchange.failure =
        fmt::format("lost the connection to tollgate at {}: {}", url.text, ec.message());
    co_return;
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    exchange.failure =
        fmt::format("no valid HTTP answer from tollgate at {}: {}", url.text, ec.message());
    co_return;
  }
  exchange.response = parser.release();
  exchange.done = true;
}

// Resolve, connect, (handshake,) send, receive. Runs on the client's private io_context; the
// overall deadline is enforced from outside by io_context::run_for, so no step needs its own
// timer. tls is null for http://.
asio::awaitable<void> RunExchange(const ServerUrl& url,
                                  const http::request<http::string_body>& request,
                                  asio::ssl::context* tls, Exchange& exchange) {
  const auto executor = co_await asio::this_coro::executor;
  beast::error_code ec;

  asio::ip::tcp::resolver resolver(executor);
  const auto endpoints = co_await resolver.async_resolve(
      url.host, url.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    exchange.failure = fmt::format("cannot reach tollgate at {}: cannot resolve {}: {}", url.text,
                                   url.host, ec.message());
    co_return;
  }

  beast::tcp_stream stream(executor);
  co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    exchange.failure = fmt::format("cannot reach tollgate at {}: {}", url.text, ec.message());
    co_return;
  }

  if (tls == nullptr) {
    co_await Converse(stream, url, request, exchange);
    // One request per connection; a failed shutdown changes nothing for the caller.
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), *tls);
  // SNI for a name (RFC 6066 allows no IP address there), and the name or IP address the
  // certificate must carry.
  asio::ip::make_address(url.host, ec);
  const bool ip_literal = !ec;
  if (!ip_literal && !SSL_set_tlsext_host_name(secure.native_handle(), url.host.c_str())) {
    exchange.failure =
        fmt::format("cannot reach tollgate at {}: TLS cannot use the name {}", url.text, url.host);
    co_return;
  }
  secure.set_verify_callback(asio::ssl::host_name_verification(url.host));
  co_await secure.async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    // Why the certificate was refused, when it was; the hint only where a CA file would help.
    const long verify = SSL_get_verify_result(secure.native_handle());
    std::string why;
    if (verify != X509_V_OK) why = fmt::format(" ({})", X509_verify_cert_error_string(verify));
    const bool untrusted = verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
                           verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                           verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                           verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
    exchange.failure = fmt::format("cannot reach tollgate at {}: TLS handshake failed: {}{}{}", url.text,
                                   ec.message(), why,
                                   untrusted ? "; pass the certificate of its authority with --ca-file" : "");
    co_return;
  }
  // One request per connection; the answer is whole (Content-Length or chunked), so the
  // server's close_notify need not be waited for.
  co_await Converse(secure, url, request, exchange);
}

std::string HostHeader(const ServerUrl& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  return ipv6 ? fmt::format("[{}]:{}", url.host, url.port)
              : fmt::format("{}:{}", url.host, url.port);
}

}  // namespace

Result<ServerUrl> ParseServerUrl(std::string_view url) {
  const bool tls = StartsWithNoCase(url, "https://");
  if (!tls && !StartsWithNoCase(url, "http://")) {
    return Fail(BadUrl(url, "expected http[s]://host[:port][/path], e.g. http://127.0.0.1:8080"));
  }
  if (url.find_first_of("?#") != std::string_view::npos) {
    return Fail(BadUrl(url, "a query or fragment has no meaning here"));
  }

  const std::string_view rest = url.substr(tls ? 8 : 7);  // after "https://" or "http://"
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return Fail(BadUrl(url,
                       "user info is not supported; pass the root key with --root-key or "
                       "TOLLGATE_ROOT_KEY"));
  }

  ServerUrl parsed;
  parsed.text = std::string(url);
  parsed.tls = tls;
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return Fail(BadUrl(url, "unclosed '[' in the host"));
    parsed.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      return Fail(BadUrl(url, "expected ':' and a port after the IPv6 address"));
    }
    port_text = after.empty() ? std::string_view() : after.substr(1);
    if (after == ":") return Fail(BadUrl(url, "empty port"));
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return Fail(BadUrl(url, "put an IPv6 address in brackets, e.g. http://[::1]:8080"));
    }
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return Fail(BadUrl(url, "empty port"));
    }
  }
  if (parsed.host.empty()) return Fail(BadUrl(url, "missing host"));
  if (!port_text.empty() && !IsValidPort(port_text)) {
    return Fail(BadUrl(url, "the port must be a number from 1 to 65535"));
  }
  parsed.port = port_text.empty() ? (tls ? "443" : "80") : std::string(port_text);

  while (path.ends_with('/')) path.remove_suffix(1);
  parsed.base_path = std::string(path);
  return parsed;
}

HttpClient::HttpClient(ServerUrl url, std::string bearer, std::chrono::milliseconds timeout)
    : url_(std::move(url)), bearer_(std::move(bearer)), timeout_(timeout) {}

Result<ApiResponse> HttpClient::PostJson(std::string_view path, const nlohmann::json& body) {
  http::request<http::string_body> request{http::verb::post, url_.base_path + std::string(path),
                                           11};
  request.set(http::field::host, HostHeader(url_));
  request.set(http::field::user_agent, "tollgate-cli");
  request.set(http::field::content_type, "application/json");
  request.set(http::field::accept, "application/json");
  request.set(http::field::authorization, "Bearer " + bearer_);
  request.body() = body.dump();
  request.prepare_payload();

  // Declared before the io_context so that they outlive the coroutine frame the context destroys.
  Exchange exchange;
  std::exception_ptr thrown;
  std::optional<asio::ssl::context> tls;
  if (url_.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    tls->set_verify_mode(asio::ssl::verify_peer);
    beast::error_code ec;
    const std::string& ca_file = url_.ca_file;
    if (ca_file.empty()) {
      tls->set_default_verify_paths(ec);
    } else {
      tls->load_verify_file(ca_file, ec);
    }
    if (ec) {
      return Fail(Error::InvalidInput(
          ca_file.empty() ? fmt::format("cannot load the system's certificate authorities: {}", ec.message())
                          : fmt::format("--ca-file '{}' holds no usable PEM certificate: {}", ca_file, ec.message())));
    }
  }
  asio::io_context io_context;
  asio::co_spawn(io_context, RunExchange(url_, request, tls ? &*tls : nullptr, exchange),
                 [&thrown](std::exception_ptr e) { thrown = std::move(e); });
  io_context.run_for(timeout_);

  if (thrown) {
    // Only allocation failures and the like get here; every I/O error is redirected to a code.
    try {
      std::rethrow_exception(thrown);
    } catch (const std::exception& e) {
      return Fail(Error::Internal(fmt::format("request to {} failed: {}", url_.text, e.what())));
    }
  }
  if (!exchange.failure.empty()) return Fail(Error::Unavailable(std::move(exchange.failure)));
  if (!exchange.done) {
    return Fail(Error::Unavailable(fmt::format("cannot reach tollgate at {}: no answer within {}",
                                               url_.text, FormatDurationMillis(timeout_.count()))));
  }

  ApiResponse response;
  response.status = exchange.response.result_int();
  response.body =
      nlohmann::json::parse(exchange.response.body(), nullptr, /*allow_exceptions=*/false);
  if (response.body.is_discarded() || !response.body.is_object()) {
    return Fail(Error::Unavailable(
        fmt::format("{} answered HTTP {} without a JSON envelope; is it a tollgate server?",
                    url_.text, response.status)));
  }
  const auto meta = response.body.find("meta");
  if (meta != response.body.end() && meta->is_object() && meta->contains("requestId") &&
      (*meta)["requestId"].is_string()) {
    response.request_id = (*meta)["requestId"].get<std::string>();
  } else if (const auto header = exchange.response.find("X-Request-Id");
             header != exchange.response.end()) {
    response.request_id = std::string(header->value());
  }
  return response;
}

}  // namespace tollgate
