// Persistence of APIs, keys and (through IdentityStore) identities. Implemented by storage/sqlite (embedded default) and
// later storage/postgres. Every method is safe to call from any thread; implementations
// serialise or pool internally. Deleted rows are soft-deleted: they vanish from every read here.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "keys/identity_store.h"
#include "keys/model.h"

namespace tollgate {

struct KeyPage {
  std::vector<Key> keys;
  std::optional<std::string> next_cursor;  // set when more keys follow
};

// Keys and identities are one domain and KeyService needs both, hence one interface.
class KeyStore : public IdentityStore {
 public:
  virtual Status InsertApi(const Api& api) = 0;
  virtual Result<std::optional<Api>> GetApi(const std::string& api_id) = 0;
  // Soft-deletes the API and every key in it.
  virtual Status DeleteApi(const std::string& api_id, UnixMillis now) = 0;

  // Fails with kConflict if the hash is already taken.
  virtual Status InsertKey(const Key& key) = 0;
  // Replaces every mutable field of the key with id key.id.
  virtual Status UpdateKey(const Key& key) = 0;
  virtual Status DeleteKey(const std::string& key_id, bool permanent, UnixMillis now) = 0;
  virtual Result<std::optional<Key>> GetKey(const std::string& key_id) = 0;
  // Keys of one API ordered by id, starting after `cursor`; at most `limit`.
  virtual Result<KeyPage> ListKeys(const std::string& api_id, const std::optional<std::string>& cursor,
                                   std::size_t limit,
                                   const std::optional<std::string>& external_id) = 0;
  // Every live key of every live API: how the KeyCache is filled at start.
  virtual Result<std::vector<Key>> LoadAllKeys() = 0;
  // Writes a key's credit state alone (the hot path's write-back).
  virtual Status UpdateCredits(const std::string& key_id, const std::optional<Credits>& credits) = 0;
};

}  // namespace tollgate
