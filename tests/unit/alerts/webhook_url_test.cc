// Which webhook URLs are accepted, and how they are split for the sender.
#include "alerts/webhook_url.h"

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

}  // namespace
}  // namespace tollgate
