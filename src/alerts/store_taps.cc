#include "alerts/store_taps.h"

namespace tollgate {

Status QuotaStoreTap::SaveQuotaUsage(std::span<const QuotaRow> rows) {
  Status saved = inner_.SaveQuotaUsage(rows);
  if (saved) saved_(rows);
  return saved;
}

Status UsageStoreTap::WriteUsage(std::span<const UsageEvent> events) {
  Status written = inner_.WriteUsage(events);
  if (written) written_(events);
  return written;
}

}  // namespace tollgate
