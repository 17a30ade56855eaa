#include "common/base58.h"

#include <array>

namespace tollgate {
namespace {

constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

constexpr std::array<int8_t, 128> MakeReverse() {
  std::array<int8_t, 128> rev{};
  for (auto& v : rev) v = -1;
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) rev[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return rev;
}
constexpr std::array<int8_t, 128> kReverse = MakeReverse();

}  // namespace

// Quadratic in the input length (schoolbook base conversion); inputs are at most a few hundred
// bytes, so this costs well under a microsecond for a 16-byte key and is not worth a bignum.
std::string Base58Encode(std::span<const std::uint8_t> bytes) {
  std::size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
  // log(256)/log(58) ~ 1.37
  std::vector<std::uint8_t> digits((bytes.size() - zeros) * 138 / 100 + 1, 0);
  std::size_t length = 0;
  for (std::size_t i = zeros; i < bytes.size(); ++i) {
    unsigned carry = bytes[i];
    std::size_t j = 0;
    for (auto it = digits.rbegin(); (carry != 0 || j < length) && it != digits.rend(); ++it, ++j) {
      carry += 256u * *it;
      *it = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    length = j;
  }
  auto it = digits.begin() + static_cast<std::ptrdiff_t>(digits.size() - length);
  while (it != digits.end() && *it == 0) ++it;
  std::string out(zeros, '1');
  for (; it != digits.end(); ++it) out.push_back(kAlphabet[*it]);
  return out;
}

std::optional<std::vector<std::uint8_t>> Base58Decode(std::string_view text) {
  std::size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == '1') ++zeros;
  std::vector<std::uint8_t> bytes((text.size() - zeros) * 733 / 1000 + 1, 0);  // log(58)/log(256)
  std::size_t length = 0;
  for (std::size_t i = zeros; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 128 || kReverse[c] < 0) return std::nullopt;
    unsigned carry = static_cast<unsigned>(kReverse[c]);
    std::size_t j = 0;
    for (auto it = bytes.rbegin(); (carry != 0 || j < length) && it != bytes.rend(); ++it, ++j) {
      carry += 58u * *it;
      *it = static_cast<std::uint8_t>(carry % 256);
      carry /= 256;
    }
    length = j;
  }
  auto it = bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() - length);
  while (it != bytes.end() && *it == 0) ++it;
  std::vector<std::uint8_t> out(zeros, 0);
  out.insert(out.end(), it, bytes.end());
  return out;
}

}  // namespace tollgate
