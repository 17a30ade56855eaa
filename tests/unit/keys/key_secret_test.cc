#include "keys/key_secret.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "common/base58.h"
#include "common/crypto.h"

namespace tollgate {
namespace {

TEST(GenerateKeySecretTest, WithPrefixJoinsPrefixAndRandomPartWithUnderscore) {
  auto generated = GenerateKeySecret("sk", 16);
  ASSERT_TRUE(generated.has_value());
  const std::string& secret = generated->secret;
  ASSERT_TRUE(secret.starts_with("sk_")) << secret;
  const std::string random_part = secret.substr(3);
  EXPECT_EQ(random_part.find('_'), std::string::npos);
  auto decoded = Base58Decode(random_part);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->size(), 16u);
  EXPECT_EQ(generated->start, "sk_" + random_part.substr(0, 4));
  EXPECT_EQ(generated->hash, Sha256Hex(secret));
}

TEST(GenerateKeySecretTest, WithoutPrefixIsBareBase58) {
  auto generated = GenerateKeySecret("", 32);
  ASSERT_TRUE(generated.has_value());
  EXPECT_EQ(generated->secret.find('_'), std::string::npos);
  auto decoded = Base58Decode(generated->secret);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->size(), 32u);
  EXPECT_EQ(generated->start, generated->secret.substr(0, 4));
  EXPECT_EQ(generated->hash, Sha256Hex(generated->secret));
}

TEST(GenerateKeySecretTest, HashIsLowerCaseHexSha256) {
  auto generated = GenerateKeySecret("test", 16);
  ASSERT_TRUE(generated.has_value());
  ASSERT_EQ(generated->hash.size(), 64u);
  for (char c : generated->hash) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << c;
}

TEST(GenerateKeySecretTest, SecretsAreUnique) {
  std::set<std::string> secrets;
  for (int i = 0; i < 1000; ++i) secrets.insert(GenerateKeySecret("k", 16)->secret);
  EXPECT_EQ(secrets.size(), 1000u);
}

TEST(GenerateKeySecretTest, AcceptsByteLengthBounds) {
  for (int length : {16, 17, 64, 254, 255}) {
    auto generated = GenerateKeySecret("p", length);
    ASSERT_TRUE(generated.has_value()) << length;
    auto decoded = Base58Decode(std::string_view(generated->secret).substr(2));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->size(), static_cast<std::size_t>(length));
  }
}

TEST(GenerateKeySecretTest, RejectsByteLengthOutOfBounds) {
  for (int length : {-1, 0, 15, 256, 100000}) {
    auto generated = GenerateKeySecret("sk", length);
    ASSERT_FALSE(generated.has_value()) << length;
    const Error& error = generated.error();
    EXPECT_EQ(error.code, ErrorCode::kInvalidInput);
    ASSERT_EQ(error.fields.size(), 1u);
    EXPECT_EQ(error.fields[0].location, "body.byteLength");
    EXPECT_NE(error.fields[0].message.find("must be between 16 and 255"), std::string::npos)
        << error.fields[0].message;
    EXPECT_FALSE(error.fields[0].fix.empty());
  }
}

TEST(GenerateKeySecretTest, ReportsPrefixAndByteLengthTogether) {
  auto generated = GenerateKeySecret("bad_prefix", 8);
  ASSERT_FALSE(generated.has_value());
  ASSERT_EQ(generated.error().fields.size(), 2u);
  EXPECT_EQ(generated.error().fields[0].location, "body.prefix");
  EXPECT_EQ(generated.error().fields[1].location, "body.byteLength");
}

TEST(ValidatePrefixTest, AcceptsEmptyAndAlphanumericUpTo16) {
  EXPECT_TRUE(ValidatePrefix("").has_value());
  EXPECT_TRUE(ValidatePrefix("sk").has_value());
  EXPECT_TRUE(ValidatePrefix("Prod2024").has_value());
  EXPECT_TRUE(ValidatePrefix("abcdefghijklmnop").has_value());  // 16
}

TEST(ValidatePrefixTest, RejectsTooLong) {
  auto status = ValidatePrefix("abcdefghijklmnopq");  // 17
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidInput);
  ASSERT_EQ(status.error().fields.size(), 1u);
  EXPECT_EQ(status.error().fields[0].location, "body.prefix");
  EXPECT_EQ(status.error().fields[0].message, "is 17 characters long; at most 16 are allowed");
}

TEST(ValidatePrefixTest, RejectsUnderscoreBecauseItIsTheSeparator) {
  auto status = ValidatePrefix("my_app");
  ASSERT_FALSE(status.has_value());
  ASSERT_EQ(status.error().fields.size(), 1u);
  EXPECT_EQ(status.error().fields[0].location, "body.prefix");
  EXPECT_EQ(status.error().fields[0].message,
            "contains '_' at position 2; only letters and digits are allowed");
  EXPECT_NE(status.error().fields[0].fix.find("'_'"), std::string::npos);
}

TEST(ValidatePrefixTest, RejectsOtherCharactersNamingThem) {
  for (std::string_view prefix : {"a-b", "a.b", "a b", "é", "a\nb"}) {
    auto status = ValidatePrefix(prefix);
    ASSERT_FALSE(status.has_value()) << prefix;
    ASSERT_EQ(status.error().fields.size(), 1u);
    EXPECT_EQ(status.error().fields[0].location, "body.prefix");
  }
  EXPECT_EQ(ValidatePrefix("a-b").error().fields[0].message,
            "contains '-' at position 1; only letters and digits are allowed");
  EXPECT_EQ(ValidatePrefix("a b").error().fields[0].message,
            "contains a space at position 1; only letters and digits are allowed");
  // Non-ASCII bytes are spelled in hex so the message stays valid UTF-8.
  EXPECT_EQ(ValidatePrefix("\xC3\xA9").error().fields[0].message,
            "contains byte 0xC3 at position 0; only letters and digits are allowed");
}

}  // namespace
}  // namespace tollgate
