// Persistence of rate limit namespaces and their overrides. Read whole at start; written by the
// (rare) namespace creations and override calls. The counters themselves live in a CounterStore,
// never here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "ratelimit/model.h"

namespace tollgate {

class RatelimitStore {
 public:
  virtual ~RatelimitStore() = default;

  // The namespace named candidate.name: the stored one if it exists (another process may have
  // created it), else `candidate` (id, name, created_at) as inserted.
  virtual Result<RatelimitNamespace> UpsertRatelimitNamespace(const RatelimitNamespace& candidate) = 0;
  virtual Result<std::vector<RatelimitNamespace>> LoadAllRatelimitNamespaces() = 0;

  // Sets the override of (namespace_id, identifier): inserts `row` when that pair has no live
  // override, else replaces the live one's limit, duration and updated_at, keeping its id and
  // created_at. Returns the override as stored. The namespace must exist.
  virtual Result<RatelimitOverride> UpsertRatelimitOverride(const RatelimitOverride& row) = 0;
  // Soft-deletes the live override of (namespace_id, identifier); NotFound when there is none.
  // The pair is free for a new override (with a new id) afterwards.
  virtual Status DeleteRatelimitOverride(const std::string& namespace_id, const std::string& identifier,
                                         UnixMillis now) = 0;
  // The live overrides of a namespace in id order, `limit` (>= 1) at a time after `cursor` (an
  // override id; nullopt for the first page).
  virtual Result<RatelimitOverridePage> ListRatelimitOverrides(const std::string& namespace_id,
                                                               const std::optional<std::string>& cursor,
                                                               std::size_t limit) = 0;
  // Every live override of every namespace.
  virtual Result<std::vector<RatelimitOverride>> LoadAllRatelimitOverrides() = 0;
};

}  // namespace tollgate
