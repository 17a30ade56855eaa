// RATE_LIMITED verifications per source, for the ratelimit_breaches rules: counted from the usage
// events the UsageRecorder writes (a tap on its batches, store_taps.h), never on the verify path.
// A source is the customer the breaches belong to: its external id when the event has one, else
// its key.
//
// Counts are kept in one-second buckets for the last `horizon` (the longest window of any rule,
// at most a day), so a count "within the last N seconds" is exact to the second. Memory: one map
// entry per source and second that had breaches.
//
// Threads: Add runs on the usage flusher thread, the reads on the alert evaluation thread; one
// mutex guards the map.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "usage/usage_event.h"

namespace tollgate {

struct BreachSource {
  std::string external_id;  // set for a customer's source
  std::string key_id;       // the key (the first one seen, for a customer's source)

  // "e:<externalId>" or "k:<keyId>".
  std::string Name() const { return external_id.empty() ? "k:" + key_id : "e:" + external_id; }
};

class BreachCounter {
 public:
  // Counts the RATE_LIMITED events among `events`.
  void Add(std::span<const UsageEvent> events);
  // The sources with a breach at or after `since`, and each one's count since then.
  std::vector<std::pair<BreachSource, std::int64_t>> CountsSince(UnixMillis since) const;
  // The count of one source at or after `since` (0 when none).
  std::int64_t CountSince(const BreachSource& source, UnixMillis since) const;
  // Drops the buckets before `before`, and sources left with none.
  void Forget(UnixMillis before);

 private:
  struct Entry {
    BreachSource source;
    std::map<std::int64_t, std::int64_t> per_second;  // unix second -> breaches
  };
  static std::int64_t Sum(const Entry& entry, UnixMillis since);

  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> sources_;  // by BreachSource::Name(); guarded by mu_
};

}  // namespace tollgate
