#include "keys/key_cache.h"

namespace tollgate {

namespace {

// The binary form of a lower-case hex digest as the store keeps it (64 hex digits).
Sha256Digest DigestOfHex(std::string_view hex) {
  auto nibble = [](char c) -> std::uint8_t {
    return static_cast<std::uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  };
  Sha256Digest digest{};
  for (std::size_t i = 0; i < digest.size() && 2 * i + 1 < hex.size(); ++i) {
    digest[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return digest;
}

}  // namespace

CachedKeyPtr KeyCache::FindByDigest(const Sha256Digest& digest) const {
  Shard& shard = ShardFor(digest);
  std::shared_lock lock(shard.mu);
  const auto it = shard.by_digest.find(digest);
  return it == shard.by_digest.end() ? nullptr : it->second;
}

CachedKeyPtr KeyCache::FindByHash(std::string_view hash) const {
  if (hash.size() != 64) return nullptr;
  return FindByDigest(DigestOfHex(hash));
}

CachedKeyPtr KeyCache::FindById(const std::string& key_id) const {
  Sha256Digest digest;
  {
    std::shared_lock lock(ids_mu_);
    const auto it = index_by_id_.find(key_id);
    if (it == index_by_id_.end()) return nullptr;
    digest = it->second.digest;
  }
  return FindByDigest(digest);
}

void KeyCache::Reserve(std::size_t keys) {
  std::unique_lock ids_lock(ids_mu_);
  index_by_id_.reserve(keys);
  for (Shard& shard : shards_) {
    std::unique_lock lock(shard.mu);
    shard.by_digest.reserve(keys / kShards + keys / kShards / 8 + 1);  // digests spread evenly
  }
}

void KeyCache::Put(CachedKeyPtr entry) {
  const Sha256Digest digest = DigestOfHex(entry->key.hash);
  const std::string& external_id = entry->key.external_id;
  std::unique_lock ids_lock(ids_mu_);
  auto [it, inserted] = index_by_id_.try_emplace(entry->key.id, KeyIndex{digest, external_id});
  if (!inserted) {
    KeyIndex& index = it->second;
    if (index.digest != digest) {
      Shard& old_shard = ShardFor(index.digest);
      std::unique_lock lock(old_shard.mu);
      old_shard.by_digest.erase(index.digest);
      index.digest = digest;
    }
    if (index.external_id != external_id) {
      if (!index.external_id.empty()) {
        const auto old = ids_by_external_id_.find(index.external_id);
        if (old != ids_by_external_id_.end()) {
          old->second.erase(entry->key.id);
          if (old->second.empty()) ids_by_external_id_.erase(old);
        }
      }
      index.external_id = external_id;
    }
  }
  if (!external_id.empty()) ids_by_external_id_[external_id].insert(entry->key.id);
  Shard& shard = ShardFor(digest);
  std::unique_lock lock(shard.mu);
  shard.by_digest[digest] = std::move(entry);
}

void KeyCache::Remove(const std::string& key_id) {
  std::unique_lock ids_lock(ids_mu_);
  const auto it = index_by_id_.find(key_id);
  if (it == index_by_id_.end()) return;
  const Sha256Digest digest = it->second.digest;
  Shard& shard = ShardFor(digest);
  {
    std::unique_lock lock(shard.mu);
    shard.by_digest.erase(digest);
  }
  if (!it->second.external_id.empty()) {
    const auto keys = ids_by_external_id_.find(it->second.external_id);
    if (keys != ids_by_external_id_.end()) {
      keys->second.erase(key_id);
      if (keys->second.empty()) ids_by_external_id_.erase(keys);
    }
  }
  index_by_id_.erase(it);
}

std::size_t KeyCache::Size() const {
  std::shared_lock lock(ids_mu_);
  return index_by_id_.size();
}

std::vector<std::string> KeyCache::KeyIds() const {
  std::shared_lock lock(ids_mu_);
  std::vector<std::string> ids;
  ids.reserve(index_by_id_.size());
  for (const auto& [id, index] : index_by_id_) ids.push_back(id);
  return ids;
}

std::vector<CachedKeyPtr> KeyCache::KeysOfIdentity(const std::string& external_id) const {
  std::vector<Sha256Digest> digests;
  {
    std::shared_lock lock(ids_mu_);
    const auto keys = ids_by_external_id_.find(external_id);
    if (keys == ids_by_external_id_.end()) return {};
    digests.reserve(keys->second.size());
    for (const std::string& key_id : keys->second) digests.push_back(index_by_id_.at(key_id).digest);
  }
  std::vector<CachedKeyPtr> entries;
  entries.reserve(digests.size());
  for (const Sha256Digest& digest : digests) {
    if (CachedKeyPtr entry = FindByDigest(digest)) entries.push_back(std::move(entry));
  }
  return entries;
}

void KeyCache::PutIdentity(IdentityPtr identity) {
  std::unique_lock lock(identities_mu_);
  auto [it, inserted] = identities_by_id_.try_emplace(identity->id, identity);
  if (!inserted) {
    if (it->second->external_id != identity->external_id) {
      identities_by_external_id_.erase(it->second->external_id);
    }
    it->second = identity;
  }
  identities_by_external_id_[identity->external_id] = std::move(identity);
}

void KeyCache::RemoveIdentity(const std::string& identity_id) {
  std::unique_lock lock(identities_mu_);
  const auto it = identities_by_id_.find(identity_id);
  if (it == identities_by_id_.end()) return;
  const auto by_external = identities_by_external_id_.find(it->second->external_id);
  if (by_external != identities_by_external_id_.end() && by_external->second->id == identity_id) {
    identities_by_external_id_.erase(by_external);
  }
  identities_by_id_.erase(it);
}

IdentityPtr KeyCache::FindIdentityById(const std::string& identity_id) const {
  std::shared_lock lock(identities_mu_);
  const auto it = identities_by_id_.find(identity_id);
  return it == identities_by_id_.end() ? nullptr : it->second;
}

IdentityPtr KeyCache::FindIdentityByExternalId(const std::string& external_id) const {
  std::shared_lock lock(identities_mu_);
  const auto it = identities_by_external_id_.find(external_id);
  return it == identities_by_external_id_.end() ? nullptr : it->second;
}

std::size_t KeyCache::IdentityCount() const {
  std::shared_lock lock(identities_mu_);
  return identities_by_id_.size();
}

}  // namespace tollgate
