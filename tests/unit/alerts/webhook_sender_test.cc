// HttpWebhookSender against a socket of this test on a loopback port: the request on the wire,
// the status read back, a refused connection, a receiver that never answers (timeout), Cancel()
// from another thread (and an answer that came before it), https:// to a receiver that does not
// speak TLS, a name lookup that hangs, and the destinations refused unless private addresses are
// allowed (looked up once, then connected to as looked up). Names are looked up by the test's own
// NameLookup: no test sends anything beyond 127.0.0.1.
#include <utility>  // before Boost, see DESIGN.md

#include "alerts/webhook_sender.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
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

// A sender for receivers on this machine (127.0.0.1 is a loopback address).
HttpWebhookSender Local(std::chrono::milliseconds timeout) {
  return HttpWebhookSender({.timeout = timeout, .allow_private_addresses = true});
}

// A NameLookup that answers `addresses` for every name, after `delay`, and counts its calls. It
// runs on a thread of its own that may outlive the test: it holds only shared state.
struct ScriptedLookup {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  NameLookup Answering(std::vector<std::string> addresses, std::chrono::milliseconds delay = {}) const {
    return [calls = calls, addresses, delay](const std::string&) -> Result<std::vector<std::string>> {
      ++*calls;
      std::this_thread::sleep_for(delay);
      return addresses;
    };
  }
};

// A loopback port that listens but never accepts: a connection made to it waits in the backlog.
class Listener {
 public:
  Listener() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) { acceptor_.non_blocking(true); }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
  bool Connected() {
    boost::system::error_code ec;
    tcp::socket socket(io_);
    acceptor_.accept(socket, ec);
    return !ec;
  }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
};

TEST(WebhookSenderTest, PostsTheHeadersAndBodyAndReadsTheStatus) {
  OneRequestServer server("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  HttpWebhookSender sender = Local(std::chrono::seconds(5));
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
  HttpWebhookSender sender = Local(std::chrono::seconds(5));
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
  HttpWebhookSender sender = Local(std::chrono::seconds(5));
  const SendResult result = sender.Post({.tls = false, .host = "127.0.0.1", .port = port, .target = "/"}, kHeaders, "{}");
  EXPECT_FALSE(result.status.has_value());
  EXPECT_NE(result.error.find("cannot connect to 127.0.0.1:" + port), std::string::npos) << result.error;
}

TEST(WebhookSenderTest, AReceiverThatNeverAnswersTimesOut) {
  OneRequestServer server("", std::chrono::milliseconds(500));  // holds the connection past the timeout
  HttpWebhookSender sender = Local(std::chrono::milliseconds(150));
  const auto started = Clock::now();
  const SendResult result = sender.Post(server.Url(), kHeaders, "{}");
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(450));
  EXPECT_FALSE(result.status.has_value());
  EXPECT_NE(result.error.find("reading the answer"), std::string::npos) << result.error;
}

TEST(WebhookSenderTest, CancelCutsOffAPostUnderWayAndEveryLaterOne) {
  OneRequestServer server("", std::chrono::milliseconds(300));
  HttpWebhookSender sender = Local(std::chrono::seconds(10));
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
  HttpWebhookSender sender = Local(std::chrono::milliseconds(200));
  const SendResult result = sender.Post(server.Url(/*tls=*/true), kHeaders, "{}");
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.status.has_value());
  EXPECT_NE(result.error.find("TLS handshake"), std::string::npos) << result.error;
}

TEST(WebhookSenderTest, AnAnswerThatCameBeforeCancelStands) {
  // The receiver answers 200 and then holds back the body it announced: shutdown comes while the
  // sender is still reading. The receiver has taken the event; sending it again after a restart
  // would be a duplicate.
  OneRequestServer server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", std::chrono::milliseconds(600));
  HttpWebhookSender sender = Local(std::chrono::seconds(10));
  auto cancel = std::async(std::launch::async, [&] {
    server.Request();
    std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the status line is read by then
    sender.Cancel();
  });
  const auto started = Clock::now();
  const SendResult result = sender.Post(server.Url(), kHeaders, "{}");
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(550)) << "cut off, not waiting for the body";
  EXPECT_FALSE(result.cancelled);
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_TRUE(sender.Post(server.Url(), kHeaders, "{}").cancelled) << "later ones are cut off";
}

TEST(WebhookSenderTest, ANameLookupThatHangsEndsAtTheTimeout) {
  ScriptedLookup lookup;
  HttpWebhookSender sender({.timeout = std::chrono::milliseconds(150), .allow_private_addresses = true,
                            .lookup = lookup.Answering({"127.0.0.1"}, std::chrono::seconds(3))});
  const auto started = Clock::now();
  const SendResult result = sender.Post({.tls = false, .host = "hooks.example.com", .port = "80", .target = "/"}, kHeaders, "{}");
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(1'000)) << "getaddrinfo's own time is not waited for";
  EXPECT_FALSE(result.status.has_value());
  EXPECT_FALSE(result.cancelled);
  EXPECT_EQ(result.error, "looking up hooks.example.com took longer than 150 ms");
}

TEST(WebhookSenderTest, CancelEndsTheWaitForANameLookup) {
  ScriptedLookup lookup;
  HttpWebhookSender sender({.timeout = std::chrono::seconds(10), .allow_private_addresses = true,
                            .lookup = lookup.Answering({"127.0.0.1"}, std::chrono::seconds(3))});
  auto cancel = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    sender.Cancel();
  });
  const auto started = Clock::now();
  const SendResult result = sender.Post({.tls = false, .host = "hooks.example.com", .port = "80", .target = "/"}, kHeaders, "{}");
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(1'000));
  EXPECT_TRUE(result.cancelled);
}

TEST(WebhookSenderTest, PrivateAddressesAreRefusedWithoutConnecting) {
  Listener listener;
  HttpWebhookSender sender({.timeout = std::chrono::seconds(5)});  // private addresses not allowed: the default
  const SendResult literal = sender.Post({.tls = false, .host = "127.0.0.1", .port = listener.port(), .target = "/"},
                                         kHeaders, "{}");
  EXPECT_FALSE(literal.ok());
  EXPECT_FALSE(literal.cancelled);
  EXPECT_EQ(literal.error, "refused: 127.0.0.1 is a loopback address; webhooks go only to public addresses unless "
                           "tollgate runs with --webhook-allow-private-addresses");

  // A name is judged by what it resolves to: here 169.254.169.254 (a cloud's metadata service)
  // and 127.0.0.1, neither of which may be reached.
  ScriptedLookup lookup;
  HttpWebhookSender by_name({.timeout = std::chrono::seconds(5),
                             .lookup = lookup.Answering({"169.254.169.254", "::ffff:127.0.0.1"})});
  const SendResult named = by_name.Post({.tls = false, .host = "hooks.example.com", .port = listener.port(), .target = "/"},
                                        kHeaders, "{}");
  EXPECT_FALSE(named.ok());
  EXPECT_TRUE(named.error.starts_with("refused: hooks.example.com resolves to 169.254.169.254, a link-local address;"))
      << named.error;
  EXPECT_FALSE(listener.Connected()) << "nothing was sent";
}

TEST(WebhookSenderTest, ANameIsLookedUpOnceAndTheCheckedAddressIsTheOneConnectedTo) {
  OneRequestServer server("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
  ScriptedLookup lookup;
  HttpWebhookSender sender({.timeout = std::chrono::seconds(5), .allow_private_addresses = true,
                            .lookup = lookup.Answering({"127.0.0.1"})});
  // hooks.example.com means nothing to this machine's resolver: only the address the lookup
  // answered, and the sender checked, can reach the receiver.
  const SendResult result = sender.Post({.tls = false, .host = "hooks.example.com", .port = server.port(), .target = "/h"},
                                        kHeaders, "{}");
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(lookup.calls->load(), 1);
  const std::string request = server.Request();
  EXPECT_NE(request.find("Host: hooks.example.com:" + server.port() + "\r\n"), std::string::npos) << request;
}

}  // namespace
}  // namespace tollgate
