// The key lifecycle: APIs, keys, identities, credits, verification. Validates business rules,
// writes through the KeyStore, keeps the KeyCache in step, and publishes key.* and identity.*
// events. Transport-free: the HTTP handlers translate JSON to these parameter structs and back.
//
// Threading: every method may be called from any worker thread at once. Writes go to the store
// first and to the cache only once the store accepted them, so the cache never shows a key the
// store does not have. Writes of keys and identities are serialised by write_mu_: they are rare
// admin calls that SQLite serialises anyway, and it keeps a key's cached identity right when an
// identity update (which re-puts the identity's keys) races a key update. Verify never takes it.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "events/event_bus.h"
#include "keys/key_cache.h"
#include "keys/key_store.h"
#include "keys/model.h"
#include "keys/permission_query.h"
#include "keys/tier_names.h"

namespace tollgate {

struct CreateKeyParams {
  std::string api_id;
  std::string prefix;
  std::string name;
  int byte_length = 16;
  std::string external_id;
  std::string meta_json;
  std::optional<UnixMillis> expires;
  bool enabled = true;
  std::optional<Credits> credits;
  std::vector<RateLimitConfig> ratelimits;
  std::vector<std::string> permissions;
  std::vector<std::string> roles;
  std::string tier;  // "" for none; otherwise must name a tier
};

struct CreatedKey {
  std::string key_id;
  std::string secret;  // shown once, never stored
};

// For each field: nullopt = leave as is; for nullable fields an inner nullopt/empty = clear.
struct UpdateKeyParams {
  std::string key_id;
  std::optional<std::string> name;
  std::optional<std::string> external_id;
  std::optional<std::string> meta_json;
  std::optional<std::optional<UnixMillis>> expires;
  std::optional<std::optional<Credits>> credits;
  std::optional<std::vector<RateLimitConfig>> ratelimits;
  std::optional<bool> enabled;
  std::optional<std::vector<std::string>> roles;
  std::optional<std::vector<std::string>> permissions;
  std::optional<std::string> tier;  // "" clears
};

struct CreateIdentityParams {
  std::string external_id;
  std::string meta_json;  // "" for none
  std::vector<RateLimitConfig> ratelimits;
  std::string tier;       // "" for none; otherwise must name a tier
  bool anniversary_billing = false;
};

// nullopt = leave as is; "" clears meta and tier; an empty vector removes every ratelimit.
struct UpdateIdentityParams {
  std::string identity;  // the identity's id or its external id
  std::optional<std::string> meta_json;
  std::optional<std::vector<RateLimitConfig>> ratelimits;
  std::optional<std::string> tier;
  std::optional<bool> anniversary_billing;
};

enum class CreditOperation { kSet, kIncrement, kDecrement };

enum class VerifyCode {
  kValid,
  kNotFound,
  kForbidden,
  kInsufficientPermissions,
  kUsageExceeded,
  kRateLimited,
  kDisabled,
  kExpired,
};
std::string_view VerifyCodeName(VerifyCode code);

struct VerifyParams {
  const PermissionQuery* permissions = nullptr;  // nullptr: no permission check
  std::int64_t cost = 1;                         // credits to spend; 0 checks without spending
  // Called once the key itself admits the request (enabled, not expired, permitted, enough
  // credits) and before its credits are spent: rate limits and quota decide here. Returns
  // kValid to admit, or the code that denies (then no credit is spent). Runs under the key's
  // credit lock, so it must be quick and must not call back into the KeyService.
  const std::function<VerifyCode()>* admit = nullptr;
  // false: credits are checked (enough for `cost`) but not spent; the caller spends them with
  // SpendCredits once an asynchronous limiter has admitted the request.
  bool spend = true;
};

struct VerifyOutcome {
  VerifyCode code = VerifyCode::kNotFound;
  CachedKeyPtr key;  // null when NOT_FOUND
  std::optional<std::int64_t> credits_remaining;  // set when the key has credits
  bool valid() const { return code == VerifyCode::kValid; }
};

// A key as shown by getKey/listKeys/whoami: the stored key with its live credit balance.
struct KeyView {
  Key key;
  std::optional<Identity> identity;
};

class KeyService {
 public:
  // Fills the cache from the store. `tiers` says which tier names keys and identities may carry;
  // without it (nullptr) no tier is accepted.
  static Result<std::unique_ptr<KeyService>> Create(KeyStore& store, Clock& clock, const TierNames* tiers = nullptr);

  Result<Api> CreateApi(std::string name);
  Result<Api> GetApi(const std::string& api_id);
  Status DeleteApi(const std::string& api_id);

  Result<CreatedKey> CreateKey(CreateKeyParams params);
  Result<KeyView> GetKey(const std::string& key_id);
  Result<KeyView> Whoami(std::string_view secret);
  Result<KeyPage> ListKeys(const std::string& api_id, const std::optional<std::string>& cursor,
                           std::size_t limit, const std::optional<std::string>& external_id);
  Status UpdateKey(UpdateKeyParams params);
  Status DeleteKey(const std::string& key_id, bool permanent);
  // A new key with the old one's configuration; the old one expires `expiration_ms` from now.
  Result<CreatedKey> RerollKey(const std::string& key_id, std::int64_t expiration_ms);
  Result<std::optional<Credits>> UpdateCredits(const std::string& key_id, CreditOperation op,
                                               std::optional<std::int64_t> value);

  // Identities. `identity` arguments accept the identity's id or its external id (Unkey v2); the id
  // wins if a string is both. Reads are served from the cache, except listing.
  Result<Identity> CreateIdentity(CreateIdentityParams params);
  Result<Identity> GetIdentity(const std::string& identity) const;
  Result<IdentityPage> ListIdentities(const std::optional<std::string>& cursor, std::size_t limit,
                                      const std::optional<std::string>& search);
  // Takes effect for the identity's keys at once: the next verify of any of them sees it.
  Result<Identity> UpdateIdentity(UpdateIdentityParams params);
  // Soft-deletes the identity; its keys keep working without it (their external id is cleared).
  Status DeleteIdentity(const std::string& identity);

  // The hot path, in two steps so the caller can authorise against the key's API in between:
  // Find costs one SHA-256 and one cache lookup and never touches the store.
  CachedKeyPtr FindForVerify(std::string_view secret) const;
  VerifyOutcome Verify(CachedKeyPtr key, const VerifyParams& params);
  // Spends `cost` credits of a key that Verify (with spend = false) admitted: the balance left,
  // nullopt when the key has no credits, or kUsageExceeded's cue (false) when concurrent
  // verifies spent them in between.
  struct Spent {
    bool enough = true;
    std::optional<std::int64_t> remaining;
  };
  Spent SpendCredits(const CachedKey& entry, std::int64_t cost);

  // Writes the balances that verifies changed since the last call. Verifies never wait on the
  // store: they mark the balance dirty and the owner calls this periodically (every second)
  // and at shutdown, so a crash loses at most one interval of credit spending.
  Status FlushCredits();

  // Changes another node made, announced by an event (events/event_inbox.h): each reloads what
  // the event names from the store into the cache. key.* reloads the key (or drops it when it is
  // gone), api.deleted drops the API's keys, identity.* reloads the identity and re-puts its keys.
  Status ApplyKeyEvent(const Event& event);
  Status ApplyApiDeleted(const Event& event);
  Status ApplyIdentityEvent(const Event& event);

  const KeyCache& cache() const { return cache_; }

 private:
  KeyService(KeyStore& store, Clock& clock, const TierNames* tiers) : store_(store), clock_(clock), tiers_(tiers) {}

  // A balance's state for a key with credits; nullptr for one without. Keys that never had
  // credits carry no state (two mutexes and the balance, ~170 bytes: 160 MiB of a million-key
  // cache); updateKey or updateCredits gives a key one when it first gets credits.
  static std::shared_ptr<CreditState> NewCreditState(const std::optional<Credits>& credits);
  Result<CachedKeyPtr> Cache(Key key, std::shared_ptr<CreditState> credits);
  // The cached identity of external_id, created (in the store too) when missing; null for "".
  Result<IdentityPtr> IdentityFor(const std::string& external_id);
  IdentityPtr ResolveIdentity(const std::string& identity) const;
  // Re-puts every cached key of external_id with `identity` (null: detached, external id cleared).
  // Caller holds write_mu_.
  void RefreshKeysOf(const std::string& external_id, const IdentityPtr& identity);
  // Removes every cached key of the API. Caller holds write_mu_.
  void DropKeysOfApi(const std::string& api_id);
  void CheckTier(const std::string& tier, std::vector<FieldError>& errors) const;
  // Resets the balance if a refill boundary passed since the last refill. Caller holds state.mu.
  bool ApplyRefill(Credits& credits, UnixMillis now) const;
  // Queues a changed balance for FlushCredits. Caller holds state.mu.
  void MarkChanged(const std::string& key_id, const std::shared_ptr<CreditState>& state);
  KeyView ViewOf(const CachedKey& entry);

  KeyStore& store_;
  Clock& clock_;
  const TierNames* tiers_;  // may be null: then no tier name is accepted
  KeyCache cache_;
  std::mutex dirty_mu_;  // guards dirty_credits_
  std::vector<std::pair<std::string, std::shared_ptr<CreditState>>> dirty_credits_;
  std::mutex write_mu_;  // serialises writes of keys and identities (see the top of this file)
};

}  // namespace tollgate
