#include "common/base58.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

std::vector<std::uint8_t> Bytes(std::string_view text) {
  return std::vector<std::uint8_t>(text.begin(), text.end());
}

TEST(Base58Test, EmptyEncodesToEmptyAndBack) {
  EXPECT_EQ(Base58Encode({}), "");
  auto decoded = Base58Decode("");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->empty());
}

TEST(Base58Test, KnownVectors) {
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{0}), "1");
  EXPECT_EQ(Base58Encode(Bytes("Hello World!")), "2NEpo7TZRRrLZSi2U");
  EXPECT_EQ(Base58Encode(Bytes("The quick brown fox jumps over the lazy dog")),
            "7DdiPPYtxLjCD3wA1po2rvZHTDYjkZYiEtazrfiwJcwnKCizhGFhBGHeRdx");
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{0x00, 0x00, 0x28, 0x7f, 0xb4, 0xcd}),
            "11233QC4");
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{57}), "z");
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{58}), "21");
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{0xff}), "5Q");
  // From Bitcoin Core's base58_encode_decode.json.
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{0x51, 0x6b, 0x6f, 0xcd, 0x0f}), "ABnLTmg");
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{0x57, 0x2e, 0x47, 0x94}), "3EFU7m");
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{0x10, 0xc8, 0x51, 0x1e}), "Rt5zm");
  EXPECT_EQ(Base58Encode(std::vector<std::uint8_t>{0xbf, 0x4f, 0x89, 0x00, 0x1e, 0x67, 0x02, 0x74,
                                                   0xdd}),
            "3SEo3LWLoPntC");

  EXPECT_EQ(Base58Decode("2NEpo7TZRRrLZSi2U"), Bytes("Hello World!"));
  EXPECT_EQ(Base58Decode("1"), std::vector<std::uint8_t>{0});
  EXPECT_EQ(Base58Decode("11233QC4"),
            (std::vector<std::uint8_t>{0x00, 0x00, 0x28, 0x7f, 0xb4, 0xcd}));
}

TEST(Base58Test, LeadingZeroBytesBecomeOnes) {
  for (std::size_t zeros = 1; zeros <= 8; ++zeros) {
    std::vector<std::uint8_t> all_zero(zeros, 0);
    EXPECT_EQ(Base58Encode(all_zero), std::string(zeros, '1'));
    EXPECT_EQ(Base58Decode(std::string(zeros, '1')), all_zero);

    std::vector<std::uint8_t> bytes(zeros, 0);
    bytes.push_back(1);
    EXPECT_EQ(Base58Encode(bytes), std::string(zeros, '1') + "2");
    EXPECT_EQ(Base58Decode(std::string(zeros, '1') + "2"), bytes);
  }
}

TEST(Base58Test, DecodeRejectsCharactersOutsideTheAlphabet) {
  for (std::string_view text : {"0", "O", "I", "l", "2NEp0", "abc+", "a b", "-", "\xC3\xA9"}) {
    EXPECT_FALSE(Base58Decode(text).has_value()) << text;
  }
}

TEST(Base58Test, EncodeUsesOnlyTheAlphabet) {
  std::mt19937 rng(7);
  std::vector<std::uint8_t> bytes(64);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  for (char c : Base58Encode(bytes)) {
    EXPECT_NE(std::string_view("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz").find(c),
              std::string_view::npos)
        << c;
  }
}

TEST(Base58Test, RoundTripsRandomDataOfManyLengths) {
  std::mt19937 rng(42);
  for (std::size_t length = 0; length <= 300; ++length) {
    for (int trial = 0; trial < 4; ++trial) {
      std::vector<std::uint8_t> bytes(length);
      for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
      // Exercise leading zeros and 0xff runs too.
      if (trial == 1 && length > 0) bytes[0] = 0;
      if (trial == 2) std::fill(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length / 2), 0);
      if (trial == 3) std::fill(bytes.begin(), bytes.end(), 0xff);
      const std::string encoded = Base58Encode(bytes);
      auto decoded = Base58Decode(encoded);
      ASSERT_TRUE(decoded.has_value()) << "length " << length;
      ASSERT_EQ(*decoded, bytes) << "length " << length << " trial " << trial;
    }
  }
}

}  // namespace
}  // namespace tollgate
