// Live monthly quota counters, in memory, by subject ("i:<identityId>" or "k:<keyId>"). The
// verify path reads and adds here; a background flush writes changed counters to the
// QuotaStore (every second, and at shutdown), so a crash loses at most one flush interval of
// counts. Usage events (issue 4) become the source of truth later; this is the fast path. With the
// Redis limiter the count is kept in Redis, shared by the nodes, and this tracker holds the
// node's latest view of it (Observe), which it writes back.
//
// Concurrency: 64 shards, each a mutex over a hash map; one short critical section per call.
// A check (Used) and the later Add are not one atomic step, so concurrent verifies of one
// customer can pass a `block` quota by at most (worker threads - 1) requests.
#pragma once

#include <array>
#include <functional>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "verify/quota_store.h"

namespace tollgate {

// yyyymm of the UTC month containing t, and the first instant of the next month.
int QuotaPeriodOf(UnixMillis t);
UnixMillis QuotaPeriodEnd(int period);

class QuotaTracker {
 public:
  explicit QuotaTracker(QuotaStore& store) : store_(store) {}

  // Loads the counters of `period` from the store.
  Status Load(int period);
  std::int64_t Used(std::string_view subject, int period) const;
  // Adds n and returns the new count.
  std::int64_t Add(std::string_view subject, int period, std::int64_t n);
  // A count read from a store shared by the nodes (the Redis limiter counts quota there): this
  // node's view becomes max(view, used), and is written back by Flush like a local count.
  void Observe(std::string_view subject, int period, std::int64_t used);
  // Writes every counter changed since the last flush. On failure they stay dirty.
  Status Flush();

 private:
  struct Entry {
    int period = 0;
    std::int64_t used = 0;
    bool dirty = false;
  };
  // Transparent hashing: look up by string_view without building a std::string per verify.
  struct SubjectHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry, SubjectHash, std::equal_to<>> entries;
    std::vector<QuotaRow> closed_months;  // unsaved counts of months that just ended
  };
  Shard& ShardFor(std::string_view subject) const;
  // The subject's entry for `period`, started at zero (the old month set aside) if it held another
  // period. Caller holds shard.mu.
  static Entry& EntryFor(Shard& shard, std::string_view subject, int period);

  QuotaStore& store_;
  mutable std::array<Shard, 64> shards_;
  std::mutex flush_mu_;  // one flush at a time
};

}  // namespace tollgate
