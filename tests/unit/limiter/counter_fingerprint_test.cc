#include "limiter/counter_fingerprint.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace tollgate {
namespace {

SipHashKey SequentialKey() {
  SipHashKey key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
  return key;
}

// SipHash-c-d-128 as OpenSSL computes it: the reference to check ours against.
CounterFingerprint OpenSslSipHash128(const SipHashKey& key, const std::string& data, unsigned c, unsigned d) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  std::size_t size = 16;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                         OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_C_ROUNDS, &c),
                         OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_D_ROUNDS, &d), OSSL_PARAM_construct_end()};
  unsigned char out[16] = {};
  std::size_t out_size = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const bool ok = EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
                  EVP_MAC_update(ctx, bytes, data.size()) == 1 &&
                  EVP_MAC_final(ctx, out, &out_size, sizeof(out)) == 1;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  EXPECT_TRUE(ok);
  EXPECT_EQ(out_size, 16u);
  CounterFingerprint fp;
  std::memcpy(&fp.lo, out, 8);  // little-endian words, as on x86-64
  std::memcpy(&fp.hi, out + 8, 8);
  return fp;
}

TEST(CounterFingerprintTest, MatchesTheSipHashReferenceVector) {
  // vectors_sip128[0] of the SipHash reference: key 00..0f, empty message, SipHash-2-4-128.
  const CounterFingerprint fp = SipHash128(SequentialKey(), "", 2, 4);
  EXPECT_EQ(fp.lo, 0xe6a825ba047f81a3ULL);
  EXPECT_EQ(fp.hi, 0x930255c71472f66dULL);
}

TEST(CounterFingerprintTest, MatchesOpenSslForEveryLengthAndBothRoundCounts) {
  std::mt19937_64 rng(7);
  SipHashKey key;
  for (auto& byte : key) byte = static_cast<std::uint8_t>(rng());
  for (auto [c, d] : {std::pair{2, 4}, std::pair{1, 3}}) {
    for (std::size_t length = 0; length <= 70; ++length) {
      std::string data(length, '\0');
      for (char& ch : data) ch = static_cast<char>(rng());
      const CounterFingerprint ours = SipHash128(key, data, c, d);
      const CounterFingerprint reference =
          OpenSslSipHash128(key, data, static_cast<unsigned>(c), static_cast<unsigned>(d));
      EXPECT_EQ(ours, reference) << "SipHash-" << c << "-" << d << ", length " << length;
    }
  }
}

TEST(CounterFingerprintTest, OfIsSipHash13UnderTheGivenKey) {
  const CounterFingerprinter fingerprinter(SequentialKey());
  EXPECT_EQ(fingerprinter.Of("k:key_123:requests"), SipHash128(SequentialKey(), "k:key_123:requests", 1, 3));
}

TEST(CounterFingerprintTest, RandomKeysGiveDifferentFingerprints) {
  const CounterFingerprinter a = CounterFingerprinter::WithRandomKey();
  const CounterFingerprinter b = CounterFingerprinter::WithRandomKey();
  EXPECT_NE(a.Of("k:key_123:requests"), b.Of("k:key_123:requests"));
  EXPECT_EQ(a.Of("k:key_123:requests"), a.Of("k:key_123:requests"));
}

TEST(CounterFingerprintTest, NoCollisionsAmongAMillionSimilarKeys) {
  const CounterFingerprinter fingerprinter = CounterFingerprinter::WithRandomKey();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
  seen.reserve(1'000'000);
  for (int i = 0; i < 1'000'000; ++i) {
    const CounterFingerprint fp = fingerprinter.Of("k:key_" + std::to_string(i) + ":requests");
    seen.emplace_back(fp.lo, fp.hi & ((std::uint64_t{1} << 61) - 1));  // the bits the store keeps
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
}

}  // namespace
}  // namespace tollgate
