// Which Redis shard holds a counter: a consistent-hash ring with virtual nodes (as in Ketama).
// Each shard is placed on the ring at kPointsPerShard pseudo-random points derived from its name
// ("host:port"); a routing tag belongs to the shard of the first point at or after the tag's hash.
// Adding a shard therefore moves only the tags that fall just before its new points, about 1/N
// of them, and every node computes the same placement from the same shard list, whatever order
// it was given in. The hash is FNV-1a 64 finished with SplitMix64: fixed, so every build and
// every process agrees (unlike std::hash).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate {

class ShardRing {
 public:
  static constexpr int kPointsPerShard = 160;

  // `shards` are names, e.g. "10.0.0.5:6379"; their index is what Find returns. Must be non-empty
  // and free of duplicates (the caller validates).
  explicit ShardRing(std::vector<std::string> shards);

  // Index into the shard list of the shard that holds `tag`.
  std::size_t Find(std::string_view tag) const;
  std::size_t size() const { return shards_.size(); }
  const std::string& name(std::size_t shard) const { return shards_[shard]; }

  static std::uint64_t Hash(std::string_view text);

 private:
  struct Point {
    std::uint64_t hash;
    std::uint32_t shard;
  };
  std::vector<std::string> shards_;
  std::vector<Point> points_;  // sorted by hash
};

// The routing tag of a counter key: the text between the first '{' and the next '}' when there is
// one and it is not empty (Redis Cluster's hash-tag rule), else the whole key. Counters that must
// be decided together (one verification's limits) share a tag, so they share a shard.
std::string_view RoutingTag(std::string_view counter_key);

}  // namespace tollgate
