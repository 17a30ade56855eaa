// HttpWebhookSender against a socket of this test on a loopback port: the request on the wire,
// the status read back, a refused connection, a receiver that never answers (timeout), Cancel()
// from another thread, and https:// to a receiver that does not speak TLS.
#include <utility>  // before Boost, see DESIGN.md

#include "alerts/webhook_sender.h"

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

namespace tollgate {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Accepts one connection on 127.0.0.1, reads one request (headers and Content-Length body), then
// answers `answer` (nothing when empty, holding the connection for `hold`).
class OneRequestServer {
 public:
  explicit OneRequestServer(std::string answer, std::chrono::milliseconds hold = std::chrono::milliseconds(0))
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, answer = std::move(answer), hold] {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      asio::streambuf buffer;
      const std::size_t header_end = asio::read_until(socket, buffer, "\r\n\r\n", ec);
      std::string text(asio::buffers_begin(buffer.data()), asio::buffers_end(buffer.data()));
      const auto length_at = text.find("Content-Length: ");
      const std::size_t length = length_at == std::string::npos ? 0 : std::stoul(text.substr(length_at + 16));
      if (!ec && text.size() < header_end + length) {
        asio::read(socket, buffer, asio::transfer_exactly(header_end + length - text.size()), ec);
        text.assign(asio::buffers_begin(buffer.data()), asio::buffers_end(buffer.data()));
      }
      request_.set_value(text);
      if (!answer.empty()) asio::write(socket, asio::buffer(answer), ec);
      std::this_thread::sleep_for(hold);
    });
  }
  ~OneRequestServer() {
    if (thread_.joinable()) thread_.join();
  }

  std::string port() const { return std::to_string(port_); }
  WebhookUrl Url(bool tls = false) const { return {.tls = tls, .host = "127.0.0.1", .port = port(), .target = "/hooks?x=1"}; }
  std::string Request() { return request_.get_future().get(); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::promise<std::string> request_;
  std::thread thread_;
};

const HeaderList kHeaders = {{"Content-Type", "application/json"}, {"Tollgate-Event-Id", "evt_1"}};

TEST(WebhookSenderTest, PostsTheHeadersAndBodyAndReadsTheStatus) {
  OneRequestServer server("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  HttpWebhookSender sender(std::chrono::seconds(5));
  const SendResult result = sender.Post(server.Url(), kHeaders, R"({"id":"evt_1"})");
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 204);
  EXPECT_EQ(result.error, "");
  const std::string request = server.Request();
  EXPECT_TRUE(request.starts_with("POST /hooks?x=1 HTTP/1.1\r\n")) << request;
  EXPECT_NE(request.find("Host: 127.0.0.1:" + server.port() + "\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("Tollgate-Event-Id: evt_1\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("Content-Length: 14\r\n"), std::string::npos) << request;
  EXPECT_TRUE(request.ends_with("\r\n\r\n{\"id\":\"evt_1\"}")) << request;
}

TEST(WebhookSenderTest, AStatusOutside2xxIsAFailedAttemptThatSaysSo) {
  OneRequestServer server("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops");
  HttpWebhookSender sender(std::chrono::seconds(5));
  const SendResult result = sender.Post(server.Url(), kHeaders, "{}");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.status, 500);
  EXPECT_EQ(result.error, "answered HTTP 500");
}

TEST(WebhookSenderTest, ARefusedConnectionHasNoStatus) {
  std::string port;
  {
    asio::io_context io;
    tcp::acceptor closed(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = std::to_string(closed.local_endpoint().port());
  }
  HttpWebhookSender sender(std::chrono::seconds(5));
  const SendResult result = sender.Post({.tls = false, .host = "127.0.0.1", .port = port, .target = "/"}, kHeaders, "{}");
  EXPECT_FALSE(result.status.has_value());
  EXPECT_NE(result.error.find("cannot connect to 127.0.0.1:" + port), std::string::npos) << result.error;
}

TEST(WebhookSenderTest, AReceiverThatNeverAnswersTimesOut) {
  OneRequestServer server("", std::chrono::milliseconds(500));  // holds the connection past the timeout
  HttpWebhookSender sender(std::chrono::milliseconds(150));
  const auto started = Clock::now();
  const SendResult result = sender.Post(server.Url(), kHeaders, "{}");
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(450));
  EXPECT_FALSE(result.status.has_value());
  EXPECT_NE(result.error.find("reading the answer"), std::string::npos) << result.error;
}

TEST(WebhookSenderTest, CancelCutsOffAPostUnderWayAndEveryLaterOne) {
  OneRequestServer server("", std::chrono::milliseconds(300));
  HttpWebhookSender sender(std::chrono::seconds(10));
  auto cancel = std::async(std::launch::async, [&] {
    server.Request();  // the request arrived: the Post is waiting for the answer
    sender.Cancel();
  });
  const auto started = Clock::now();
  const SendResult result = sender.Post(server.Url(), kHeaders, "{}");
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(250));
  EXPECT_TRUE(result.cancelled);
  EXPECT_TRUE(sender.Post(server.Url(), kHeaders, "{}").cancelled);
}

TEST(WebhookSenderTest, HttpsToAReceiverWithoutTlsFailsTheHandshake) {
  // The receiver waits for an HTTP request that never comes; the handshake waits for a
  // ServerHello that never comes: the timeout ends it.
  OneRequestServer server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  HttpWebhookSender sender(std::chrono::milliseconds(200));
  const SendResult result = sender.Post(server.Url(/*tls=*/true), kHeaders, "{}");
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.status.has_value());
  EXPECT_NE(result.error.find("TLS handshake"), std::string::npos) << result.error;
}

}  // namespace
}  // namespace tollgate
