// What the AlertMonitor reads about the subjects it watches, behind an interface so that its
// decisions can be tested on made-up facts. ServiceAlertFacts reads them from this node's memory
// (the KeyCache, the TierSet, the QuotaTracker) and, for the periodic sweep only, the stored
// quota counters. None of it touches the verify path's locks for longer than one lookup.
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
  // A quota subject ("i:<identityId>" or "k:<keyId>") with its tier's included quota; nullopt
  // when the identity or key is gone, or its tier has no included quota (or one of 0).
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
  // The subject "i:<id>" of a live identity, with the tier that applies to it.
  AlertSubject IdentitySubject(const Identity& identity) const;
  // The subject "k:<id>" of a cached key, with its identity (if any) and tier.
  AlertSubject KeySubject(const CachedKey& entry) const;

  const KeyService& keys_;
  const TierService& tiers_;
  const QuotaTracker& quota_;
  QuotaStore& stored_;
};

}  // namespace tollgate
