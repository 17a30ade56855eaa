// Which webhook URLs are accepted, how they are split for the sender, and which hosts and
// addresses are not public (refused unless --webhook-allow-private-addresses).
#include "alerts/webhook_url.h"

#include <array>
#include <span>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(WebhookUrlTest, SplitsHttpAndHttpsUrls) {
  auto plain = ParseWebhookUrl("http://127.0.0.1:8081/hooks/tollgate?team=ops");
  ASSERT_TRUE(plain.has_value()) << plain.error().detail;
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, "8081");
  EXPECT_EQ(plain->target, "/hooks/tollgate?team=ops");

  auto secure = ParseWebhookUrl("HTTPS://hooks.example.com");
  ASSERT_TRUE(secure.has_value()) << secure.error().detail;
  EXPECT_TRUE(secure->tls);
  EXPECT_EQ(secure->host, "hooks.example.com");
  EXPECT_EQ(secure->port, "443");
  EXPECT_EQ(secure->target, "/");

  auto v6 = ParseWebhookUrl("http://[::1]:9000?x=1");
  ASSERT_TRUE(v6.has_value()) << v6.error().detail;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "9000");
  EXPECT_EQ(v6->target, "/?x=1");
}

TEST(WebhookUrlTest, RefusesWhatCannotBeAWebhookSayingWhy) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ftp://example.com/x", "http:// or https://"},
      {"example.com/x", "http:// or https://"},
      {"https://", "names no host"},
      {"https://:80/x", "names no host"},
      {"https://user:pw@example.com/x", "user info"},
      {"https://example.com/x#top", "fragment"},
      {"https://example.com:0/x", "port"},
      {"https://example.com:99999/x", "port"},
      {"https://example.com:/x", "empty port"},
      {"https://[::1/x", "unclosed"},
      {"https://exa mple.com/x", "spaces or control characters"},
      {"https://example.com/\r\nX-Injected: 1", "spaces or control characters"},
      {"https://example.com/" + std::string(2100, 'a'), "at most 2048"},
  };
  for (const auto& [url, why] : cases) {
    auto parsed = ParseWebhookUrl(url);
    ASSERT_FALSE(parsed.has_value()) << url;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidInput);
    EXPECT_NE(parsed.error().detail.find(why), std::string::npos) << url << ": " << parsed.error().detail;
  }
}

TEST(WebhookUrlTest, NamesTheAddressesThatAreNotPublic) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"127.0.0.1", "loopback"},        {"127.255.0.9", "loopback"},      {"::1", "loopback"},
      {"localhost", "loopback"},        {"LocalHost.", "loopback"},       {"api.localhost", "loopback"},
      {"10.1.2.3", "private"},          {"172.16.0.1", "private"},        {"172.31.255.255", "private"},
      {"192.168.1.1", "private"},       {"100.64.0.1", "private"},        {"fd12:3456::1", "private"},
      {"fec0::1", "private"},           {"169.254.169.254", "link-local"}, {"fe80::1", "link-local"},
      {"fe80::1%eth0", "link-local"},   {"0.0.0.0", "unspecified"},       {"0.1.2.3", "unspecified"},
      {"::", "unspecified"},            {"224.0.0.1", "multicast"},       {"ff02::1", "multicast"},
      {"255.255.255.255", "reserved"},  {"::7f00:1", "reserved"},
      // IPv4 inside IPv6 is judged by its IPv4 part.
      {"::ffff:127.0.0.1", "loopback"}, {"::ffff:169.254.169.254", "link-local"}, {"64:ff9b::a00:1", "private"},
      {"::ffff:93.184.216.34", ""},
      // Public, or a name (judged once resolved).
      {"93.184.216.34", ""},            {"172.32.0.1", ""},               {"100.128.0.1", ""},
      {"2606:2800:220:1::1", ""},       {"hooks.example.com", ""},        {"localhost.example.com", ""},
  };
  for (const auto& [host, kind] : cases) EXPECT_EQ(NonPublicHostKind(host), kind) << host;
  const std::array<unsigned char, 4> metadata = {169, 254, 169, 254};
  EXPECT_EQ(NonPublicAddressKind(metadata), "link-local");
  EXPECT_EQ(NonPublicAddressKind(std::span<const unsigned char>()), "reserved") << "neither IPv4 nor IPv6";
}

}  // namespace
}  // namespace tollgate
