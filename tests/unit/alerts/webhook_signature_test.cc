// Tollgate-Signature against a value computed independently, with OpenSSL's command line:
//   printf '%s' '1700000000.{"id":"evt_1","type":"alert.firing"}' | openssl dgst -sha256 -hmac 'whsec_test_secret'
#include "alerts/webhook_signature.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(WebhookSignatureTest, MatchesAnIndependentlyComputedHmac) {
  EXPECT_EQ(WebhookSignature("whsec_test_secret", 1'700'000'000, R"({"id":"evt_1","type":"alert.firing"})"),
            "t=1700000000,v1=15f21c35ee527fd369d24c027038a6b4388d880dddb7516f3f3ff3558215c0e4");
}

TEST(WebhookSignatureTest, CoversTheTimestampTheBodyAndTheSecret) {
  const std::string body = R"({"id":"evt_1"})";
  const std::string base = WebhookSignature("whsec_a", 100, body);
  EXPECT_NE(base.substr(6), WebhookSignature("whsec_a", 101, body).substr(6));  // replayed later
  EXPECT_NE(base, WebhookSignature("whsec_a", 100, body + " "));               // body changed
  EXPECT_NE(base, WebhookSignature("whsec_b", 100, body));                     // another webhook's secret
}

TEST(WebhookSignatureTest, SecretsAreFreshAndPrefixed) {
  const std::string a = NewWebhookSecret();
  const std::string b = NewWebhookSecret();
  EXPECT_TRUE(a.starts_with("whsec_")) << a;
  EXPECT_GE(a.size(), 6u + 30u) << "24 random bytes in base58";
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tollgate
