// Reading the raw usage events back in order, one page at a time, for usage.export. Implemented
// by every Store.
//
// Keyset pagination: a page starts strictly after the cursor (time, then the store's insertion
// sequence), so a reader holds no lock, transaction or statement between pages, a page costs the
// same wherever it is in the range, and events that share a millisecond are neither lost nor
// repeated at a page boundary. Events written while an export runs show up only if they sort
// after the cursor; an export of a range that ended over a second ago (the flush interval) is
// stable. Only the raw events within the retention period exist to be exported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "usage/usage_event.h"
#include "usage/usage_query_store.h"

namespace tollgate {

struct UsageExportFilter {
  UsageFilter range;  // [from, to) and the optional key, identity and API
  std::string code;   // "" = any outcome
};

// The position just after one event.
struct UsageExportCursor {
  UnixMillis at = 0;
  std::int64_t sequence = 0;  // the store's insertion order, unique
};

struct UsageExportPage {
  std::vector<UsageEvent> events;         // ordered by time, then insertion
  std::optional<UsageExportCursor> next;  // where the next page starts; nullopt after the last
};

class UsageExportStore {
 public:
  virtual ~UsageExportStore() = default;

  // Up to `limit` (>= 1) events matching `filter` that sort after `after` (from the start of the
  // range when nullopt).
  virtual Result<UsageExportPage> ExportUsagePage(const UsageExportFilter& filter,
                                                  const std::optional<UsageExportCursor>& after,
                                                  std::size_t limit) = 0;
};

}  // namespace tollgate
