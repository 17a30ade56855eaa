// The in-memory view of every live key, by the SHA-256 of its secret: what keys.verifyKey reads
// instead of the store. Filled at start from Store::LoadAllKeys and updated by every write.
//
// Concurrency: 64 shards, each a reader/writer lock over a hash map, so verifies on different
// worker threads rarely touch the same lock and never block each other (shared locks). Entries
// are immutable snapshots behind shared_ptr: a reader keeps a consistent key even while a writer
// swaps the entry. Credit counters are the one mutable part, shared between snapshots of the same
// key so an update never loses a concurrent decrement.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "keys/model.h"

namespace tollgate {

// The live credit balance of one key. Guarded by mu.
struct CreditState {
  std::mutex mu;
  std::optional<Credits> credits;
};

struct CachedKey {
  Key key;  // key.credits is the value at load time; the live balance is in `credits`
  std::optional<Identity> identity;
  std::shared_ptr<CreditState> credits;
};
using CachedKeyPtr = std::shared_ptr<const CachedKey>;

class KeyCache {
 public:
  CachedKeyPtr FindByHash(std::string_view hash) const;
  CachedKeyPtr FindById(const std::string& key_id) const;
  // Inserts or replaces the entry for entry->key.id (also if its hash changed).
  void Put(CachedKeyPtr entry);
  void Remove(const std::string& key_id);
  std::size_t Size() const;

 private:
  static constexpr std::size_t kShards = 64;
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, CachedKeyPtr> by_hash;
  };
  Shard& ShardFor(std::string_view hash) const;

  mutable std::array<Shard, kShards> shards_;
  // Key id -> hash, for updates and deletes by id; only writers and FindById take it.
  mutable std::shared_mutex ids_mu_;
  std::unordered_map<std::string, std::string> hash_by_id_;
};

}  // namespace tollgate
