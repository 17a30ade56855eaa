// A usage event: one per verification (keys.verifyKey, keys.authorize) and per identifier rate
// limit decision (ratelimit.limit, one per limit of a ratelimit.multiLimit). Usage is the source
// for analytics, quota and billing, so events are recorded whatever the outcome.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

inline constexpr std::size_t kMaxUsageTags = 10;
inline constexpr std::string_view kRatelimitPassed = "RATELIMIT_PASSED";
inline constexpr std::string_view kRatelimitDenied = "RATELIMIT_DENIED";

// "" means "none" for every text field (the usage tables store '' rather than NULL, because the
// fields are part of the rollups' primary key).
//
// For source "ratelimit" there is no key: api_id holds the namespace as the request named it and
// external_id the identifier, so a rollup by external id counts an identifier's decisions.
struct UsageEvent {
  UnixMillis at = 0;
  std::string api_id;
  std::string key_id;       // "" for NOT_FOUND and for ratelimit events
  std::string external_id;  // the key's identity, if any
  std::string code;         // a VerifyCode name, or kRatelimitPassed / kRatelimitDenied
  std::int64_t credits_spent = 0;
  std::vector<std::string> tags;  // at most kMaxUsageTags
  std::string denied_by;          // name of the first limit that denied; "" when none did
  std::string source;             // "verify" | "authorize" | "ratelimit"
};

// One NDJSON line (without the newline) for the spill file, and back. The field names are the
// API's (keyId, externalId, ...), so the file reads like usage.export's NDJSON.
std::string UsageEventToJsonLine(const UsageEvent& event);
Result<UsageEvent> UsageEventFromJsonLine(std::string_view line);

}  // namespace tollgate
