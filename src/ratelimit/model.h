// Identifier rate limiting without keys (Unkey v2's ratelimit.*): a caller names a namespace and
// an identifier (a user id, an IP address, ...) and gets a decision. A namespace is created on
// first use; its overrides replace the limit and duration for the identifiers they match, by
// exact identifier or by a pattern with '*' wildcards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "limiter/counter_store.h"
#include "limiter/limit_params.h"

namespace tollgate {

struct RatelimitNamespace {
  std::string id;    // "rlns_…"; "" for a namespace that does not exist yet
  std::string name;  // unique; [A-Za-z0-9_.:-], 1..255 characters
  UnixMillis created_at = 0;
};

// A limit for the identifiers of one namespace that `identifier` matches.
struct RatelimitOverride {
  std::string id;  // "rlor_…"
  std::string namespace_id;
  std::string identifier;     // an exact identifier, or a pattern where '*' matches any run of characters
  std::int64_t limit = 0;     // 0 denies every request
  std::int64_t duration_ms = 0;
  UnixMillis created_at = 0;
  UnixMillis updated_at = 0;
};

struct RatelimitOverridePage {
  std::vector<RatelimitOverride> overrides;  // in id order
  std::optional<std::string> next_cursor;    // the last id of this page when another follows
};

inline constexpr std::string_view kRatelimitNamespaceIdPrefix = "rlns";
inline constexpr std::string_view kRatelimitOverrideIdPrefix = "rlor";
inline constexpr std::size_t kMaxRatelimitNameLength = 255;  // namespaces and identifiers
// Unkey's bounds on a window, and the limiter's: windows up to kMaxWindowMs, limit × duration up
// to kMaxLimitTimesWindow, so that every algorithm decides in exact integer arithmetic.
inline constexpr std::int64_t kMinRatelimitDurationMs = 1000;
inline constexpr std::int64_t kMaxRatelimitDurationMs = kMaxWindowMs;
// The largest limit the limiter enforces exactly over a window of duration_ms (>= 1).
inline std::int64_t MaxRatelimitLimit(std::int64_t duration_ms) { return kMaxLimitTimesWindow / duration_ms; }

// 1..255 characters of [A-Za-z0-9_.:-].
bool IsValidNamespaceName(std::string_view name);
// Whether `text` names a namespace by id ("rlns_…") rather than by name. Names of this form are
// refused, so that an unknown id is answered "not found" instead of creating a namespace.
bool LooksLikeNamespaceId(std::string_view text);

bool IsWildcardPattern(std::string_view identifier);
// Whether `pattern` matches all of `identifier`; '*' matches any run of characters, the empty
// one included, and every other character itself. O(|pattern| × |identifier|) at worst (a star
// backtracks), both at most 255 characters.
bool WildcardMatches(std::string_view pattern, std::string_view identifier);

// "sliding_window" (the default), "token_bucket", "fixed_window", "gcra": tollgate's extension
// field `algorithm` of ratelimit.limit.
std::string_view LimitAlgorithmName(LimitAlgorithm algorithm);
std::optional<LimitAlgorithm> ParseLimitAlgorithm(std::string_view name);

}  // namespace tollgate
