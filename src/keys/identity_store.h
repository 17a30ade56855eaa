// Persistence of identities, the provider's customers. Implemented by storage/sqlite (and later
// storage/postgres) as part of the KeyStore. Every method is safe to call from any thread.
//
// An identity is unique by external id among the live ones: deleting one (a soft delete) frees
// its external id for a new identity, and detaches its keys (their external id is cleared), so
// the keys keep working without the identity's shared limits, as in Unkey v2.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "keys/model.h"

namespace tollgate {

struct IdentityPage {
  std::vector<Identity> identities;
  std::optional<std::string> next_cursor;  // set when more identities follow
};

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  // Fails with kConflict when a live identity already has identity.external_id.
  virtual Status InsertIdentity(const Identity& identity) = 0;
  // Returns the live identity with that external id, creating a bare one if missing: how a key's
  // externalId brings its identity into being.
  virtual Result<Identity> UpsertIdentity(const std::string& external_id, UnixMillis now) = 0;
  // Replaces meta, ratelimits and tier of the live identity with id identity.id.
  virtual Status UpdateIdentity(const Identity& identity, UnixMillis now) = 0;
  // Soft-deletes the identity and clears the external id of its live keys, in one transaction.
  virtual Status DeleteIdentity(const std::string& identity_id, UnixMillis now) = 0;
  virtual Result<std::optional<Identity>> GetIdentityById(const std::string& identity_id) = 0;
  virtual Result<std::optional<Identity>> GetIdentityByExternalId(const std::string& external_id) = 0;
  // Live identities ordered by id, starting after `cursor`; at most `limit`. `search`, when set,
  // keeps those whose id or external id contains it, ignoring ASCII case.
  virtual Result<IdentityPage> ListIdentities(const std::optional<std::string>& cursor, std::size_t limit,
                                              const std::optional<std::string>& search) = 0;
  // Every live identity: how the KeyCache is filled at start.
  virtual Result<std::vector<Identity>> LoadAllIdentities() = 0;
};

}  // namespace tollgate
