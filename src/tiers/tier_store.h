// Persistence of tiers. Implemented by storage/sqlite (later storage/postgres). Every method is
// safe to call from any thread. Tiers are few and read once at start; there is no paging.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "tiers/model.h"

namespace tollgate {

// What still refers to a tier: live identities and keys naming it, and tiers throttling to it.
struct TierUsage {
  std::int64_t identities = 0;
  std::int64_t keys = 0;
  std::int64_t throttling_tiers = 0;
  bool unused() const { return identities == 0 && keys == 0 && throttling_tiers == 0; }
};

class TierStore {
 public:
  virtual ~TierStore() = default;

  // Fails with kConflict when a tier with that name exists.
  virtual Status InsertTier(const Tier& tier) = 0;
  // Replaces every field but name, builtin and created_at of the tier named tier.name; kNotFound
  // if there is none.
  virtual Status UpdateTier(const Tier& tier) = 0;
  // Deletes the tier unless something still uses it, deciding both in one transaction so that no
  // reference can slip in between. Returns the usage found: unused() means it was deleted.
  // kNotFound when there is no such tier.
  virtual Result<TierUsage> DeleteTierIfUnused(const std::string& name, UnixMillis now) = 0;
  virtual Result<std::optional<Tier>> GetTier(const std::string& name) = 0;
  // Every tier, ordered by name.
  virtual Result<std::vector<Tier>> ListTiers() = 0;
};

}  // namespace tollgate
