// The HTTP request path from the first byte: an input is raw bytes sent on a TCP connection to
// the real HttpServer (src/http/server.cc: Beast's parser fed by hand, header and body limits,
// keep-alive, pipelining, rejections) in front of FuzzWorld's Router. The client sends the input,
// closes its side and reads until the server closes. Checked: the server always closes, every
// answer it sends is a well-formed HTTP response with a status below 500 and, when it says JSON,
// a body that parses; no secret in the answers or the log (FuzzWorld::CheckSecrets).
//
// The limits are the lowest `serve` accepts (1 KiB of headers, 1 KiB of body), so inputs reach
// the 431 and 413 paths. One worker thread serves; the fuzzing thread is the client.
#include <utility>  // before Boost, see DESIGN.md

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "fuzz_world.h"
#include "http/server.h"

namespace {

namespace http = boost::beast::http;
using tollgate::fuzz::Fail;
using tollgate::fuzz::FuzzWorld;

// Never destroyed, like FuzzWorld: its threads would otherwise log into spdlog after exit tore
// the logger down.
tollgate::HttpServer* server = nullptr;

// Sends `request`, half-closes, and returns everything the server sent until it closed.
std::string Exchange(std::string_view request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Fail("socket", "cannot create a socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server->port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    // libFuzzer's timeout alarm (SIGALRM) interrupts blocking calls now and then. An interrupted
    // connect goes on in the background: wait until the socket is writable, then ask how it went.
    if (errno != EINTR) Fail("connect", std::strerror(errno));
    pollfd writable{fd, POLLOUT, 0};
    while (poll(&writable, 1, 10'000) < 0 && errno == EINTR) {
    }
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0 || (writable.revents & POLLOUT) == 0) Fail("connect", std::strerror(error));
  }
  // The server may answer (431, 413, 400) and close before reading everything: a failed send
  // ends the request, and what it answered is read below. Interrupted sends and receives are
  // retried.
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string answer;
  char buffer[16384];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    pollfd ready{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) Fail("server did not close the connection within 10 s", answer);
    const int ready_count = poll(&ready, 1, static_cast<int>(left.count()));
    if (ready_count < 0 && errno == EINTR) continue;
    if (ready_count <= 0) continue;  // the deadline decides
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (or reset after a rejection)
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  return answer;
}

// Each answer in `bytes`, in order, must parse as an HTTP response. A HEAD answer announces a
// body it does not carry, which only the request tells: with HEAD anywhere in the input, only the
// first answer is read (without a body if the input starts with HEAD).
void CheckAnswers(std::string_view request, std::string_view bytes) {
  const bool head = request.find("HEAD") != std::string_view::npos;
  while (!bytes.empty()) {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.skip(request.starts_with("HEAD"));
    parser.body_limit(64u << 20);
    boost::system::error_code ec;
    while (!parser.is_done() && !bytes.empty()) {
      const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(used);
      if (ec == http::error::need_more && !bytes.empty()) ec = {};
      if (ec || used == 0) break;
    }
    if (!parser.is_done() && bytes.empty() && (!ec || ec == http::error::need_more)) parser.put_eof(ec);  // close-delimited
    if (ec || !parser.is_done()) Fail("malformed answer: " + ec.message(), bytes);
    const auto& response = parser.get();
    if (response.result_int() >= 500) Fail("status " + std::to_string(response.result_int()), response.body());
    if (!parser.skip() && response[http::field::content_type].starts_with("application/json") &&
        !nlohmann::json::accept(response.body())) {
      Fail("answer is not JSON", response.body());
    }
    if (head) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  FuzzWorld& world = FuzzWorld::Get();
  tollgate::ServerOptions options;
  options.port = 0;
  options.workers = 1;
  options.max_header_bytes = 1024;
  options.max_body_bytes = 1024;
  options.header_timeout = std::chrono::milliseconds(2000);
  options.body_timeout = std::chrono::milliseconds(2000);
  options.idle_timeout = std::chrono::milliseconds(2000);
  auto started = tollgate::HttpServer::Start(options, [&world](const tollgate::HttpRequest& request) {
    return world.Route(request);
  });
  if (!started) Fail("start the server", started.error().detail);
  server = started->release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzWorld& world = FuzzWorld::Get();
  const std::string request = world.Expand(std::string_view(reinterpret_cast<const char*>(data), size));
  const std::string answer = Exchange(request);
  CheckAnswers(request, answer);
  world.CheckSecrets(request, request, answer, world.TakeLog(), "raw request");
  world.AfterRequest();
  return 0;
}
