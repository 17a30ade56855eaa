// The fields every usage.* request shares, read and checked in one place: start and end (unix
// ms, half-open [start, end), end after start, at most 400 days apart) and the optional keyId,
// externalId and apiId. Used by the analytics routes (usage_routes.cc) and usage.export.
#pragma once

#include <cstdint>

#include "http/field_reader.h"
#include "usage/usage_query_store.h"

namespace tollgate {

inline constexpr std::int64_t kMaxUsageRangeMs = 400 * std::int64_t{86'400'000};

// Problems are recorded in `body`; the filter is meaningful only when body.ok().
UsageFilter ReadUsageFilter(FieldReader& body);

}  // namespace tollgate
