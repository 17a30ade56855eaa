#include "usage/usage_text.h"

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

const std::string kInline(UsageText::kInlineCapacity, 'i');          // the longest inline text
const std::string kOnHeap(UsageText::kInlineCapacity + 1, 'h');      // the shortest heap text
const std::string kLong = "ext_" + std::string(251, 'x');             // an external id at its limit

TEST(UsageTextTest, HoldsTextsOfEveryLength) {
  for (const std::string& text : {std::string(), std::string("VALID"), kInline, kOnHeap, kLong}) {
    const UsageText held(text);
    EXPECT_EQ(held.view(), text);
    EXPECT_EQ(held.size(), text.size());
    EXPECT_EQ(held.empty(), text.empty());
    EXPECT_EQ(held.str(), text);
    EXPECT_EQ(std::string(held.data(), held.size()), text);
  }
  EXPECT_TRUE(UsageText().empty());
}

TEST(UsageTextTest, CopiesAndMovesKeepTheText) {
  for (const std::string& text : {std::string("key_7Hq2LmN9pR4sTv6WxYzAb"), kInline, kOnHeap, kLong}) {
    UsageText original(text);
    UsageText copy(original);
    EXPECT_EQ(copy, text);
    EXPECT_EQ(original, text);  // a copy leaves the original alone
    UsageText moved(std::move(copy));
    EXPECT_EQ(moved, text);
    EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from texts are empty

    UsageText assigned("something else entirely, and long enough for the heap");
    assigned = original;
    EXPECT_EQ(assigned, text);
    UsageText move_assigned("short");
    move_assigned = std::move(assigned);
    EXPECT_EQ(move_assigned, text);
    EXPECT_TRUE(assigned.empty());  // NOLINT(bugprone-use-after-move)

    move_assigned = move_assigned;  // self-assignment keeps the text
    EXPECT_EQ(move_assigned, text);
  }
}

TEST(UsageTextTest, AssignsFromAnyStringLikeValue) {
  UsageText text;
  text = "VALID";
  EXPECT_EQ(text, "VALID");
  text = std::string_view(kLong);
  EXPECT_EQ(text, kLong);
  text = kInline;
  EXPECT_EQ(text, kInline);
  text = std::string("short again");
  EXPECT_EQ(text, "short again");
}

TEST(UsageTextTest, AssignsAPartOfItself) {
  UsageText text(kLong);
  text = text.view().substr(4, 60);  // heap to heap, from its own buffer
  EXPECT_EQ(text, kLong.substr(4, 60));
  text = text.view().substr(1, 10);  // heap to inline, from its own buffer
  EXPECT_EQ(text, kLong.substr(5, 10));
}

TEST(UsageTextTest, ComparesAndPrintsLikeAString) {
  const UsageText a("key_a");
  const UsageText b(std::string("key_b"));
  EXPECT_TRUE(a == "key_a");
  EXPECT_TRUE("key_a" == a);
  EXPECT_TRUE(a == std::string("key_a"));
  EXPECT_TRUE(std::string_view("key_a") == a);
  EXPECT_TRUE(a != b);
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(b > "key_a");
  const std::string_view view = b;
  EXPECT_EQ(view, "key_b");
  std::ostringstream out;
  out << a << '|' << UsageText(kLong);
  EXPECT_EQ(out.str(), "key_a|" + kLong);
}

TEST(UsageTextTest, LivesInVectorsThatGrow) {
  std::vector<UsageText> texts;
  for (int i = 0; i < 100; ++i) texts.emplace_back((i % 2 == 0 ? kLong : kInline) + std::to_string(i));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(texts[i], (i % 2 == 0 ? kLong : kInline) + std::to_string(i));
}

}  // namespace
}  // namespace tollgate
