#include "alerts/alert_facts.h"

namespace tollgate {
namespace {

std::string TierName(const Tier* tier) { return tier != nullptr ? tier->name : std::string(); }

}  // namespace

AlertSubject ServiceAlertFacts::IdentitySubject(const Identity& identity) const {
  // The identity's tier, else the default. (A key of the identity with a tier of its own counts
  // its verifications into the identity's quota too; the identity's tier is the one shown here.)
  return {.key = "i:" + identity.id,
          .identity_id = identity.id,
          .external_id = identity.external_id,
          .key_id = "",
          .tier = TierName(tiers_.Current().Resolve("", identity.tier))};
}

AlertSubject ServiceAlertFacts::KeySubject(const CachedKey& entry) const {
  const Identity* identity = entry.identity.get();
  return {.key = "k:" + entry.key.id,
          .identity_id = identity ? identity->id : "",
          .external_id = identity ? identity->external_id : "",
          .key_id = entry.key.id,
          .tier = TierName(tiers_.Current().Resolve(entry.key.tier, identity ? std::string_view(identity->tier) : ""))};
}

std::optional<QuotaSubjectFacts> ServiceAlertFacts::QuotaSubject(std::string_view subject) const {
  std::optional<AlertSubject> found;
  if (subject.starts_with("i:")) {
    if (IdentityPtr identity = keys_.cache().FindIdentityById(std::string(subject.substr(2)))) {
      found = IdentitySubject(*identity);
    }
  } else if (subject.starts_with("k:")) {
    if (CachedKeyPtr entry = keys_.cache().FindById(std::string(subject.substr(2)))) found = KeySubject(*entry);
  }
  if (!found) return std::nullopt;
  const Tier* tier = tiers_.Find(found->tier);
  if (tier == nullptr || !tier->included_quota || *tier->included_quota <= 0) return std::nullopt;
  return QuotaSubjectFacts{std::move(*found), *tier->included_quota};
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
  std::int64_t remaining = 0;
  {
    std::lock_guard lock(entry->credits->mu);
    if (!entry->credits->credits) return std::nullopt;
    remaining = entry->credits->credits->remaining;
  }
  return CreditFacts{KeySubject(*entry), remaining};
}

std::vector<std::string> ServiceAlertFacts::KeyIds() const { return keys_.cache().KeyIds(); }

AlertSubject ServiceAlertFacts::BreachSubject(std::string_view external_id, std::string_view key_id) const {
  if (!external_id.empty()) {
    if (IdentityPtr identity = keys_.cache().FindIdentityByExternalId(std::string(external_id))) {
      return IdentitySubject(*identity);
    }
  }
  if (CachedKeyPtr entry = keys_.cache().FindById(std::string(key_id))) return KeySubject(*entry);
  return {.key = "k:" + std::string(key_id), .key_id = std::string(key_id)};
}

}  // namespace tollgate
