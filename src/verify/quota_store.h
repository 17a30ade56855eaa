// Persistence of monthly quota counters: how many verifications each customer (an identity, or
// a key without one) made in a calendar month (UTC). Written back periodically by the
// QuotaTracker, read once at start.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace tollgate {

struct QuotaRow {
  std::string subject;  // "i:<identityId>" or "k:<keyId>"
  int period = 0;       // yyyymm, e.g. 202611
  std::int64_t used = 0;
};

class QuotaStore {
 public:
  virtual ~QuotaStore() = default;
  virtual Result<std::vector<QuotaRow>> LoadQuotaUsage(int period) = 0;
  // Upserts each row's absolute count; a count never goes down (several nodes write their view
  // of one shared counter, and the latest view is the highest).
  virtual Status SaveQuotaUsage(std::span<const QuotaRow> rows) = 0;
};

}  // namespace tollgate
