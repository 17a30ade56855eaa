// Persistence of root keys: the credentials the provider's own staff and backends use to call
// tollgate. Like API keys, only the SHA-256 of the secret is kept.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

struct RootKey {
  std::string id;    // "rk_…"
  std::string hash;  // lower-case hex SHA-256 of the secret
  std::string start; // prefix + first characters, for display
  std::string name;
  std::vector<std::string> permissions;  // scopes such as "api.*.create_key" or "*"
  UnixMillis created_at = 0;
};

class RootKeyStore {
 public:
  virtual ~RootKeyStore() = default;
  virtual Status InsertRootKey(const RootKey& key) = 0;
  virtual Status DeleteRootKey(const std::string& id, UnixMillis now) = 0;
  virtual Result<std::vector<RootKey>> ListRootKeys() = 0;
};

}  // namespace tollgate
