#include "common/ids.h"

#include <string>
#include <unordered_set>

#include <gtest/gtest.h>

#include "common/base58.h"

namespace tollgate {
namespace {

constexpr std::string_view kAlphabet =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

TEST(IdsTest, StartsWithPrefixAndUnderscore) {
  EXPECT_TRUE(NewId("key").starts_with("key_"));
  EXPECT_TRUE(NewId("api").starts_with("api_"));
}

TEST(IdsTest, RandomPartIsSixteenBytesOfBase58) {
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewId("key");
    const std::string_view random_part = std::string_view(id).substr(4);
    // 16 bytes are 22 base58 characters, or fewer in the rare case of a small leading byte.
    EXPECT_GE(random_part.size(), 16u) << id;
    EXPECT_LE(random_part.size(), 22u) << id;
    for (char c : random_part) EXPECT_NE(kAlphabet.find(c), std::string_view::npos) << id;
    auto decoded = Base58Decode(random_part);
    ASSERT_TRUE(decoded.has_value()) << id;
    EXPECT_EQ(decoded->size(), 16u) << id;
  }
}

TEST(IdsTest, UniqueOverTenThousand) {
  std::unordered_set<std::string> ids;
  for (int i = 0; i < 10'000; ++i) ids.insert(NewId("evt"));
  EXPECT_EQ(ids.size(), 10'000u);
}

}  // namespace
}  // namespace tollgate
