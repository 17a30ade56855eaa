// The Lua script that decides rate limits inside Redis (limiter.lua: its header documents the
// call protocol, the state it keeps and where it can differ from the C++ algorithms), compiled in
// from the .lua file at build time (tollgate_embed_text in CMakeLists.txt), and the two numbers
// of its protocol that the C++ side must spell the same way.
#pragma once

#include <cstdint>
#include <string_view>

#include "limiter/counter_store.h"

namespace tollgate {

extern const std::string_view kRedisLimiterScript;

// The script's code for an algorithm (the `alg` argument of a check, and the first field of a
// stored state).
inline constexpr int ScriptAlgorithmCode(LimitAlgorithm algorithm) {
  switch (algorithm) {
    case LimitAlgorithm::kSlidingWindow: return 1;
    case LimitAlgorithm::kTokenBucket: return 2;
    case LimitAlgorithm::kFixedWindow: return 3;
    case LimitAlgorithm::kGcra: return 4;
  }
  return 0;
}

// How long past its IdleAt the store keeps a counter's state in Redis (the script's late_ms):
// calls reach Redis later than their `now` says and out of order, and one that belongs to a
// window must still find that window's state (limiter.lua, save()).
inline constexpr std::int64_t kScriptLateMs = 10'000;

// The reset_at the script answers for kNeverAdmitted (Lua numbers cannot hold INT64_MAX).
inline constexpr std::int64_t kScriptNeverAdmitted = -1;

// The codes of an op "Q" reply: admitted (limits charged, quota counted), blocked by the quota
// (nothing charged), denied by a limit (nothing charged).
inline constexpr std::int64_t kScriptQuotaAdmitted = 0;
inline constexpr std::int64_t kScriptQuotaBlocked = 2;
inline constexpr std::int64_t kScriptQuotaRateLimited = 3;

}  // namespace tollgate
