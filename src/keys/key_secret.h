// Key secrets: the string a provider hands to its customer, e.g. "sk_3Xv9…". Only its SHA-256
// is ever stored; the secret is shown once, at creation, and cannot be recovered afterwards.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tollgate {

// Bounds of keys.createKey's byteLength. 16 bytes (128 bits) is Unkey's default and already
// beyond brute force; 255 caps the quadratic base58 encoding and the length of headers.
inline constexpr int kMinKeyByteLength = 16;
inline constexpr int kMaxKeyByteLength = 255;
inline constexpr int kDefaultKeyByteLength = 16;
inline constexpr std::size_t kMaxKeyPrefixLength = 16;
// How many base58 characters of the random part `start` reveals: enough to tell keys apart in
// a list, far too few (~23 bits) to help guess the rest.
inline constexpr std::size_t kKeyStartLength = 4;

struct GeneratedSecret {
  std::string secret;  // "<prefix>_<base58>" or just "<base58>"; give to the caller, never store
  std::string hash;    // lower-case hex SHA-256 of secret: what Key::hash holds
  std::string start;   // "<prefix>_" + first 4 base58 characters: what Key::start holds
};

// Draws byte_length bytes from the CSPRNG and encodes them in base58 behind "prefix_" (no
// separator when prefix is empty). Fails with InvalidInput, naming body.prefix and/or
// body.byteLength, when either is out of bounds; reports both problems at once.
Result<GeneratedSecret> GenerateKeySecret(std::string_view prefix, int byte_length);

// A prefix is empty (none) or 1..16 ASCII letters and digits. '_' is refused because it is the
// separator: with it, "a_b_xyz" could not be split back into prefix and random part.
// Fails with InvalidInput carrying one FieldError at body.prefix.
Status ValidatePrefix(std::string_view prefix);

}  // namespace tollgate
