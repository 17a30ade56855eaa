// The standard process metrics of Prometheus' client libraries (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds), read from /proc/self when scraped.
#pragma once

#include "metrics/registry.h"

namespace tollgate {

void AddProcessMetrics(MetricsRegistry& registry);

}  // namespace tollgate
