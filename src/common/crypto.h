// Thin wrappers over OpenSSL for the few primitives tollgate needs: SHA-256 of secrets, HMAC-SHA256
// (webhook signatures), bytes from the CSPRNG, and constant-time comparison of secret-derived
// values.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
// Lower-case hex of the SHA-256 of data: the form in which secrets are stored.
std::string Sha256Hex(std::string_view data);
std::string ToHex(const std::uint8_t* data, std::size_t size);

// Lower-case hex of HMAC-SHA256(key, data) (RFC 2104). Not on a hot path: one call per webhook
// delivery attempt.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Cryptographically secure random bytes (RAND_bytes). Aborts if the CSPRNG fails: handing out a
// guessable key is worse than not answering.
std::vector<std::uint8_t> RandomBytes(std::size_t count);

// Compares two byte strings in time that depends only on their lengths.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace tollgate
