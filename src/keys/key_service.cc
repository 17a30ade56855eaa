#include "keys/key_service.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/calendar.h"
#include "common/text.h"
#include "keys/rate_limit_validation.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "keys/key_secret.h"

namespace tollgate {
namespace {

constexpr std::size_t kMaxNameLength = 255;
constexpr std::size_t kMaxExternalIdLength = 255;
constexpr std::size_t kMaxPermissionLength = 512;
// Credit balances stay within JavaScript's exact integers (2^53 - 1), so every JSON client reads
// them exactly, and far from int64 overflow.
constexpr std::int64_t kMaxCredits = (std::int64_t{1} << 53) - 1;

std::optional<FieldError> CheckLength(std::string_view value, std::size_t max, const char* location) {
  if (value.size() > max) {
    return FieldError{location, "must be at most " + std::to_string(max) + " characters", ""};
  }
  return std::nullopt;
}

// External ids travel to gateways in the X-Tollgate-External-Id header: no control characters.
std::optional<FieldError> CheckExternalId(std::string_view value) {
  if (auto e = CheckLength(value, kMaxExternalIdLength, "body.externalId")) return e;
  if (!HasNoControlCharacters(value)) return FieldError{"body.externalId", "must not contain control characters", ""};
  return std::nullopt;
}

void ValidateCredits(const std::optional<Credits>& credits, std::vector<FieldError>& errors) {
  if (!credits) return;
  if (credits->remaining < 0 || credits->remaining > kMaxCredits) {
    errors.push_back({"body.credits.remaining", "must be between 0 and " + std::to_string(kMaxCredits), ""});
  }
  if (!credits->refill) return;
  const CreditRefill& refill = *credits->refill;
  if (refill.amount < 1 || refill.amount > kMaxCredits) {
    errors.push_back({"body.credits.refill.amount", "must be between 1 and " + std::to_string(kMaxCredits), ""});
  }
  if (refill.interval == RefillInterval::kMonthly && (refill.refill_day < 1 || refill.refill_day > 31)) {
    errors.push_back({"body.credits.refill.refillDay", "must be between 1 and 31", ""});
  }
}

void ValidateRateLimits(std::vector<RateLimitConfig>& limits, std::vector<FieldError>& errors) {
  ValidateRateLimitConfigs(limits, "body.ratelimits", errors);
  for (RateLimitConfig& limit : limits) {
    if (limit.id.empty()) limit.id = NewId("rl");
  }
}

void ValidateNames(const std::vector<std::string>& names, const char* field, std::vector<FieldError>& errors) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty() || names[i].size() > kMaxPermissionLength) {
      errors.push_back({std::string("body.") + field + "[" + std::to_string(i) + "]", "must be 1 to 512 characters", ""});
    }
  }
}

void SortUnique(std::vector<std::string>& names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
}

}  // namespace

std::string_view VerifyCodeName(VerifyCode code) {
  switch (code) {
    case VerifyCode::kValid: return "VALID";
    case VerifyCode::kNotFound: return "NOT_FOUND";
    case VerifyCode::kForbidden: return "FORBIDDEN";
    case VerifyCode::kInsufficientPermissions: return "INSUFFICIENT_PERMISSIONS";
    case VerifyCode::kUsageExceeded: return "USAGE_EXCEEDED";
    case VerifyCode::kRateLimited: return "RATE_LIMITED";
    case VerifyCode::kDisabled: return "DISABLED";
    case VerifyCode::kExpired: return "EXPIRED";
  }
  return "NOT_FOUND";
}

Result<std::unique_ptr<KeyService>> KeyService::Create(KeyStore& store, Clock& clock, const TierNames* tiers) {
  std::unique_ptr<KeyService> service(new KeyService(store, clock, tiers));
  // Identities first, so that caching a key finds its identity without a query.
  auto identities = store.LoadAllIdentities();
  if (!identities) return Fail(identities.error());
  for (Identity& identity : *identities) {
    service->cache_.PutIdentity(std::make_shared<const Identity>(std::move(identity)));
  }
  auto keys = store.LoadAllKeys();
  if (!keys) return Fail(keys.error());
  service->cache_.Reserve(keys->size());
  for (Key& key : *keys) {
    auto state = NewCreditState(key.credits);
    if (auto cached = service->Cache(std::move(key), std::move(state)); !cached) return Fail(cached.error());
  }
  return service;
}

Result<IdentityPtr> KeyService::IdentityFor(const std::string& external_id) {
  if (external_id.empty()) return IdentityPtr{};
  if (IdentityPtr cached = cache_.FindIdentityByExternalId(external_id)) return cached;
  auto identity = store_.UpsertIdentity(external_id, clock_.NowMillis());
  if (!identity) return Fail(identity.error());
  auto created = std::make_shared<const Identity>(std::move(*identity));
  cache_.PutIdentity(created);
  return IdentityPtr(std::move(created));
}

IdentityPtr KeyService::ResolveIdentity(const std::string& identity) const {
  if (IdentityPtr by_id = cache_.FindIdentityById(identity)) return by_id;
  return cache_.FindIdentityByExternalId(identity);
}

void KeyService::RefreshKeysOf(const std::string& external_id, const IdentityPtr& identity) {
  for (const CachedKeyPtr& old : cache_.KeysOfIdentity(external_id)) {
    auto entry = std::make_shared<CachedKey>(*old);
    entry->identity = identity;
    if (!identity) entry->key.external_id.clear();
    cache_.Put(std::move(entry));
  }
}

void KeyService::CheckTier(const std::string& tier, std::vector<FieldError>& errors) const {
  if (tier.empty() || (tiers_ && tiers_->Contains(tier))) return;
  errors.push_back({"body.tier", "names no tier: '" + tier + "'", "tiers.listTiers lists the tiers"});
}

std::shared_ptr<CreditState> KeyService::NewCreditState(const std::optional<Credits>& credits) {
  if (!credits) return nullptr;
  auto state = std::make_shared<CreditState>();
  state->credits = credits;
  return state;
}

Result<CachedKeyPtr> KeyService::Cache(Key key, std::shared_ptr<CreditState> credits) {
  auto identity = IdentityFor(key.external_id);
  if (!identity) return Fail(identity.error());
  auto entry = std::make_shared<CachedKey>();
  entry->key = std::move(key);
  entry->identity = std::move(*identity);
  entry->credits = std::move(credits);
  CachedKeyPtr ptr = entry;
  cache_.Put(ptr);
  return ptr;
}

Result<Api> KeyService::CreateApi(std::string name) {
  if (name.size() < 3 || name.size() > kMaxNameLength) {
    return Fail(Error::InvalidInput("the API name must be 3 to 255 characters",
                                    {{"body.name", "must be 3 to 255 characters", ""}}));
  }
  Api api{NewId("api"), std::move(name), clock_.NowMillis()};
  if (auto status = store_.InsertApi(api); !status) return Fail(status.error());
  return api;
}

Result<Api> KeyService::GetApi(const std::string& api_id) {
  auto api = store_.GetApi(api_id);
  if (!api) return Fail(api.error());
  if (!*api) return Fail(Error::NotFound("no API with id '" + api_id + "'"));
  return std::move(**api);
}

Status KeyService::DeleteApi(const std::string& api_id) {
  std::lock_guard write_lock(write_mu_);
  if (auto status = store_.DeleteApi(api_id, clock_.NowMillis()); !status) return status;
  DropKeysOfApi(api_id);
  return {};
}

void KeyService::DropKeysOfApi(const std::string& api_id) {
  // A walk over every cached key: fine for a rare admin call, and it saves an index by API.
  for (const std::string& key_id : cache_.KeyIds()) {
    if (CachedKeyPtr entry = cache_.FindById(key_id); entry && entry->key.api_id == api_id) cache_.Remove(key_id);
  }
}

// ---- Changes made by other nodes (events/event_inbox.h) ----

Status KeyService::ApplyKeyEvent(const Event& event) {
  auto key_id = EventPayloadField(event, "keyId");
  if (!key_id) return Fail(key_id.error());
  std::lock_guard write_lock(write_mu_);
  auto stored = store_.GetKey(*key_id);
  if (!stored) return Fail(stored.error());
  if (!*stored) {
    cache_.Remove(*key_id);
    return {};
  }
  Key key = std::move(**stored);
  // The other node wrote the key whole, its balance included: that balance wins over this
  // node's (credits are per node until the Redis limiter shares them).
  CachedKeyPtr existing = cache_.FindById(key.id);
  auto state = existing && existing->credits ? existing->credits : NewCreditState(key.credits);
  if (state) {
    std::lock_guard credit_write_lock(state->write_mu);
    std::lock_guard credit_lock(state->mu);
    state->credits = key.credits;
    ++state->version;
    state->dirty = false;
  }
  if (auto cached = Cache(std::move(key), std::move(state)); !cached) return Fail(cached.error());
  return {};
}

Status KeyService::ApplyApiDeleted(const Event& event) {
  auto api_id = EventPayloadField(event, "apiId");
  if (!api_id) return Fail(api_id.error());
  std::lock_guard write_lock(write_mu_);
  DropKeysOfApi(*api_id);
  return {};
}

Status KeyService::ApplyIdentityEvent(const Event& event) {
  auto identity_id = EventPayloadField(event, "identityId");
  if (!identity_id) return Fail(identity_id.error());
  std::lock_guard write_lock(write_mu_);
  auto stored = store_.GetIdentityById(*identity_id);
  if (!stored) return Fail(stored.error());
  if (!*stored) {
    // Deleted: its keys lost their external id in the store; do the same here.
    if (IdentityPtr cached = cache_.FindIdentityById(*identity_id)) {
      cache_.RemoveIdentity(*identity_id);
      RefreshKeysOf(cached->external_id, nullptr);
    }
    return {};
  }
  auto identity = std::make_shared<const Identity>(std::move(**stored));
  cache_.PutIdentity(identity);
  RefreshKeysOf(identity->external_id, identity);
  return {};
}

Result<CreatedKey> KeyService::CreateKey(CreateKeyParams params) {
  std::vector<FieldError> errors;
  if (auto e = CheckLength(params.name, kMaxNameLength, "body.name")) errors.push_back(*e);
  if (auto e = CheckExternalId(params.external_id)) errors.push_back(*e);
  ValidateCredits(params.credits, errors);
  ValidateRateLimits(params.ratelimits, errors);
  ValidateNames(params.permissions, "permissions", errors);
  ValidateNames(params.roles, "roles", errors);
  CheckTier(params.tier, errors);
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) return Fail(status.error());

  auto secret = GenerateKeySecret(params.prefix, params.byte_length);
  if (!secret) return Fail(secret.error());

  const UnixMillis now = clock_.NowMillis();
  Key key;
  key.id = NewId("key");
  key.api_id = std::move(params.api_id);
  key.hash = secret->hash;
  key.start = secret->start;
  key.name = std::move(params.name);
  key.external_id = std::move(params.external_id);
  key.meta_json = std::move(params.meta_json);
  key.enabled = params.enabled;
  key.expires = params.expires;
  key.credits = params.credits;
  if (key.credits && key.credits->refill) key.credits->last_refill_at = now;
  key.ratelimits = std::move(params.ratelimits);
  key.permissions = std::move(params.permissions);
  key.roles = std::move(params.roles);
  SortUnique(key.permissions);
  SortUnique(key.roles);
  key.tier = std::move(params.tier);
  key.created_at = now;
  key.updated_at = now;

  std::lock_guard write_lock(write_mu_);
  if (auto identity = IdentityFor(key.external_id); !identity) return Fail(identity.error());
  if (auto status = store_.InsertKey(key); !status) return Fail(status.error());
  auto state = NewCreditState(key.credits);
  CreatedKey created{key.id, std::move(secret->secret)};
  const Key copy = key;
  if (auto cached = Cache(std::move(key), std::move(state)); !cached) return Fail(cached.error());
  return created;
}

KeyView KeyService::ViewOf(const CachedKey& entry) {
  KeyView view{entry.key, entry.identity ? std::optional<Identity>(*entry.identity) : std::nullopt};
  if (!entry.credits) {
    view.key.credits.reset();
    return view;
  }
  std::lock_guard lock(entry.credits->mu);
  if (entry.credits->credits) ApplyRefill(*entry.credits->credits, clock_.NowMillis());
  view.key.credits = entry.credits->credits;
  return view;
}

Result<KeyView> KeyService::GetKey(const std::string& key_id) {
  if (CachedKeyPtr entry = cache_.FindById(key_id)) return ViewOf(*entry);
  return Fail(Error::NotFound("no key with id '" + key_id + "'"));
}

Result<KeyView> KeyService::Whoami(std::string_view secret) {
  if (CachedKeyPtr entry = FindForVerify(secret)) return ViewOf(*entry);
  return Fail(Error::NotFound("no key matches the given secret"));
}

Result<KeyPage> KeyService::ListKeys(const std::string& api_id, const std::optional<std::string>& cursor,
                                     std::size_t limit, const std::optional<std::string>& external_id) {
  if (auto api = GetApi(api_id); !api) return Fail(api.error());
  auto page = store_.ListKeys(api_id, cursor, limit, external_id);
  if (!page) return Fail(page.error());
  // The store's credit columns may trail the live balance by in-flight verifies: show the live one.
  for (Key& key : page->keys) {
    if (CachedKeyPtr entry = cache_.FindById(key.id)) key.credits = ViewOf(*entry).key.credits;
  }
  return page;
}

Status KeyService::UpdateKey(UpdateKeyParams params) {
  std::lock_guard write_lock(write_mu_);
  CachedKeyPtr entry = cache_.FindById(params.key_id);
  if (!entry) return Fail(Error::NotFound("no key with id '" + params.key_id + "'"));
  Key key = entry->key;

  std::vector<FieldError> errors;
  if (params.name) {
    if (auto e = CheckLength(*params.name, kMaxNameLength, "body.name")) errors.push_back(*e);
    key.name = *params.name;
  }
  if (params.external_id) {
    if (auto e = CheckExternalId(*params.external_id)) errors.push_back(*e);
    key.external_id = *params.external_id;
  }
  if (params.meta_json) key.meta_json = *params.meta_json;
  if (params.expires) key.expires = *params.expires;
  if (params.enabled) key.enabled = *params.enabled;
  if (params.ratelimits) {
    ValidateRateLimits(*params.ratelimits, errors);
    key.ratelimits = *params.ratelimits;
  }
  if (params.permissions) {
    ValidateNames(*params.permissions, "permissions", errors);
    key.permissions = *params.permissions;
    SortUnique(key.permissions);
  }
  if (params.roles) {
    ValidateNames(*params.roles, "roles", errors);
    key.roles = *params.roles;
    SortUnique(key.roles);
  }
  if (params.credits) ValidateCredits(*params.credits, errors);
  if (params.tier) {
    CheckTier(*params.tier, errors);
    key.tier = *params.tier;
  }
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) return status;
  key.updated_at = clock_.NowMillis();

  // Credits change under the balance's lock, so no verify decrements a balance being replaced.
  // A key that never had credits gets a state only when this update gives it some (write_mu_
  // held: no other writer races); other updates leave it without one.
  std::shared_ptr<CreditState> state = entry->credits;
  if (!state && params.credits && *params.credits) state = std::make_shared<CreditState>();
  std::unique_lock<std::mutex> credit_write_lock;
  std::unique_lock<std::mutex> credit_lock;
  if (state) {
    credit_write_lock = std::unique_lock(state->write_mu);
    credit_lock = std::unique_lock(state->mu);
  }
  key.credits = params.credits ? *params.credits : state ? state->credits : std::nullopt;
  if (params.credits && key.credits && key.credits->refill) key.credits->last_refill_at = key.updated_at;
  if (auto identity = IdentityFor(key.external_id); !identity) return Fail(identity.error());
  if (auto status = store_.UpdateKey(key); !status) return status;
  if (state) {
    state->credits = key.credits;
    ++state->version;
    state->dirty = false;  // UpdateKey wrote the live balance
  }
  const Key copy = key;
  if (auto cached = Cache(std::move(key), state); !cached) return Fail(cached.error());
  return {};
}

Status KeyService::DeleteKey(const std::string& key_id, bool permanent) {
  std::lock_guard write_lock(write_mu_);
  CachedKeyPtr entry = cache_.FindById(key_id);
  if (!entry) return Fail(Error::NotFound("no key with id '" + key_id + "'"));
  if (auto status = store_.DeleteKey(key_id, permanent, clock_.NowMillis()); !status) return status;
  cache_.Remove(key_id);
  return {};
}

Result<CreatedKey> KeyService::RerollKey(const std::string& key_id, std::int64_t expiration_ms) {
  if (expiration_ms < 0) {
    return Fail(Error::InvalidInput("expiration must not be negative",
                                    {{"body.expiration", "must be 0 or more milliseconds", "0 revokes the old key at once"}}));
  }
  CachedKeyPtr entry = cache_.FindById(key_id);
  if (!entry) return Fail(Error::NotFound("no key with id '" + key_id + "'"));
  const Key& old = entry->key;

  // The new key takes the old one's prefix (the part of `start` before the last '_').
  const auto underscore = old.start.rfind('_');
  CreateKeyParams params;
  params.api_id = old.api_id;
  params.prefix = underscore == std::string::npos ? "" : old.start.substr(0, underscore);
  params.name = old.name;
  params.external_id = old.external_id;
  params.meta_json = old.meta_json;
  params.expires = old.expires;
  params.enabled = old.enabled;
  if (entry->credits) {
    std::lock_guard lock(entry->credits->mu);
    params.credits = entry->credits->credits;
  }
  params.ratelimits = old.ratelimits;
  for (auto& limit : params.ratelimits) limit.id.clear();
  params.permissions = old.permissions;
  params.roles = old.roles;
  params.tier = old.tier;
  auto created = CreateKey(std::move(params));
  if (!created) return created;

  UpdateKeyParams expire;
  expire.key_id = key_id;
  const UnixMillis until = clock_.NowMillis() + expiration_ms;
  expire.expires = std::optional<UnixMillis>(old.expires ? std::min(*old.expires, until) : until);
  if (auto status = UpdateKey(std::move(expire)); !status) {
    // The old key could not be given its end (deleted meanwhile, or the store failed): take the
    // new key back, so the caller is not left with a live key whose secret it never received.
    (void)DeleteKey(created->key_id, /*permanent=*/true);
    return Fail(status.error());
  }
  return created;
}

Result<std::optional<Credits>> KeyService::UpdateCredits(const std::string& key_id, CreditOperation op,
                                                         std::optional<std::int64_t> value) {
  CachedKeyPtr entry = cache_.FindById(key_id);
  if (!entry) return Fail(Error::NotFound("no key with id '" + key_id + "'"));
  if (op != CreditOperation::kSet && !value) {
    return Fail(Error::InvalidInput("increment and decrement need a value",
                                    {{"body.value", "is required for increment and decrement", ""}}));
  }
  if (value && (*value < 0 || *value > kMaxCredits)) {
    return Fail(Error::InvalidInput("value must be between 0 and " + std::to_string(kMaxCredits),
                                    {{"body.value", "must be between 0 and " + std::to_string(kMaxCredits), ""}}));
  }
  std::shared_ptr<CreditState> state = entry->credits;
  std::unique_lock<std::mutex> key_write_lock;  // held for a key's first credits
  bool first_credits = false;
  if (!state) {
    // The key's first credits: the whole change under the writers' lock, re-reading the key, so
    // no concurrent update re-caches it in between; the state joins the cache only once the
    // store has the balance (a refused or failed change leaves the key without one).
    key_write_lock = std::unique_lock(write_mu_);
    entry = cache_.FindById(key_id);
    if (!entry) return Fail(Error::NotFound("no key with id '" + key_id + "'"));
    state = entry->credits;
    if (!state) {
      state = std::make_shared<CreditState>();
      first_credits = true;
    }
  }
  std::lock_guard write_lock(state->write_mu);
  std::lock_guard lock(state->mu);
  std::optional<Credits> credits = state->credits;
  if (credits) ApplyRefill(*credits, clock_.NowMillis());
  switch (op) {
    case CreditOperation::kSet:
      if (!value) {
        credits.reset();  // unlimited
      } else {
        if (!credits) credits.emplace();
        credits->remaining = *value;
      }
      break;
    case CreditOperation::kIncrement:
    case CreditOperation::kDecrement:
      if (!credits) {
        return Fail(Error::InvalidInput("this key has unlimited credits; use operation \"set\" first",
                                        {{"body.operation", "cannot change an unlimited balance", "use \"set\""}}));
      }
      if (op == CreditOperation::kIncrement && *value > kMaxCredits - credits->remaining) {
        return Fail(Error::InvalidInput(
            "the balance would exceed " + std::to_string(kMaxCredits),
            {{"body.value", "would raise the balance above " + std::to_string(kMaxCredits), ""}}));
      }
      credits->remaining = op == CreditOperation::kIncrement ? credits->remaining + *value
                                                             : std::max<std::int64_t>(0, credits->remaining - *value);
      break;
  }
  if (auto status = store_.UpdateCredits(key_id, credits); !status) return Fail(status.error());
  state->credits = credits;
  ++state->version;
  state->dirty = false;  // the store has the live balance now
  if (first_credits && credits) {
    auto with_state = std::make_shared<CachedKey>(*entry);
    with_state->credits = state;
    cache_.Put(std::move(with_state));
  }
  return credits;
}

// ---- Identities ----

Result<Identity> KeyService::CreateIdentity(CreateIdentityParams params) {
  std::vector<FieldError> errors;
  if (params.external_id.empty() || CheckExternalId(params.external_id)) {
    errors.push_back({"body.externalId", "must be 1 to 255 characters without control characters", ""});
  }
  ValidateRateLimits(params.ratelimits, errors);
  CheckTier(params.tier, errors);
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) return Fail(status.error());

  std::lock_guard write_lock(write_mu_);
  if (cache_.FindIdentityByExternalId(params.external_id)) {
    return Fail(Error::Conflict("an identity with externalId '" + params.external_id + "' already exists"));
  }
  Identity identity;
  identity.id = NewId("id");
  identity.external_id = std::move(params.external_id);
  identity.meta_json = std::move(params.meta_json);
  identity.ratelimits = std::move(params.ratelimits);
  identity.tier = std::move(params.tier);
  identity.created_at = clock_.NowMillis();
  identity.anniversary_billing = params.anniversary_billing;
  if (auto status = store_.InsertIdentity(identity); !status) return Fail(status.error());
  auto cached = std::make_shared<const Identity>(identity);
  cache_.PutIdentity(cached);
  RefreshKeysOf(identity.external_id, cached);
  return identity;
}

Result<Identity> KeyService::GetIdentity(const std::string& identity) const {
  if (IdentityPtr found = ResolveIdentity(identity)) return *found;
  return Fail(Error::NotFound("no identity with id or externalId '" + identity + "'"));
}

Result<IdentityPage> KeyService::ListIdentities(const std::optional<std::string>& cursor, std::size_t limit,
                                                const std::optional<std::string>& search) {
  return store_.ListIdentities(cursor, limit, search);
}

Result<Identity> KeyService::UpdateIdentity(UpdateIdentityParams params) {
  std::vector<FieldError> errors;
  if (params.ratelimits) ValidateRateLimits(*params.ratelimits, errors);
  if (params.tier) CheckTier(*params.tier, errors);
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) return Fail(status.error());

  std::lock_guard write_lock(write_mu_);
  IdentityPtr current = ResolveIdentity(params.identity);
  if (!current) return Fail(Error::NotFound("no identity with id or externalId '" + params.identity + "'"));
  Identity identity = *current;
  if (params.meta_json) identity.meta_json = std::move(*params.meta_json);
  if (params.ratelimits) identity.ratelimits = std::move(*params.ratelimits);
  if (params.tier) identity.tier = std::move(*params.tier);
  if (params.anniversary_billing) identity.anniversary_billing = *params.anniversary_billing;
  if (auto status = store_.UpdateIdentity(identity, clock_.NowMillis()); !status) return Fail(status.error());
  auto cached = std::make_shared<const Identity>(identity);
  cache_.PutIdentity(cached);
  RefreshKeysOf(identity.external_id, cached);
  return identity;
}

Status KeyService::DeleteIdentity(const std::string& identity) {
  std::lock_guard write_lock(write_mu_);
  IdentityPtr current = ResolveIdentity(identity);
  if (!current) return Fail(Error::NotFound("no identity with id or externalId '" + identity + "'"));
  if (auto status = store_.DeleteIdentity(current->id, clock_.NowMillis()); !status) return status;
  cache_.RemoveIdentity(current->id);
  RefreshKeysOf(current->external_id, nullptr);
  return {};
}

Status KeyService::FlushCredits() {
  std::vector<std::pair<std::string, std::shared_ptr<CreditState>>> batch;
  {
    std::lock_guard lock(dirty_mu_);
    batch.swap(dirty_credits_);
  }
  Status result;
  for (auto& [key_id, state] : batch) {
    // write_mu keeps an updateCredits' write from landing before this older snapshot; mu is held
    // only to take the snapshot and to settle afterwards, so verifies of the key never wait for
    // the store (which may take its whole busy timeout while it is unavailable).
    std::lock_guard write_lock(state->write_mu);
    std::optional<Credits> snapshot;
    std::uint64_t version = 0;
    {
      std::lock_guard lock(state->mu);
      if (!state->dirty) continue;
      snapshot = state->credits;
      version = state->version;
    }
    auto status = store_.UpdateCredits(key_id, snapshot);
    const bool written = status || status.error().code == ErrorCode::kNotFound;  // or the key is gone
    if (!written) result = status;
    std::lock_guard lock(state->mu);
    if (written && state->version == version) {
      state->dirty = false;
      continue;
    }
    // Failed, or verifies changed the balance meanwhile (they saw it dirty and did not queue it):
    // queue it again for the next flush.
    std::lock_guard dirty_lock(dirty_mu_);
    dirty_credits_.emplace_back(key_id, state);
  }
  return result;
}

CachedKeyPtr KeyService::FindForVerify(std::string_view secret) const {
  if (secret.empty() || secret.size() > 1024) return nullptr;
  return cache_.FindByDigest(Sha256(secret));
}

bool KeyService::ApplyRefill(Credits& credits, UnixMillis now) const {
  if (!credits.refill) return false;
  const UnixMillis boundary = credits.refill->interval == RefillInterval::kDaily
                                  ? StartOfDay(now)
                                  : LastMonthlyBoundary(now, credits.refill->refill_day);
  if (credits.last_refill_at >= boundary) return false;
  credits.remaining = credits.refill->amount;
  credits.last_refill_at = now;
  return true;
}

VerifyOutcome KeyService::Verify(CachedKeyPtr entry, const VerifyParams& params) {
  VerifyOutcome outcome;
  outcome.key = entry;
  if (!entry) return outcome;  // NOT_FOUND
  const Key& key = entry->key;
  const UnixMillis now = clock_.NowMillis();
  if (!key.enabled) {
    outcome.code = VerifyCode::kDisabled;
  } else if (key.expires && *key.expires <= now) {
    outcome.code = VerifyCode::kExpired;
  } else if (params.permissions && !params.permissions->EvaluateAgainst(key.permissions)) {
    outcome.code = VerifyCode::kInsufficientPermissions;
  } else {
    outcome.code = VerifyCode::kValid;
  }

  auto admit = [&] {
    if (outcome.code == VerifyCode::kValid && params.admit) outcome.code = (*params.admit)();
  };
  if (!entry->credits) {  // a key that never had credits: unlimited
    admit();
    return outcome;
  }
  CreditState& state = *entry->credits;
  std::lock_guard lock(state.mu);
  if (!state.credits) {
    admit();
    return outcome;
  }
  bool changed = ApplyRefill(*state.credits, now);
  if (outcome.code == VerifyCode::kValid && state.credits->remaining < params.cost) {
    outcome.code = VerifyCode::kUsageExceeded;
  }
  admit();
  if (outcome.code == VerifyCode::kValid && params.cost > 0 && params.spend) {
    state.credits->remaining -= params.cost;
    changed = true;
  }
  if (changed) MarkChanged(key.id, entry->credits);
  outcome.credits_remaining = state.credits->remaining;
  return outcome;
}

void KeyService::MarkChanged(const std::string& key_id, const std::shared_ptr<CreditState>& state) {
  ++state->version;
  if (state->dirty) return;
  state->dirty = true;
  std::lock_guard dirty_lock(dirty_mu_);
  dirty_credits_.emplace_back(key_id, state);
}

KeyService::Spent KeyService::SpendCredits(const CachedKey& entry, std::int64_t cost) {
  if (!entry.credits) return {};
  CreditState& state = *entry.credits;
  std::lock_guard lock(state.mu);
  if (!state.credits) return {};
  bool changed = ApplyRefill(*state.credits, clock_.NowMillis());
  Spent spent;
  if (state.credits->remaining < cost) {
    spent.enough = false;
  } else if (cost > 0) {
    state.credits->remaining -= cost;
    changed = true;
  }
  if (changed) MarkChanged(entry.key.id, entry.credits);
  spent.remaining = state.credits->remaining;
  return spent;
}

}  // namespace tollgate
