#include "keys/key_cache.h"

namespace tollgate {

KeyCache::Shard& KeyCache::ShardFor(std::string_view hash) const {
  // The hash is already a uniformly distributed hex digest: its first two hex digits pick the shard.
  auto nibble = [](char c) -> std::size_t { return c <= '9' ? static_cast<std::size_t>(c - '0') : static_cast<std::size_t>(c - 'a' + 10); };
  const std::size_t index = hash.size() >= 2 ? ((nibble(hash[0]) << 4) | nibble(hash[1])) % kShards : 0;
  return shards_[index];
}

CachedKeyPtr KeyCache::FindByHash(std::string_view hash) const {
  Shard& shard = ShardFor(hash);
  std::shared_lock lock(shard.mu);
  const auto it = shard.by_hash.find(std::string(hash));
  return it == shard.by_hash.end() ? nullptr : it->second;
}

CachedKeyPtr KeyCache::FindById(const std::string& key_id) const {
  std::string hash;
  {
    std::shared_lock lock(ids_mu_);
    const auto it = hash_by_id_.find(key_id);
    if (it == hash_by_id_.end()) return nullptr;
    hash = it->second;
  }
  return FindByHash(hash);
}

void KeyCache::Put(CachedKeyPtr entry) {
  const std::string hash = entry->key.hash;
  std::unique_lock ids_lock(ids_mu_);
  auto [it, inserted] = hash_by_id_.try_emplace(entry->key.id, hash);
  if (!inserted && it->second != hash) {
    Shard& old_shard = ShardFor(it->second);
    std::unique_lock lock(old_shard.mu);
    old_shard.by_hash.erase(it->second);
    it->second = hash;
  }
  Shard& shard = ShardFor(hash);
  std::unique_lock lock(shard.mu);
  shard.by_hash[hash] = std::move(entry);
}

void KeyCache::Remove(const std::string& key_id) {
  std::unique_lock ids_lock(ids_mu_);
  const auto it = hash_by_id_.find(key_id);
  if (it == hash_by_id_.end()) return;
  Shard& shard = ShardFor(it->second);
  {
    std::unique_lock lock(shard.mu);
    shard.by_hash.erase(it->second);
  }
  hash_by_id_.erase(it);
}

std::size_t KeyCache::Size() const {
  std::shared_lock lock(ids_mu_);
  return hash_by_id_.size();
}

}  // namespace tollgate
