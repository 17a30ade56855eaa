#include "cli/http_client.h"

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

TEST(ParseServerUrl, SplitsHostPortAndBasePath) {
  const auto url = ParseServerUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(url) << url.error().detail;
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->base_path, "");
  EXPECT_EQ(url->text, "http://127.0.0.1:8080");

  const auto behind_proxy = ParseServerUrl("HTTP://tollgate.internal/api/");
  ASSERT_TRUE(behind_proxy) << behind_proxy.error().detail;
  EXPECT_EQ(behind_proxy->host, "tollgate.internal");
  EXPECT_EQ(behind_proxy->port, "80");
  EXPECT_EQ(behind_proxy->base_path, "/api");
}

TEST(ParseServerUrl, HttpsDefaultsToPort443) {
  const auto url = ParseServerUrl("https://tollgate.example.com/v");
  ASSERT_TRUE(url) << url.error().detail;
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "tollgate.example.com");
  EXPECT_EQ(url->port, "443");
  EXPECT_EQ(url->base_path, "/v");
  const auto with_port = ParseServerUrl("HTTPS://[::1]:8443");
  ASSERT_TRUE(with_port) << with_port.error().detail;
  EXPECT_TRUE(with_port->tls);
  EXPECT_EQ(with_port->host, "::1");
  EXPECT_EQ(with_port->port, "8443");
  EXPECT_FALSE(ParseServerUrl("http://h")->tls);
}

TEST(ParseServerUrl, AcceptsBracketedIpv6) {
  const auto url = ParseServerUrl("http://[::1]:9000/");
  ASSERT_TRUE(url) << url.error().detail;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "9000");
  EXPECT_EQ(url->base_path, "");
}

TEST(ParseServerUrl, RejectsWhatItCannotUseWithAReason) {
  struct Case {
    const char* url;
    const char* reason;
  };
  const Case cases[] = {
      {"ftp://x:8443", "expected http[s]://"},
      {"127.0.0.1:8080", "expected http[s]://"},
      {"https://", "missing host"},
      {"http://", "missing host"},
      {"http://:8080", "missing host"},
      {"http://host:", "empty port"},
      {"http://host:0", "1 to 65535"},
      {"http://host:65536", "1 to 65535"},
      {"http://host:80a", "1 to 65535"},
      {"http://::1:8080", "brackets"},
      {"http://[::1", "unclosed"},
      {"http://[::1]x", "after the IPv6"},
      {"http://user:pw@host", "user info"},
      {"http://host/?a=b", "query"},
  };
  for (const Case& c : cases) {
    const auto url = ParseServerUrl(c.url);
    ASSERT_FALSE(url) << c.url;
    EXPECT_EQ(url.error().code, ErrorCode::kInvalidInput);
    EXPECT_NE(url.error().detail.find(c.reason), std::string::npos)
        << c.url << ": " << url.error().detail;
  }
}

// Serves exactly one request on a loopback port with a canned answer, and keeps what it got.
class OneShotServer {
 public:
  OneShotServer(http::status status, std::string body, std::string request_id_header = "")
      : acceptor_(io_context_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread(
        [this, status, body = std::move(body), request_id_header = std::move(request_id_header)] {
          beast::error_code ec;
          asio::ip::tcp::socket socket(io_context_);
          acceptor_.accept(socket, ec);
          accepted_ = true;
          if (ec) return;
          beast::flat_buffer buffer;
          http::read(socket, buffer, request_, ec);
          if (ec) return;
          http::response<http::string_body> response{status, 11};
          response.set(http::field::content_type, "application/json");
          if (!request_id_header.empty()) response.set("X-Request-Id", request_id_header);
          response.body() = body;
          response.prepare_payload();
          http::write(socket, response, ec);
        });
  }
  ~OneShotServer() {
    // A test that failed before calling would leave the thread in accept(): knock once.
    if (!accepted_) {
      asio::io_context io_context;
      asio::ip::tcp::socket knock(io_context);
      beast::error_code ignored;
      knock.connect(acceptor_.local_endpoint(), ignored);
    }
    thread_.join();
  }

  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  // Valid once the client call returned.
  const http::request<http::string_body>& Request() const { return request_; }

 private:
  asio::io_context io_context_;
  asio::ip::tcp::acceptor acceptor_;
  http::request<http::string_body> request_;
  std::atomic<bool> accepted_{false};
  std::thread thread_;
};

TEST(HttpClient, PostsJsonWithBearerAuthAndParsesTheEnvelope) {
  OneShotServer server(http::status::ok,
                       R"({"meta":{"requestId":"req_1"},"data":{"apiId":"api_1"}})");
  const auto url = ParseServerUrl(server.Url() + "/base");
  ASSERT_TRUE(url);
  HttpClient client(*url, "tg_root_secret");

  const auto response = client.PostJson("/v2/apis.createApi", {{"name", "payments"}});

  ASSERT_TRUE(response) << response.error().detail;
  EXPECT_EQ(response->status, 200u);
  EXPECT_EQ(response->request_id, "req_1");
  EXPECT_EQ(response->body["data"]["apiId"], "api_1");
  const auto& request = server.Request();
  EXPECT_EQ(request.method(), http::verb::post);
  EXPECT_EQ(request.target(), "/base/v2/apis.createApi");
  EXPECT_EQ(request[http::field::authorization], "Bearer tg_root_secret");
  EXPECT_EQ(request[http::field::content_type], "application/json");
  EXPECT_EQ(nlohmann::json::parse(request.body()), (nlohmann::json{{"name", "payments"}}));
}

TEST(HttpClient, AnErrorStatusIsAnAnswerNotAFailure) {
  OneShotServer server(
      http::status::not_found,
      R"({"meta":{"requestId":"req_2"},"error":{"title":"Not Found","status":404}})");
  HttpClient client(*ParseServerUrl(server.Url()), "k");

  const auto response = client.PostJson("/v2/keys.getKey", {{"keyId", "key_x"}});

  ASSERT_TRUE(response) << response.error().detail;
  EXPECT_EQ(response->status, 404u);
  EXPECT_EQ(response->body["error"]["title"], "Not Found");
}

TEST(HttpClient, FallsBackToTheRequestIdHeader) {
  OneShotServer server(http::status::unauthorized, R"({"error":{"title":"Unauthorized"}})",
                       "req_h");
  HttpClient client(*ParseServerUrl(server.Url()), "k");

  const auto response = client.PostJson("/v2/keys.getKey", nlohmann::json::object());

  ASSERT_TRUE(response) << response.error().detail;
  EXPECT_EQ(response->request_id, "req_h");
}

TEST(HttpClient, ANonJsonAnswerIsNotTollgate) {
  OneShotServer server(http::status::bad_gateway, "<html>bad gateway</html>");
  HttpClient client(*ParseServerUrl(server.Url()), "k");

  const auto response = client.PostJson("/v2/keys.getKey", nlohmann::json::object());

  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(response.error().detail.find("HTTP 502"), std::string::npos) << response.error().detail;
}

TEST(HttpClient, SaysClearlyWhenNothingListens) {
  std::string url;
  {
    // Take a free port and give it back, so that nothing listens on it.
    asio::io_context io_context;
    asio::ip::tcp::acceptor acceptor(io_context, {asio::ip::make_address("127.0.0.1"), 0});
    url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }
  HttpClient client(*ParseServerUrl(url), "tg_root_secret");

  const auto response = client.PostJson("/v2/liveness", nlohmann::json::object());

  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(response.error().detail, "cannot reach tollgate at " + url + ": Connection refused");
  EXPECT_EQ(response.error().detail.find("tg_root_secret"), std::string::npos);
}

TEST(HttpClient, GivesUpAfterItsTimeout) {
  // Listening but never accepting: the kernel completes the handshake, nobody answers.
  asio::io_context io_context;
  asio::ip::tcp::acceptor acceptor(io_context, {asio::ip::make_address("127.0.0.1"), 0});
  const std::string url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  HttpClient client(*ParseServerUrl(url), "k", std::chrono::milliseconds(200));

  const auto started = std::chrono::steady_clock::now();
  const auto response = client.PostJson("/v2/liveness", nlohmann::json::object());
  const auto elapsed = std::chrono::steady_clock::now() - started;

  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(response.error().detail.find("no answer within 200ms"), std::string::npos)
      << response.error().detail;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(HttpClient, HttpsToAServerWithoutTlsFailsTheHandshakeAndSaysSo) {
  // A plain HTTP server: it reads the ClientHello as a malformed request and closes.
  OneShotServer server(http::status::ok, R"({"data":{}})");
  std::string url = server.Url();
  url.replace(0, 4, "https");
  HttpClient client(*ParseServerUrl(url), "tg_root_secret");

  const auto response = client.PostJson("/v2/liveness", nlohmann::json::object());

  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(response.error().detail.rfind("cannot reach tollgate at " + url + ": TLS handshake failed: ", 0), 0u)
      << response.error().detail;
  EXPECT_EQ(response.error().detail.find("tg_root_secret"), std::string::npos);
}

TEST(HttpClient, ACaFileThatHoldsNoCertificateIsAClearError) {
  auto url = *ParseServerUrl("https://127.0.0.1:9");
  url.ca_file = "/nonexistent/ca.pem";
  HttpClient client(url, "k");

  const auto response = client.PostJson("/v2/liveness", nlohmann::json::object());

  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(response.error().detail.find("--ca-file '/nonexistent/ca.pem' holds no usable PEM certificate"),
            std::string::npos)
      << response.error().detail;
}

}  // namespace
}  // namespace tollgate
