// A counter_key reduced to 128 bits, so the in-memory store keeps 16 fixed bytes per counter
// instead of a string (and one allocation) and compares two words instead of bytes.
//
// The fingerprint is SipHash-1-3 with 128-bit output under a random key drawn when the store is
// made (the hash Rust's HashMap uses against hash flooding). It is only ever compared inside one
// process and never shown, so an attacker who chooses counter keys (say, client IPs passed as a
// ratelimit identifier) cannot aim collisions or long probe chains without the key.
//
// Collisions. The store uses 125 of the bits as the identity of a counter (3 carry the algorithm
// and an occupied mark), and two keys can only be confused while both are live. A new key meets
// one of n live counters with probability n/2^125 (n = 10^7: 2.4·10^-31); ten million new keys a
// second for a century against 10^7 live ones add up to 3·10^16 · 2.4·10^-31 ≈ 7·10^-15. The cost
// of a collision would be two customers sharing one counter; at these odds the 16 bytes are a
// better use of memory than storing the keys.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace tollgate {

struct CounterFingerprint {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  friend bool operator==(const CounterFingerprint&, const CounterFingerprint&) = default;
};

using SipHashKey = std::array<std::uint8_t, 16>;

class CounterFingerprinter {
 public:
  explicit CounterFingerprinter(const SipHashKey& key);
  // A fingerprinter under a key from the CSPRNG.
  static CounterFingerprinter WithRandomKey();

  // SipHash-1-3-128 of the bytes of counter_key: ~10 ns for a 40-byte key.
  CounterFingerprint Of(std::string_view counter_key) const;

 private:
  std::uint64_t k0_;
  std::uint64_t k1_;
};

// The general SipHash-c-d with 128-bit output, exposed so tests can check the implementation
// against the reference (OpenSSL's SIPHASH with c-rounds/d-rounds).
CounterFingerprint SipHash128(const SipHashKey& key, std::string_view data, int c_rounds, int d_rounds);

}  // namespace tollgate
