#include "alerts/webhook_signature.h"

#include "common/base58.h"
#include "common/crypto.h"

namespace tollgate {

std::string NewWebhookSecret() { return std::string(kWebhookSecretPrefix) + Base58Encode(RandomBytes(24)); }

std::string WebhookSignature(std::string_view secret, std::int64_t unix_seconds, std::string_view body) {
  const std::string t = std::to_string(unix_seconds);
  std::string signed_text;
  signed_text.reserve(t.size() + 1 + body.size());
  signed_text.append(t).append(".").append(body);
  return "t=" + t + ",v1=" + HmacSha256Hex(secret, signed_text);
}

}  // namespace tollgate
