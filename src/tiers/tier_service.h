// The tier catalogue: the built-in tiers (seeded into the store on first start), the tiers of the
// YAML configuration (overlaid at start), and the custom tiers of the tiers.* API, validated and
// written through the TierStore, and served to the verify path from memory.
//
// Which tier applies to a verification: the key's own tier, else its identity's, else the
// configured default tier (`default-tier`), else none. With no default configured, a key with no
// tier anywhere gets no tier limits and no quota, which is Unkey's behaviour and keeps keys made
// before tiers existed working as they did.
//
// Tier names on keys and identities are checked when written (TierNames), and a tier still named
// by a live key or identity cannot be deleted (checked in the store's transaction). One race is
// left open on purpose: a key written between KeyService's name check and the delete's commit can
// keep a name that no longer exists; Resolve skips such a name. Closing it would need the key
// insert and the tier delete in one transaction across two services, for a case an operator
// causes by deleting a tier while assigning it.
//
// Threading: every method may be called from any thread. The tiers live in an immutable TierSet;
// readers get the current one with one acquire load of an atomic raw pointer (about 1 ns, and no
// write to a shared cache line, so workers never contend). Writers are serialised by write_mu_,
// write the store first, then publish a new TierSet (tiers are few: copying the set per write
// costs nothing that matters).
//
// Memory: every TierSet ever published is kept until the service is destroyed, which is what
// makes a reader's reference valid without a refcount or a lock. That is a few KB per tier write,
// and tier writes are rare admin calls. Measured alternatives on the 2-core test machine:
// std::atomic<std::shared_ptr>::load costs 32 ns on one thread and 425 ns per load on two (its
// spin bit contends), a plain shared_ptr copy 36 / 62 ns. Should tier writes ever become
// frequent, epoch-based reclamation can free old sets without changing readers.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "events/event_bus.h"
#include "keys/tier_names.h"
#include "tiers/model.h"
#include "tiers/tier_store.h"

namespace tollgate {

// Every tier at one moment, and the default tier. Immutable once published.
class TierSet {
 public:
  using Map = std::map<std::string, Tier, std::less<>>;

  TierSet(Map tiers, std::string default_tier)
      : tiers_(std::move(tiers)), default_tier_(std::move(default_tier)) {}

  // nullptr when there is no tier of that name. No allocation: a map lookup by string_view.
  const Tier* Find(std::string_view name) const;
  // The tier that applies to a key with tier `key_tier` of an identity with `identity_tier` (either
  // may be ""): the key's, else the identity's, else the default; nullptr when none applies. A
  // name that matches no tier is skipped. No allocation.
  const Tier* Resolve(std::string_view key_tier, std::string_view identity_tier) const;
  const Map& tiers() const { return tiers_; }
  const std::string& default_tier() const { return default_tier_; }  // "" when none

 private:
  Map tiers_;
  std::string default_tier_;
};

// For each field: nullopt = leave as is. throttle_to "" clears it; moving the policy away from
// throttle clears it too.
struct UpdateTierParams {
  std::string name;
  std::optional<std::string> description;
  std::optional<std::vector<RateLimitConfig>> ratelimits;
  std::optional<std::optional<std::int64_t>> included_quota;  // inner nullopt = unlimited
  std::optional<OveragePolicy> overage_policy;
  std::optional<std::string> throttle_to;
  std::optional<int> grace_percent;
  std::optional<std::string> currency;
  std::optional<std::int64_t> base_fee_minor;
  std::optional<std::int64_t> overage_unit_price_micros;
  std::optional<std::vector<MeterPricing>> meters;  // replaces the whole list
};

// Applies the fields params sets to `tier` (params.name is not applied). How updates, creates
// (onto a default Tier) and configured tiers (onto the current one) share one meaning per field.
void ApplyTierUpdate(Tier& tier, UpdateTierParams params);

class TierService final : public TierNames {
 public:
  // free, pro and enterprise with their default settings (timestamps 0).
  static std::vector<Tier> BuiltinTiers();

  // Loads the tiers from the store, inserting any built-in tier it lacks.
  static Result<std::unique_ptr<TierService>> Create(TierStore& store, Clock& clock);

  // The tiers of the configuration file: each replaces the stored tier of its name (built-in or
  // not) or is created, so the file wins at every start; tiers it does not name are left alone.
  // All or nothing: one invalid tier (locations "tiers.<name>.<field>") applies none.
  Status ApplyConfiguredTiers(std::vector<Tier> tiers);

  // A tier another node created, changed or deleted (tier.*, events/event_inbox.h): reloads it
  // from the store.
  Status ApplyTierEvent(const Event& event);
  // The tier of keys that have no tier of their own nor through their identity; "" for none.
  Status SetDefaultTier(std::string name);

  // Custom tiers; `builtin` in the argument is ignored (always false).
  Result<Tier> CreateTier(Tier tier);
  Result<Tier> GetTier(const std::string& name) const;
  std::vector<Tier> ListTiers() const;  // ordered by name
  Result<Tier> UpdateTier(UpdateTierParams params);
  // Refused (kConflict) for built-in tiers, the default tier, and tiers still used by identities,
  // keys or other tiers' throttleTo; the detail says how many of each.
  Status DeleteTier(const std::string& name);

  // The hot path: the current tiers. One atomic load, no lock, no refcount. The reference stays
  // valid, and unchanged, for the life of the service (later writes publish new sets).
  const TierSet& Current() const { return *current_.load(std::memory_order_acquire); }
  // One tier of the current set (valid for the life of the service); nullptr when there is none.
  const Tier* Find(std::string_view name) const { return Current().Find(name); }
  bool Contains(std::string_view name) const override { return Find(name) != nullptr; }

 private:
  TierService(TierStore& store, Clock& clock) : store_(store), clock_(clock) {}

  // Publishes `tiers` with the current default tier. Caller holds write_mu_.
  void Publish(TierSet::Map tiers, std::string default_tier);

  TierStore& store_;
  Clock& clock_;
  std::mutex write_mu_;  // serialises writers: validate against the current set, store, publish
  std::vector<std::unique_ptr<const TierSet>> published_;  // every set ever published; write_mu_
  std::atomic<const TierSet*> current_{nullptr};           // published_.back()
};

}  // namespace tollgate
