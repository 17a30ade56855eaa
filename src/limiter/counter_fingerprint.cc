#include "limiter/counter_fingerprint.h"

#include <bit>
#include <cstring>
#include <vector>

#include "common/crypto.h"

namespace tollgate {
namespace {

std::uint64_t LoadLittleEndian(const char* bytes, std::size_t count) {
  std::uint64_t word = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&word, bytes, count);
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      word |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
    }
  }
  return word;
}

struct SipState {
  std::uint64_t v0, v1, v2, v3;

  void Round() {
    v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
    v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
  }
  void Rounds(int n) {
    for (int i = 0; i < n; ++i) Round();
  }
  std::uint64_t Fold() const { return v0 ^ v1 ^ v2 ^ v3; }
};

// SipHash reference algorithm, 128-bit variant. Inlined into Of() with constant rounds.
inline CounterFingerprint Sip128(std::uint64_t k0, std::uint64_t k1, std::string_view data,
                                 int c_rounds, int d_rounds) {
  SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL ^ 0xee,
             k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  const char* p = data.data();
  const std::size_t full = data.size() & ~std::size_t{7};
  for (std::size_t i = 0; i < full; i += 8) {
    const std::uint64_t m = LoadLittleEndian(p + i, 8);
    s.v3 ^= m;
    s.Rounds(c_rounds);
    s.v0 ^= m;
  }
  const std::uint64_t last =
      (std::uint64_t{data.size() & 0xff} << 56) | LoadLittleEndian(p + full, data.size() - full);
  s.v3 ^= last;
  s.Rounds(c_rounds);
  s.v0 ^= last;
  s.v2 ^= 0xee;
  s.Rounds(d_rounds);
  CounterFingerprint out;
  out.lo = s.Fold();
  s.v1 ^= 0xdd;
  s.Rounds(d_rounds);
  out.hi = s.Fold();
  return out;
}

std::uint64_t KeyWord(const SipHashKey& key, std::size_t offset) {
  return LoadLittleEndian(reinterpret_cast<const char*>(key.data()) + offset, 8);
}

}  // namespace

CounterFingerprinter::CounterFingerprinter(const SipHashKey& key)
    : k0_(KeyWord(key, 0)), k1_(KeyWord(key, 8)) {}

CounterFingerprinter CounterFingerprinter::WithRandomKey() {
  const std::vector<std::uint8_t> bytes = RandomBytes(16);
  SipHashKey key;
  std::memcpy(key.data(), bytes.data(), key.size());
  return CounterFingerprinter(key);
}

CounterFingerprint CounterFingerprinter::Of(std::string_view counter_key) const {
  return Sip128(k0_, k1_, counter_key, 1, 3);
}

CounterFingerprint SipHash128(const SipHashKey& key, std::string_view data, int c_rounds, int d_rounds) {
  return Sip128(KeyWord(key, 0), KeyWord(key, 8), data, c_rounds, d_rounds);
}

}  // namespace tollgate
