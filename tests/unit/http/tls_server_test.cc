// HttpServer with --tls-cert/--tls-key over real loopback connections (port 0), against a
// certificate made for the test: HTTPS with the peer verified, keep-alive and close_notify,
// plain HTTP and TLS 1.1 refused, the handshake under the header timeout, and Start's errors for
// files that cannot serve.
#include <utility>  // before Boost, see DESIGN.md

#include "http/server.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/ids.h"

namespace tollgate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// A self-signed P-256 certificate for "localhost" and 127.0.0.1, valid for an hour, and its
// key, as PEM files in `dir`.
struct TestCertificate {
  std::string cert_file;
  std::string key_file;
  std::string cert_pem;
};

TestCertificate MakeCertificate(const std::filesystem::path& dir, const std::string& stem) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert, key, EVP_sha256());

  TestCertificate out{(dir / (stem + "-cert.pem")).string(), (dir / (stem + "-key.pem")).string(), ""};
  FILE* file = std::fopen(out.cert_file.c_str(), "w");
  PEM_write_X509(file, cert);
  std::fclose(file);
  file = std::fopen(out.key_file.c_str(), "w");
  PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(file);
  X509_free(cert);
  EVP_PKEY_free(key);
  std::filesystem::permissions(out.key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::ifstream in(out.cert_file);
  out.cert_pem.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return out;
}

// Everything `stream` gives until it ends, and how it ended (eof: a clean end; over TLS, with
// close_notify).
template <class Stream>
std::pair<std::string, beast::error_code> ReadUntilClosed(Stream& stream) {
  std::string received;
  beast::error_code ec;
  while (!ec) {
    char chunk[4096];
    received.append(chunk, stream.read_some(asio::buffer(chunk), ec));
  }
  return {received, ec};
}

class TlsServerTest : public ::testing::Test {
 protected:
  TlsServerTest() : dir_(std::filesystem::temp_directory_path() / NewId("tollgate_tls_test")) {
    std::filesystem::create_directories(dir_);
    certificate_ = MakeCertificate(dir_, "server");
  }
  ~TlsServerTest() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  ServerOptions Options() const {
    ServerOptions options;
    options.port = 0;
    options.workers = 1;
    options.tls_cert_file = certificate_.cert_file;
    options.tls_key_file = certificate_.key_file;
    return options;
  }

  void Start(ServerOptions options) {
    auto server = HttpServer::Start(options, [](const HttpRequest& request) {
      HttpResponse response;
      if (request.path == "/stream" || request.path == "/fail") {
        // Two pieces; /fail fails instead of giving the second.
        auto calls = std::make_shared<int>(0);
        const bool fail = request.path == "/fail";
        response.content_type = "text/plain";
        response.producer = [calls, fail](std::string& out) {
          if (++*calls == 1) {
            out += "first,";
            return BodyPiece::kMore;
          }
          if (fail) return BodyPiece::kFailed;
          out += "second";
          return BodyPiece::kLast;
        };
        return response;
      }
      response.body = R"({"path":")" + request.path + R"("})";
      return response;
    });
    ASSERT_TRUE(server.has_value()) << server.error().detail;
    server_ = std::move(*server);
  }

  // The error detail of a Start that must fail.
  std::string StartError(ServerOptions options) {
    auto server = HttpServer::Start(options, [](const HttpRequest&) { return HttpResponse{}; });
    if (server.has_value()) return "started";
    return server.error().detail;
  }

  // A client context that trusts only the test certificate.
  ssl::context ClientContext() const {
    ssl::context context(ssl::context::tls_client);
    context.add_certificate_authority(asio::buffer(certificate_.cert_pem));
    context.set_verify_mode(ssl::verify_peer);
    return context;
  }

  tcp::endpoint Endpoint() const { return {asio::ip::make_address("127.0.0.1"), server_->port()}; }

  static http::response<http::string_body> Get(ssl::stream<tcp::socket>& stream, beast::flat_buffer& buffer,
                                              const std::string& target, bool keep_alive) {
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "localhost");
    request.keep_alive(keep_alive);
    http::write(stream, request);
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    return response;
  }

  // An HTTP/1.0 request over a verified TLS connection; everything the server sent, and how the
  // connection ended (eof: with close_notify).
  std::pair<std::string, beast::error_code> Http10(const std::string& target) {
    ssl::context context = ClientContext();
    ssl::stream<tcp::socket> stream(client_ioc_, context);
    stream.next_layer().connect(Endpoint());
    stream.handshake(ssl::stream_base::client);
    const std::string request = "GET " + target + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    asio::write(stream, asio::buffer(request));
    return ReadUntilClosed(stream);
  }

  std::filesystem::path dir_;
  TestCertificate certificate_;
  asio::io_context client_ioc_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(TlsServerTest, AnswersOverVerifiedTlsAndKeepsTheConnection) {
  Start(Options());
  ssl::context context = ClientContext();
  ssl::stream<tcp::socket> stream(client_ioc_, context);
  stream.set_verify_callback(ssl::host_name_verification("localhost"));
  SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  stream.next_layer().connect(Endpoint());
  stream.handshake(ssl::stream_base::client);
  EXPECT_GE(SSL_version(stream.native_handle()), TLS1_2_VERSION);

  beast::flat_buffer buffer;
  auto first = Get(stream, buffer, "/one", true);
  EXPECT_EQ(first.result_int(), 200u);
  EXPECT_EQ(first.body(), R"({"path":"/one"})");
  EXPECT_TRUE(first.keep_alive());
  auto second = Get(stream, buffer, "/two?x=1", false);
  EXPECT_EQ(second.result_int(), 200u);
  EXPECT_EQ(second.body(), R"({"path":"/two"})");
  EXPECT_FALSE(second.keep_alive());
  // After "Connection: close" the server ends the TLS session with close_notify, which the
  // client reads as a clean end of stream rather than a truncation.
  char byte;
  beast::error_code ec;
  stream.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
}

// HTTP/1.0 has no chunked encoding: a streamed body ends with the connection. Over TLS only
// close_notify tells a whole body from a cut one, so it is sent after a whole body, never after a
// failed one.
TEST_F(TlsServerTest, AWholeHttp10StreamEndsWithCloseNotifyAndACutOneWithout) {
  Start(Options());
  const auto [whole, whole_end] = Http10("/stream");
  EXPECT_NE(whole.find("\r\n\r\nfirst,second"), std::string::npos) << whole;
  EXPECT_EQ(whole_end, asio::error::eof) << whole_end.message();

  const auto [cut, cut_end] = Http10("/fail");
  EXPECT_NE(cut.find("\r\n\r\nfirst,"), std::string::npos) << cut;
  EXPECT_EQ(cut.find("second"), std::string::npos);
  EXPECT_NE(cut_end, asio::error::eof) << "a cut body must not end like a whole one: " << cut_end.message();
}

TEST_F(TlsServerTest, AClientThatDoesNotTrustTheCertificateFailsTheHandshake) {
  Start(Options());
  ssl::context context(ssl::context::tls_client);  // no CA: the self-signed certificate is unknown
  context.set_verify_mode(ssl::verify_peer);
  ssl::stream<tcp::socket> stream(client_ioc_, context);
  stream.next_layer().connect(Endpoint());
  beast::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec);
}

TEST_F(TlsServerTest, PlainHttpOnATlsPortGetsNoHttpAnswer) {
  Start(Options());
  tcp::socket socket(client_ioc_);
  socket.connect(Endpoint());
  const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  const std::string received = ReadUntilClosed(socket).first;
  EXPECT_EQ(received.find("HTTP/1."), std::string::npos) << received;
  EXPECT_EQ(received.find("path"), std::string::npos);
}

TEST_F(TlsServerTest, RefusesTls11) {
  Start(Options());
  ssl::context context = ClientContext();
  // Let this client offer TLS 1.1 at all (Debian's default security level would not).
  SSL_CTX_set_security_level(context.native_handle(), 0);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(context.native_handle(), TLS1_1_VERSION);
  ssl::stream<tcp::socket> stream(client_ioc_, context);
  stream.next_layer().connect(Endpoint());
  beast::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec) << "TLS 1.1 must be refused";
}

TEST_F(TlsServerTest, AClientThatNeverHandshakesIsCutAtTheHeaderTimeout) {
  ServerOptions options = Options();
  options.header_timeout = std::chrono::milliseconds(300);
  Start(options);
  tcp::socket socket(client_ioc_);
  socket.connect(Endpoint());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->open_connections() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (server_->open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_->open_connections(), 0u);
  char byte;
  beast::error_code ec;
  socket.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
}

TEST_F(TlsServerTest, StartSaysWhyTheFilesCannotServe) {
  ServerOptions options = Options();
  options.tls_key_file.clear();
  EXPECT_EQ(StartError(options),
            "TLS needs both a certificate file and a private key file (--tls-cert and --tls-key)");

  options = Options();
  options.tls_cert_file = (dir_ / "missing.pem").string();
  EXPECT_EQ(StartError(options),
            "cannot read the TLS certificate file '" + options.tls_cert_file + "': No such file or directory");

  options = Options();
  std::ofstream(dir_ / "garbage.pem") << "not a certificate\n";
  options.tls_cert_file = (dir_ / "garbage.pem").string();
  EXPECT_NE(StartError(options).find("holds no usable PEM certificate chain"), std::string::npos);

  options = Options();
  options.tls_key_file = certificate_.cert_file;  // a certificate is not a key
  EXPECT_NE(StartError(options).find("holds no usable PEM private key"), std::string::npos);

  options = Options();
  options.tls_key_file = MakeCertificate(dir_, "other").key_file;
  EXPECT_EQ(StartError(options), "the TLS private key in '" + options.tls_key_file +
                                     "' does not belong to the certificate in '" + options.tls_cert_file + "'");
}

}  // namespace
}  // namespace tollgate
