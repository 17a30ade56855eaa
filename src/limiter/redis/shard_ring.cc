#include "limiter/redis/shard_ring.h"

#include <algorithm>

namespace tollgate {

std::uint64_t ShardRing::Hash(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  // SplitMix64's finaliser: FNV-1a alone clusters similar names ("a:1#7", "a:1#8").
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

ShardRing::ShardRing(std::vector<std::string> shards) : shards_(std::move(shards)) {
  points_.reserve(shards_.size() * kPointsPerShard);
  for (std::uint32_t shard = 0; shard < shards_.size(); ++shard) {
    for (int point = 0; point < kPointsPerShard; ++point) {
      points_.push_back({Hash(shards_[shard] + "#" + std::to_string(point)), shard});
    }
  }
  // Ties (astronomically unlikely) break by name so that every node orders them alike.
  std::sort(points_.begin(), points_.end(), [this](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : shards_[a.shard] < shards_[b.shard];
  });
}

std::size_t ShardRing::Find(std::string_view tag) const {
  const std::uint64_t h = Hash(tag);
  auto it = std::lower_bound(points_.begin(), points_.end(), h, [](const Point& p, std::uint64_t v) { return p.hash < v; });
  if (it == points_.end()) it = points_.begin();
  return it->shard;
}

std::string_view RoutingTag(std::string_view counter_key) {
  const auto open = counter_key.find('{');
  if (open == std::string_view::npos) return counter_key;
  const auto close = counter_key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return counter_key;
  return counter_key.substr(open + 1, close - open - 1);
}

}  // namespace tollgate
