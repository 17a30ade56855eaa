// Root keys: who may call tollgate's API, and with which scopes. All root keys live in memory
// (there are few) so that authenticating a request costs one SHA-256 and one hash lookup; the
// store is written through on every change.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/root_key_store.h"
#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

struct NewRootKey {
  RootKey key;         // as stored
  std::string secret;  // shown once to the caller, never stored
};

class RootKeyService {
 public:
  // Loads every root key from the store.
  static Result<std::unique_ptr<RootKeyService>> Create(RootKeyStore& store, Clock& clock);

  // Makes sure a root key exists. If the store has none and env_root_key is empty, creates one
  // with every permission and returns its secret (to be printed once). If env_root_key is set,
  // stores it (hashed) with every permission unless it is already known; returns nullopt.
  Result<std::optional<std::string>> Bootstrap(const std::string& env_root_key);

  // Finds the root key for a presented secret; nullptr if none matches.
  std::shared_ptr<const RootKey> Authenticate(std::string_view secret) const;

  // Creates a root key. Every requested permission must be a valid scope that `caller` holds, so
  // a root key can never mint a more powerful one.
  Result<NewRootKey> CreateRootKey(const RootKey& caller, std::string name,
                                   std::vector<std::string> permissions);
  Status DeleteRootKey(const std::string& id);
  std::vector<RootKey> ListRootKeys() const;

  // Reads every root key from the store again: how a root key created or deleted on another node
  // (rootkey.*, events/event_inbox.h) takes effect here. Root keys are few.
  Status Reload();

 private:
  RootKeyService(RootKeyStore& store, Clock& clock) : store_(store), clock_(clock) {}
  void Replace(std::vector<RootKey> keys);
  Result<NewRootKey> Insert(std::string name, std::vector<std::string> permissions,
                            std::optional<std::string> secret);

  RootKeyStore& store_;
  Clock& clock_;
  // Serialises the writers of by_hash_ with their store calls (create, delete, reload), so a
  // reload that read the store before a delete cannot put the deleted key back after it.
  std::mutex write_mu_;
  mutable std::shared_mutex mu_;  // guards by_hash_; written only by create/delete/reload
  std::unordered_map<std::string, std::shared_ptr<const RootKey>> by_hash_;
};

}  // namespace tollgate
