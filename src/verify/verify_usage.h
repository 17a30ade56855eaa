// The usage of one answered verification (keys.verifyKey, keys.authorize), as the routes record
// it. Here rather than in the routes so that bench/verify_bench.cc measures the very code they run.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "usage/usage_event.h"
#include "verify/verifier.h"

namespace tollgate {

// The event of `result`, borrowing from it and from `tags` (UsageRecorder::Record copies it):
// the key's ids, the outcome's code, the name of the first limit that denied.
UsageEventView VerifyUsage(const VerifyResult& result, std::int64_t credit_cost, UnixMillis now,
                           std::string_view source, std::span<const std::string> tags);

// Starts loading the key's id, API id and external id, so that their cache misses overlap the
// verification instead of following it. They are heap strings the verification itself does not
// read; the usage event copies them, and keys.verifyKey's answer reads them too. Costs three
// prefetch instructions; saves ~150 ns per verification over 10k keys (bench/verify_bench.cc).
inline void PrefetchUsageIds(const CachedKey& entry) {
  __builtin_prefetch(entry.key.id.data());
  __builtin_prefetch(entry.key.api_id.data());
  __builtin_prefetch(entry.key.external_id.data());
}

}  // namespace tollgate
