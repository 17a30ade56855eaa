#include "keys/key_secret.h"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/base58.h"
#include "common/crypto.h"

namespace tollgate {
namespace {

constexpr const char* kPrefixLocation = "body.prefix";
constexpr const char* kByteLengthLocation = "body.byteLength";

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Quotes a printable ASCII character and spells any other byte in hex, so that an error message
// never carries a control character or a broken UTF-8 sequence into the JSON response.
std::string DescribeChar(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x21 && byte < 0x7f) return std::string("'") + c + "'";
  if (byte == ' ') return "a space";
  char hex[16];
  std::snprintf(hex, sizeof hex, "byte 0x%02X", byte);
  return hex;
}

std::optional<FieldError> CheckPrefix(std::string_view prefix) {
  if (prefix.size() > kMaxKeyPrefixLength) {
    return FieldError{kPrefixLocation,
                      "is " + std::to_string(prefix.size()) + " characters long; at most " +
                          std::to_string(kMaxKeyPrefixLength) + " are allowed",
                      "shorten the prefix, e.g. \"sk\" or \"prod\""};
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (IsAsciiAlnum(prefix[i])) continue;
    std::string fix = prefix[i] == '_'
                          ? "remove the '_': tollgate puts one between the prefix and the secret"
                          : "use only letters A-Z, a-z and digits 0-9";
    return FieldError{kPrefixLocation,
                      "contains " + DescribeChar(prefix[i]) + " at position " + std::to_string(i) +
                          "; only letters and digits are allowed",
                      std::move(fix)};
  }
  return std::nullopt;
}

std::optional<FieldError> CheckByteLength(int byte_length) {
  if (byte_length >= kMinKeyByteLength && byte_length <= kMaxKeyByteLength) return std::nullopt;
  return FieldError{kByteLengthLocation,
                    "must be between " + std::to_string(kMinKeyByteLength) + " and " +
                        std::to_string(kMaxKeyByteLength) + ", got " + std::to_string(byte_length),
                    "omit byteLength to get " + std::to_string(kDefaultKeyByteLength) +
                        " bytes (128 bits), which is enough for any key"};
}

}  // namespace

Status ValidatePrefix(std::string_view prefix) {
  if (auto field = CheckPrefix(prefix)) {
    return Fail(Error::InvalidInput("invalid key prefix", {std::move(*field)}));
  }
  return {};
}

Result<GeneratedSecret> GenerateKeySecret(std::string_view prefix, int byte_length) {
  std::vector<FieldError> fields;
  if (auto field = CheckPrefix(prefix)) fields.push_back(std::move(*field));
  if (auto field = CheckByteLength(byte_length)) fields.push_back(std::move(*field));
  if (!fields.empty()) {
    return Fail(Error::InvalidInput("invalid key options", std::move(fields)));
  }

  const std::string random_part = Base58Encode(RandomBytes(static_cast<std::size_t>(byte_length)));
  GeneratedSecret out;
  if (!prefix.empty()) {
    out.secret.append(prefix).push_back('_');
  }
  out.start = out.secret;
  // n bytes never encode to fewer than n base58 characters (each leading zero byte is one '1'),
  // so the random part is always longer than kKeyStartLength.
  out.start.append(random_part, 0, kKeyStartLength);
  out.secret += random_part;
  out.hash = Sha256Hex(out.secret);
  return out;
}

}  // namespace tollgate
