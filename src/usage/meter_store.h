// Metered usage: events the provider sends from its own systems through usage.ingest (tokens
// generated, bytes stored, jobs run, ...), as opposed to the usage events tollgate records itself
// for every verification. Billing prices both.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

// How long an eventId is remembered for deduplication, and how old a timestamp may be.
inline constexpr std::int64_t kMeterWindowDays = 35;
// How far ahead of tollgate's clock a timestamp may be (clock skew between the two systems).
inline constexpr std::int64_t kMeterMaxFutureMs = 5 * 60'000;
// The largest quantity of one event: the largest integer a JSON double holds exactly (2^53 - 1),
// so every client reads it back unchanged; sums over a month stay far from int64 overflow.
inline constexpr std::int64_t kMaxMeterQuantity = 9'007'199'254'740'991;

struct MeterEvent {
  std::string event_id;     // the provider's idempotency key
  UnixMillis at = 0;        // when the usage happened
  std::string external_id;  // the customer (identity) it belongs to
  std::string key_id;       // "" when not tied to one key
  std::string meter;        // "tokens", "requests", ...
  std::int64_t quantity = 0;
};

struct MeterIngestResult {
  std::int64_t ingested = 0;
  std::vector<std::string> duplicates;  // event ids already stored (or repeated in the batch), in batch order
};

class MeterStore {
 public:
  virtual ~MeterStore() = default;

  // In one transaction: stores every event whose event_id is not stored yet (received at
  // `received_at`) and adds it to the meter rollups of its minute, hour, day and month (UTC) by
  // (key_id, external_id, meter). Events whose id is already stored are left out and reported.
  // All or nothing: on failure nothing of the batch was written, so the caller may retry it whole.
  virtual Result<MeterIngestResult> IngestMeterEvents(std::span<const MeterEvent> events, UnixMillis received_at) = 0;

  // Forgets the ids (raw rows) of events received before `received_before`. Rollups are kept.
  virtual Status PruneMeterEvents(UnixMillis received_before) = 0;
};

}  // namespace tollgate
