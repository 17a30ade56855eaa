#include "limiter/redis/shard_ring.h"

#include <map>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

std::vector<std::string> Names(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("10.0.0." + std::to_string(i + 1) + ":6379");
  return names;
}

TEST(ShardRingTest, SpreadsTagsEvenlyOverShards) {
  const ShardRing ring(Names(3));
  std::map<std::size_t, int> count;
  const int tags = 30'000;
  for (int i = 0; i < tags; ++i) ++count[ring.Find("k:key_" + std::to_string(i))];
  ASSERT_EQ(count.size(), 3u);
  for (const auto& [shard, n] : count) {
    // 160 points per shard keep each share within about ±10 % of a third.
    EXPECT_GT(n, tags / 3 * 0.85) << ring.name(shard);
    EXPECT_LT(n, tags / 3 * 1.15) << ring.name(shard);
  }
}

TEST(ShardRingTest, AddingAShardMovesAboutOneNthAndOnlyToTheNewShard) {
  const ShardRing before(Names(3));
  const ShardRing after(Names(4));
  const int tags = 40'000;
  int moved = 0;
  for (int i = 0; i < tags; ++i) {
    const std::string tag = "i:id_" + std::to_string(i);
    const std::size_t was = before.Find(tag);
    const std::size_t is = after.Find(tag);
    if (was != is) {
      ++moved;
      EXPECT_EQ(is, 3u) << tag << " moved between old shards";
    }
  }
  // Ideal: 1/4 of the tags. Consistent hashing is within a few percent of it; a modulo hash
  // would move 3/4.
  EXPECT_GT(moved, tags / 4 * 0.8);
  EXPECT_LT(moved, tags / 4 * 1.2);
}

TEST(ShardRingTest, PlacementDoesNotDependOnTheOrderShardsAreGivenIn) {
  std::vector<std::string> names = Names(3);
  const ShardRing a(names);
  std::swap(names[0], names[2]);
  const ShardRing b(names);
  for (int i = 0; i < 1000; ++i) {
    const std::string tag = "k:" + std::to_string(i);
    EXPECT_EQ(a.name(a.Find(tag)), b.name(b.Find(tag)));
  }
}

TEST(ShardRingTest, HashIsFixedAcrossBuilds) {
  // Every node must place a tag on the same shard, so the hash may never change silently (a
  // rolling upgrade would split counters). Values from an independent implementation of
  // FNV-1a 64 + SplitMix64's finaliser.
  EXPECT_EQ(ShardRing::Hash(""), 0xc3817c016ba4ff30ULL);
  EXPECT_EQ(ShardRing::Hash("k:key_1"), 0x3acd8faaba5aca2eULL);
  EXPECT_EQ(ShardRing::Hash("i:id_abc"), 0xf84427de9f1f481fULL);
}

TEST(ShardRingTest, RoutingTagFollowsTheRedisClusterRule) {
  EXPECT_EQ(RoutingTag("tg:{i:id_1}k:key_1:burst"), "i:id_1");
  EXPECT_EQ(RoutingTag("tg:{}k:x"), "tg:{}k:x");
  EXPECT_EQ(RoutingTag("no-tag"), "no-tag");
  EXPECT_EQ(RoutingTag("tg:{open"), "tg:{open");
}

}  // namespace
}  // namespace tollgate
