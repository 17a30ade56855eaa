// HttpServer's streamed responses (HttpResponse::producer) over a real loopback connection (port
// 0): chunked on HTTP/1.1 with the body intact and the connection reusable after it, in pipelined
// order; close-delimited on HTTP/1.0; a failed body cut without the last chunk; and shutdown
// letting a stream finish within the grace period but cutting one that outlasts it.
#include <utility>  // before Boost, see DESIGN.md

#include "http/server.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

namespace tollgate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A body of the given pieces, in order; the last one answers kLast.
BodyProducer Pieces(std::vector<std::string> pieces) {
  auto next = std::make_shared<std::size_t>(0);
  return [pieces = std::move(pieces), next](std::string& out) {
    out += pieces[*next];
    return ++*next == pieces.size() ? BodyPiece::kLast : BodyPiece::kMore;
  };
}

HttpResponse Streamed(BodyProducer producer) {
  HttpResponse response;
  response.content_type = "text/plain";
  response.SetHeader("Content-Disposition", "attachment; filename=\"x.txt\"");
  response.producer = std::move(producer);
  return response;
}

class ServerStreamTest : public ::testing::Test {
 protected:
  void Start(std::chrono::milliseconds write_timeout = std::chrono::milliseconds(5'000),
             decltype(ServerOptions::on_answer) on_answer = nullptr) {
    ServerOptions options;
    options.on_answer = std::move(on_answer);
    options.port = 0;
    options.workers = 1;
    options.write_timeout = write_timeout;
    auto server = HttpServer::Start(options, [this](const HttpRequest& request) { return Handle(request); });
    ASSERT_TRUE(server.has_value()) << server.error().detail;
    server_ = std::move(*server);
  }

  HttpResponse Handle(const HttpRequest& request) {
    if (request.path == "/stream") return Streamed(Pieces({"one,", "", "two,", "three"}));
    if (request.path == "/fail") {
      // One piece, then a failure.
      auto calls = std::make_shared<int>(0);
      return Streamed([calls](std::string& out) {
        out += "partial";
        return ++*calls == 1 ? BodyPiece::kMore : BodyPiece::kFailed;
      });
    }
    if (request.path == "/throw") {
      return Streamed([](std::string&) -> BodyPiece { throw std::runtime_error("bug"); });
    }
    if (request.path == "/endless") {
      // 64 KB pieces until the server stops asking; counts them.
      return Streamed([this](std::string& out) {
        out.assign(64 << 10, 'x');
        ++endless_pieces_;
        return BodyPiece::kMore;
      });
    }
    if (request.path == "/long") {
      // 200 pieces over ~400 ms: long enough to be in flight when Shutdown comes.
      return Streamed([this](std::string& out) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        out += "piece\n";
        return ++long_pieces_ == 200 ? BodyPiece::kLast : BodyPiece::kMore;
      });
    }
    HttpResponse response;
    response.body = R"({"plain":true})";
    if (request.path == "/teapot") response.status = 418;
    response.route = "/plain-route";
    return response;
  }

  std::unique_ptr<beast::tcp_stream> Connect() {
    auto stream = std::make_unique<beast::tcp_stream>(client_ioc_);
    stream->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    stream->expires_after(std::chrono::seconds(10));
    return stream;
  }

  static void Send(beast::tcp_stream& stream, const std::string& target, unsigned version = 11) {
    http::request<http::string_body> request{http::verb::post, target, version};
    request.set(http::field::host, "127.0.0.1");
    request.keep_alive(true);
    http::write(stream, request);
  }

  // A request on a new connection whose response headers have been read; the body is to come.
  struct OpenResponse {
    std::unique_ptr<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    // Reads the rest of the body; the error, if the body did not end properly.
    beast::error_code ReadBody() {
      beast::error_code ec;
      http::read(*stream, buffer, parser, ec);
      return ec;
    }
  };
  std::unique_ptr<OpenResponse> RequestHeaders(const std::string& target) {
    auto open = std::make_unique<OpenResponse>();
    open->stream = Connect();
    Send(*open->stream, target);
    open->parser.body_limit(boost::none);
    http::read_header(*open->stream, open->buffer, open->parser);
    return open;
  }

  asio::io_context client_ioc_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<int> endless_pieces_{0};
  std::atomic<int> long_pieces_{0};
};

TEST_F(ServerStreamTest, StreamsChunkedAndKeepsTheConnectionForTheNextRequest) {
  Start();
  auto stream = Connect();
  beast::flat_buffer buffer;
  Send(*stream, "/stream");
  http::response<http::string_body> streamed;
  http::read(*stream, buffer, streamed);
  EXPECT_EQ(streamed.result_int(), 200u);
  EXPECT_TRUE(streamed.chunked());
  EXPECT_EQ(streamed[http::field::content_length], "");
  EXPECT_EQ(streamed[http::field::content_type], "text/plain");
  EXPECT_EQ(streamed["Content-Disposition"], "attachment; filename=\"x.txt\"");
  EXPECT_TRUE(streamed["X-Request-Id"].starts_with("req_"));
  EXPECT_TRUE(streamed.keep_alive());
  EXPECT_EQ(streamed.body(), "one,two,three");

  Send(*stream, "/plain");
  http::response<http::string_body> plain;
  http::read(*stream, buffer, plain);
  EXPECT_EQ(plain.body(), R"({"plain":true})");
}

TEST_F(ServerStreamTest, EveryAnswerIsReportedWithItsRouteStatusAndDuration) {
  struct Answer {
    std::string route;
    unsigned status;
    std::chrono::nanoseconds elapsed;
  };
  std::mutex mu;
  std::vector<Answer> answers;
  Start(std::chrono::milliseconds(5'000), [&](std::string_view route, unsigned status, std::chrono::nanoseconds elapsed) {
    std::lock_guard lock(mu);
    answers.push_back({std::string(route), status, elapsed});
  });
  auto stream = Connect();
  beast::flat_buffer buffer;
  for (const char* target : {"/plain", "/teapot"}) {
    Send(*stream, target);
    http::response<http::string_body> response;
    http::read(*stream, buffer, response);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].route, "/plain-route");
  EXPECT_EQ(answers[0].status, 200u);
  EXPECT_EQ(answers[1].status, 418u);
  EXPECT_GT(answers[1].elapsed.count(), 0);
  EXPECT_LT(answers[1].elapsed, std::chrono::seconds(5));
}

TEST_F(ServerStreamTest, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  auto stream = Connect();
  Send(*stream, "/plain");
  Send(*stream, "/stream");
  Send(*stream, "/plain");
  Send(*stream, "/stream");
  beast::flat_buffer buffer;
  for (const char* want : {R"({"plain":true})", "one,two,three", R"({"plain":true})", "one,two,three"}) {
    http::response<http::string_body> response;
    http::read(*stream, buffer, response);
    EXPECT_EQ(response.body(), want);
  }
}

TEST_F(ServerStreamTest, Http10GetsTheBodyDelimitedByTheConnectionClose) {
  Start();
  auto stream = Connect();
  Send(*stream, "/stream", 10);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(*stream, buffer, response);  // throws unless the body ended with the connection
  EXPECT_FALSE(response.chunked());
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(response.body(), "one,two,three");
}

TEST_F(ServerStreamTest, AFailedBodyIsCutWithoutTheLastChunk) {
  Start();
  for (const char* target : {"/fail", "/throw"}) {
    SCOPED_TRACE(target);
    auto open = RequestHeaders(target);
    EXPECT_EQ(open->parser.get().result_int(), 200u);
    const beast::error_code ec = open->ReadBody();
    EXPECT_EQ(ec, http::error::partial_message) << ec.message();
    EXPECT_FALSE(open->parser.is_done());
  }
}

TEST_F(ServerStreamTest, ShutdownLetsAStreamInFlightFinish) {
  Start();
  auto open = RequestHeaders("/long");
  server_->Shutdown(std::chrono::milliseconds(5'000));
  EXPECT_FALSE(open->ReadBody());
  EXPECT_EQ(open->parser.get().body().size(), 200u * 6);
  server_->Wait();
  // The connection is not reused: the server closed it after the stream.
  beast::error_code ec;
  char byte;
  open->stream->socket().read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(ServerStreamTest, ShutdownCutsAStreamThatOutlastsTheGracePeriod) {
  Start();
  auto open = RequestHeaders("/endless");  // then stop reading: the server's writes block
  const auto start = std::chrono::steady_clock::now();
  server_->Shutdown(std::chrono::milliseconds(300));
  server_->Wait();
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::seconds(3));
  server_.reset();  // the cut connection closes with the server
  EXPECT_TRUE(open->ReadBody()) << "the body must not look complete";
  EXPECT_FALSE(open->parser.is_done());
  EXPECT_GT(endless_pieces_.load(), 0);
}

TEST_F(ServerStreamTest, AClientThatStopsReadingIsCutAtTheWriteTimeout) {
  Start(std::chrono::milliseconds(300));
  auto open = RequestHeaders("/endless");
  // Not reading: the socket buffers fill, a write times out and the server closes the connection.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_->open_connections(), 0u);
  const int pieces = endless_pieces_.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(endless_pieces_.load(), pieces) << "no piece is produced after the cut";
  EXPECT_LT(pieces, 1'000) << "memory stays bounded: pieces wait for the socket";
}

}  // namespace
}  // namespace tollgate
