// What the AlertMonitor reads about the subjects it watches, behind an interface so that its
// decisions can be tested on made-up facts. ServiceAlertFacts reads them from this node's memory
// (the KeyCache, the TierSet, the QuotaTracker) and, for the periodic sweep only, the stored
// quota counters. None of it touches the verify path's locks for longer than one lookup.
//
// The tier of a subject is the one the verifier applies (TierSet::Resolve: the key's tier, else
// its identity's, else the default tier), so that quota percents and tier rules agree with what
// customers are served. An identity's quota is shared by its keys, and each key resolves its own
// tier: when the identity's enabled keys resolve to different tiers, its subject takes the tier
// whose included quota runs out first (the smallest; a tier with a quota before one without, then
// by name). That is the first limit one of its verifications meets, and the choice is the same
// on every node (a "most recently used" tier would differ from node to node, and two nodes would
// fire and resolve the same alert in turn). An identity without keys takes its own tier, else
// the default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/model.h"
#include "common/result.h"
#include "keys/key_service.h"
#include "tiers/tier_service.h"
#include "verify/quota_store.h"
#include "verify/quota_tracker.h"

namespace tollgate {

struct QuotaSubjectFacts {
  AlertSubject subject;
  std::int64_t included = 0;  // the monthly included quota of the subject's tier, > 0
};

struct CreditFacts {
  AlertSubject subject;
  std::int64_t remaining = 0;
};

class AlertFacts {
 public:
  virtual ~AlertFacts() = default;
  // A quota subject ("i:<identityId>" or "k:<keyId>") with its tier (see above) and that tier's
  // included quota; nullopt when the identity or key is gone, or its tier has no included quota
  // (or one of 0).
  virtual std::optional<QuotaSubjectFacts> QuotaSubject(std::string_view subject) const = 0;
  // This node's count of the subject's verifications in `period` (yyyymm).
  virtual std::int64_t QuotaUsed(std::string_view subject, int period) const = 0;
  // Every subject's stored count of `period`: the highest any node wrote.
  virtual Result<std::vector<QuotaRow>> StoredQuotaUsage(int period) const = 0;
  // A key with credits and its live balance on this node; nullopt when gone or unlimited.
  virtual std::optional<CreditFacts> Credits(const std::string& key_id) const = 0;
  // Every cached key (for the sweep of credits_below rules).
  virtual std::vector<std::string> KeyIds() const = 0;
  // The subject RATE_LIMITED answers count toward: the live identity of `external_id`, else the
  // key (which may be gone: then the subject names only the key).
  virtual AlertSubject BreachSubject(std::string_view external_id, std::string_view key_id) const = 0;
};

class ServiceAlertFacts final : public AlertFacts {
 public:
  ServiceAlertFacts(const KeyService& keys, const TierService& tiers, const QuotaTracker& quota, QuotaStore& stored)
      : keys_(keys), tiers_(tiers), quota_(quota), stored_(stored) {}

  std::optional<QuotaSubjectFacts> QuotaSubject(std::string_view subject) const override;
  std::int64_t QuotaUsed(std::string_view subject, int period) const override;
  Result<std::vector<QuotaRow>> StoredQuotaUsage(int period) const override;
  std::optional<CreditFacts> Credits(const std::string& key_id) const override;
  std::vector<std::string> KeyIds() const override;
  AlertSubject BreachSubject(std::string_view external_id, std::string_view key_id) const override;

 private:
  // The tier of an identity's subject (see above); nullptr for none.
  const Tier* IdentityTier(const TierSet& tiers, const Identity& identity) const;
  // The subject "i:<id>" of a live identity, with `tier`.
  static AlertSubject IdentitySubject(const Identity& identity, const Tier* tier);
  // The subject "k:<id>" of a cached key, with its identity (if any) and the tier it resolves to.
  static AlertSubject KeySubject(const CachedKey& entry, const Tier* tier);
  static const Tier* KeyTier(const TierSet& tiers, const CachedKey& entry);

  const KeyService& keys_;
  const TierService& tiers_;
  const QuotaTracker& quota_;
  QuotaStore& stored_;
};

}  // namespace tollgate
