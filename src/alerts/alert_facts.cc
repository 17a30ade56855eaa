#include "alerts/alert_facts.h"

namespace tollgate {
namespace {

std::string TierName(const Tier* tier) { return tier != nullptr ? tier->name : std::string(); }

// The monthly included quota of `tier`; nullopt for none (no tier, unlimited, or 0).
std::optional<std::int64_t> IncludedQuota(const Tier* tier) {
  if (tier == nullptr || !tier->included_quota || *tier->included_quota <= 0) return std::nullopt;
  return *tier->included_quota;
}

// Whether a subject on `a` runs out of quota before one on `b`: the smaller included quota, a
// quota before none, a tier before no tier, then the first name (so that every node picks alike).
bool RunsOutFirst(const Tier* a, const Tier* b) {
  const auto qa = IncludedQuota(a);
  const auto qb = IncludedQuota(b);
  if (qa && qb && *qa != *qb) return *qa < *qb;
  if (qa.has_value() != qb.has_value()) return qa.has_value();
  if ((a == nullptr) != (b == nullptr)) return a != nullptr;
  return TierName(a) < TierName(b);
}

}  // namespace

const Tier* ServiceAlertFacts::KeyTier(const TierSet& tiers, const CachedKey& entry) {
  return tiers.Resolve(entry.key.tier, entry.identity ? std::string_view(entry.identity->tier) : std::string_view());
}

const Tier* ServiceAlertFacts::IdentityTier(const TierSet& tiers, const Identity& identity) const {
  const Tier* chosen = nullptr;
  bool any = false;
  for (const CachedKeyPtr& entry : keys_.cache().KeysOfIdentity(identity.external_id)) {
    if (!entry->key.enabled) continue;  // verifies nothing: its tier measures nothing
    const Tier* tier = tiers.Resolve(entry->key.tier, identity.tier);
    if (!any || RunsOutFirst(tier, chosen)) chosen = tier;
    any = true;
  }
  return any ? chosen : tiers.Resolve("", identity.tier);
}

AlertSubject ServiceAlertFacts::IdentitySubject(const Identity& identity, const Tier* tier) {
  return {.key = "i:" + identity.id,
          .identity_id = identity.id,
          .external_id = identity.external_id,
          .key_id = "",
          .tier = TierName(tier)};
}

AlertSubject ServiceAlertFacts::KeySubject(const CachedKey& entry, const Tier* tier) {
  const Identity* identity = entry.identity.get();
  return {.key = "k:" + entry.key.id,
          .identity_id = identity ? identity->id : "",
          .external_id = identity ? identity->external_id : "",
          .key_id = entry.key.id,
          .tier = TierName(tier)};
}

std::optional<QuotaSubjectFacts> ServiceAlertFacts::QuotaSubject(std::string_view subject) const {
  const TierSet& tiers = tiers_.Current();
  std::optional<AlertSubject> found;
  const Tier* tier = nullptr;
  if (subject.starts_with("i:")) {
    if (IdentityPtr identity = keys_.cache().FindIdentityById(std::string(subject.substr(2)))) {
      tier = IdentityTier(tiers, *identity);
      found = IdentitySubject(*identity, tier);
    }
  } else if (subject.starts_with("k:")) {
    if (CachedKeyPtr entry = keys_.cache().FindById(std::string(subject.substr(2)))) {
      tier = KeyTier(tiers, *entry);
      found = KeySubject(*entry, tier);
    }
  }
  const auto included = IncludedQuota(tier);
  if (!found || !included) return std::nullopt;
  return QuotaSubjectFacts{std::move(*found), *included};
}

std::int64_t ServiceAlertFacts::QuotaUsed(std::string_view subject, int period) const {
  return quota_.Used(subject, period);
}

Result<std::vector<QuotaRow>> ServiceAlertFacts::StoredQuotaUsage(int period) const {
  return stored_.LoadQuotaUsage(period);
}

std::optional<CreditFacts> ServiceAlertFacts::Credits(const std::string& key_id) const {
  CachedKeyPtr entry = keys_.cache().FindById(key_id);
  if (!entry) return std::nullopt;
  if (!entry->credits) return std::nullopt;  // never had credits
  std::int64_t remaining = 0;
  {
    std::lock_guard lock(entry->credits->mu);
    if (!entry->credits->credits) return std::nullopt;
    remaining = entry->credits->credits->remaining;
  }
  return CreditFacts{KeySubject(*entry, KeyTier(tiers_.Current(), *entry)), remaining};
}

std::vector<std::string> ServiceAlertFacts::KeyIds() const { return keys_.cache().KeyIds(); }

AlertSubject ServiceAlertFacts::BreachSubject(std::string_view external_id, std::string_view key_id) const {
  if (!external_id.empty()) {
    if (IdentityPtr identity = keys_.cache().FindIdentityByExternalId(std::string(external_id))) {
      return IdentitySubject(*identity, IdentityTier(tiers_.Current(), *identity));
    }
  }
  if (CachedKeyPtr entry = keys_.cache().FindById(std::string(key_id))) {
    return KeySubject(*entry, KeyTier(tiers_.Current(), *entry));
  }
  return {.key = "k:" + std::string(key_id), .key_id = std::string(key_id)};
}

}  // namespace tollgate
