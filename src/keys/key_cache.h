// The in-memory view of every live key, by the SHA-256 of its secret: what keys.verifyKey reads
// instead of the store. Filled at start from Store::LoadAllKeys and updated by every write.
//
// Concurrency: 64 shards, each a reader/writer lock over a hash map, so verifies on different
// worker threads rarely touch the same lock and never block each other (shared locks). Entries
// are immutable snapshots behind shared_ptr: a reader keeps a consistent key even while a writer
// swaps the entry. Credit counters are the one mutable part, shared between snapshots of the same
// key so an update never loses a concurrent decrement.
//
// Identities: each live identity is one immutable `shared_ptr<const Identity>`, shared by every
// cached key of that identity. A verify reads it through its key's snapshot: no lookup, no lock,
// no refcount traffic beyond the key's own. An identity update swaps the identity and re-puts each
// of its keys with the new pointer (found through an index external id -> key ids), which costs
// one Key copy per key of the identity: cheap for an admin write, free for the hot path. The
// alternative, one mutable slot per identity that keys point to, would make every verify do an
// atomic shared_ptr load on a line shared by all keys of the identity.
#pragma once

#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/crypto.h"
#include "keys/model.h"

namespace tollgate {

// The live credit balance of one key. Guarded by mu.
// A key's live credit balance. Two locks, always taken in this order:
//  * write_mu orders the writes of this balance to the store (the credit flush, updateCredits,
//    updateKey), so an older balance never lands after a newer one;
//  * mu guards the fields; verifies take only mu, and never wait on the store: the flush writes
//    a snapshot with mu released (KeyService::FlushCredits).
struct CreditState {
  std::mutex write_mu;
  std::mutex mu;
  std::optional<Credits> credits;
  std::uint64_t version = 0;  // +1 on every change of `credits`
  bool dirty = false;  // changed by a verify since the store last saw it (KeyService::FlushCredits)
};

using IdentityPtr = std::shared_ptr<const Identity>;

struct CachedKey {
  Key key;  // key.credits is the value at load time; the live balance is in `credits`
  IdentityPtr identity;  // the identity of key.external_id; null when the key has none
  std::shared_ptr<CreditState> credits;  // null for a key that never had credits (unlimited)
};
using CachedKeyPtr = std::shared_ptr<const CachedKey>;

class KeyCache {
 public:
  // By the lower-case hex SHA-256 of the secret (as stored).
  CachedKeyPtr FindByHash(std::string_view hash) const;
  // By the binary SHA-256 of the secret: the verify path's lookup, with no hex string to build.
  CachedKeyPtr FindByDigest(const Sha256Digest& digest) const;
  CachedKeyPtr FindById(const std::string& key_id) const;
  // Inserts or replaces the entry for entry->key.id (also if its hash changed).
  void Put(CachedKeyPtr entry);
  void Remove(const std::string& key_id);
  std::size_t Size() const;
  // Room for `keys` entries, so loading a large store does not rehash as it grows.
  void Reserve(std::size_t keys);
  // The ids of every cached key (a copy, for rare whole-cache walks).
  std::vector<std::string> KeyIds() const;
  // The cached keys whose key.external_id is `external_id`, in no particular order.
  std::vector<CachedKeyPtr> KeysOfIdentity(const std::string& external_id) const;

  // Live identities, by id and by external id. Read by writers and admin reads, never by verify.
  void PutIdentity(IdentityPtr identity);  // inserts or replaces by identity->id
  void RemoveIdentity(const std::string& identity_id);
  IdentityPtr FindIdentityById(const std::string& identity_id) const;
  IdentityPtr FindIdentityByExternalId(const std::string& external_id) const;
  std::size_t IdentityCount() const;

 private:
  static constexpr std::size_t kShards = 64;
  // Entries are keyed by the 32-byte binary digest, stored inline in the map node: one 32-byte
  // compare per probe and no separate string allocation to chase. The digest is uniformly
  // distributed, so its first bytes serve as the hash and its last byte picks the shard.
  struct DigestHash {
    std::size_t operator()(const Sha256Digest& d) const {
      std::size_t h;
      std::memcpy(&h, d.data(), sizeof(h));
      return h;
    }
  };
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<Sha256Digest, CachedKeyPtr, DigestHash> by_digest;
  };
  Shard& ShardFor(const Sha256Digest& digest) const { return shards_[digest[31] % kShards]; }

  mutable std::array<Shard, kShards> shards_;
  struct KeyIndex {
    Sha256Digest digest;  // binary: 32 bytes inline, where the hex string took a 65-byte allocation
    std::string external_id;
  };
  // Key id -> hash (for updates and deletes by id) and external id -> key ids (for identity
  // updates); only writers, FindById and KeysOfIdentity take ids_mu_.
  mutable std::shared_mutex ids_mu_;
  std::unordered_map<std::string, KeyIndex> index_by_id_;
  std::unordered_map<std::string, std::unordered_set<std::string>> ids_by_external_id_;

  mutable std::shared_mutex identities_mu_;
  std::unordered_map<std::string, IdentityPtr> identities_by_id_;
  std::unordered_map<std::string, IdentityPtr> identities_by_external_id_;
};

}  // namespace tollgate
