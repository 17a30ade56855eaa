// Where usage events end up. Implemented by every Store; the UsageRecorder is its only writer.
#pragma once

#include <memory>
#include <span>

#include "common/clock.h"
#include "common/result.h"
#include "usage/usage_event.h"

namespace tollgate {

class UsageStore {
 public:
  virtual ~UsageStore() = default;

  // In one transaction: inserts every event as a raw row, and adds its count (1) and credits to
  // the rollups of its minute, hour, day and month (UTC) by (key_id, external_id, code). All or
  // nothing: on failure nothing of the batch was written, so the caller may retry it whole.
  virtual Status WriteUsage(std::span<const UsageEvent> events) = 0;

  // Deletes raw events with at < older_than. Rollups are kept.
  virtual Status PruneRawUsage(UnixMillis older_than) = 0;
};
using UsageStorePtr = std::unique_ptr<UsageStore>;

}  // namespace tollgate
