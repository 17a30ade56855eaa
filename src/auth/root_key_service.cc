#include "auth/root_key_service.h"

#include <algorithm>
#include <mutex>

#include "auth/scope.h"
#include "common/base58.h"
#include "common/crypto.h"
#include "common/ids.h"

namespace tollgate {
namespace {

constexpr std::string_view kRootKeyPrefix = "tg_root_";
constexpr std::size_t kRootKeyBytes = 24;
constexpr std::size_t kMinRootKeyLength = 16;

}  // namespace

Result<std::unique_ptr<RootKeyService>> RootKeyService::Create(RootKeyStore& store, Clock& clock) {
  auto keys = store.ListRootKeys();
  if (!keys) return Fail(keys.error());
  std::unique_ptr<RootKeyService> service(new RootKeyService(store, clock));
  service->Replace(std::move(*keys));
  return service;
}

void RootKeyService::Replace(std::vector<RootKey> keys) {
  std::unordered_map<std::string, std::shared_ptr<const RootKey>> by_hash;
  for (auto& key : keys) {
    auto hash = key.hash;
    by_hash.emplace(std::move(hash), std::make_shared<const RootKey>(std::move(key)));
  }
  std::unique_lock lock(mu_);
  by_hash_ = std::move(by_hash);
}

Status RootKeyService::Reload() {
  std::lock_guard write(write_mu_);
  auto keys = store_.ListRootKeys();
  if (!keys) return Fail(keys.error());
  Replace(std::move(*keys));
  return {};
}

Result<std::optional<std::string>> RootKeyService::Bootstrap(const std::string& env_root_key) {
  if (!env_root_key.empty()) {
    if (env_root_key.size() < kMinRootKeyLength || env_root_key.size() > 512) {
      return Fail(Error::InvalidInput("TOLLGATE_ROOT_KEY must be 16 to 512 characters long"));
    }
    if (Authenticate(env_root_key)) return std::optional<std::string>{};
    auto created = Insert("from TOLLGATE_ROOT_KEY", {"*"}, env_root_key);
    if (!created) return Fail(created.error());
    return std::optional<std::string>{};
  }
  {
    std::shared_lock lock(mu_);
    if (!by_hash_.empty()) return std::optional<std::string>{};
  }
  auto created = Insert("bootstrap", {"*"}, std::nullopt);
  if (!created) return Fail(created.error());
  return std::optional<std::string>(std::move(created->secret));
}

std::shared_ptr<const RootKey> RootKeyService::Authenticate(std::string_view secret) const {
  if (secret.empty() || secret.size() > 512) return nullptr;
  const std::string hash = Sha256Hex(secret);
  std::shared_lock lock(mu_);
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return nullptr;
  // The map lookup already matched the digest; the constant-time compare makes the final
  // decision independent of where two digests first differ.
  return ConstantTimeEqual(it->second->hash, hash) ? it->second : nullptr;
}

Result<NewRootKey> RootKeyService::CreateRootKey(const RootKey& caller, std::string name,
                                                 std::vector<std::string> permissions) {
  if (permissions.empty()) {
    return Fail(Error::InvalidInput("a root key needs at least one permission",
                                    {{"body.permissions", "must hold at least one scope",
                                      "e.g. [\"api.*.verify_key\"]"}}));
  }
  for (std::size_t i = 0; i < permissions.size(); ++i) {
    if (!IsValidScope(permissions[i])) {
      return Fail(Error::InvalidInput(
          "'" + permissions[i] + "' is not a valid scope",
          {{"body.permissions[" + std::to_string(i) + "]", "is not a valid scope",
            "use \"*\" or three dot-separated segments such as \"api.*.create_key\""}}));
    }
    if (!ScopesAllow(caller.permissions, permissions[i])) {
      return Fail(Error{ErrorCode::kForbidden,
                        "this root key cannot grant '" + permissions[i] + "', which it does not hold",
                        {}});
    }
  }
  std::sort(permissions.begin(), permissions.end());
  permissions.erase(std::unique(permissions.begin(), permissions.end()), permissions.end());
  return Insert(std::move(name), std::move(permissions), std::nullopt);
}

Result<NewRootKey> RootKeyService::Insert(std::string name, std::vector<std::string> permissions,
                                          std::optional<std::string> secret) {
  NewRootKey created;
  if (secret) {
    created.secret = std::move(*secret);
  } else {
    created.secret = std::string(kRootKeyPrefix) + Base58Encode(RandomBytes(kRootKeyBytes));
  }
  RootKey& key = created.key;
  key.id = NewId("rk");
  key.hash = Sha256Hex(created.secret);
  // Show our prefix and 4 characters; of a secret supplied by the operator, at most a quarter.
  const std::size_t shown = created.secret.starts_with(kRootKeyPrefix)
                                ? kRootKeyPrefix.size() + 4
                                : std::min<std::size_t>(4, created.secret.size() / 4);
  key.start = created.secret.substr(0, shown);
  key.name = std::move(name);
  key.permissions = std::move(permissions);
  key.created_at = clock_.NowMillis();
  std::lock_guard write(write_mu_);
  if (auto status = store_.InsertRootKey(key); !status) return Fail(status.error());
  std::unique_lock lock(mu_);
  by_hash_[key.hash] = std::make_shared<const RootKey>(key);
  return created;
}

Status RootKeyService::DeleteRootKey(const std::string& id) {
  std::lock_guard write(write_mu_);
  if (auto status = store_.DeleteRootKey(id, clock_.NowMillis()); !status) return status;
  std::unique_lock lock(mu_);
  std::erase_if(by_hash_, [&](const auto& entry) { return entry.second->id == id; });
  return {};
}

std::vector<RootKey> RootKeyService::ListRootKeys() const {
  std::vector<RootKey> keys;
  {
    std::shared_lock lock(mu_);
    for (const auto& [hash, key] : by_hash_) keys.push_back(*key);
  }
  std::sort(keys.begin(), keys.end(), [](const RootKey& a, const RootKey& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  return keys;
}

}  // namespace tollgate
