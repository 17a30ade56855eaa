// A usage event: one per verification (keys.verifyKey, keys.authorize) and per identifier rate
// limit decision (ratelimit.limit, one per limit of a ratelimit.multiLimit). Usage is the source
// for analytics, quota and billing, so events are recorded whatever the outcome.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "usage/usage_text.h"

namespace tollgate {

inline constexpr std::size_t kMaxUsageTags = 10;
inline constexpr std::string_view kRatelimitPassed = "RATELIMIT_PASSED";
inline constexpr std::string_view kRatelimitDenied = "RATELIMIT_DENIED";

// "" means "none" for every text field (the usage tables store '' rather than NULL, because the
// fields are part of the rollups' primary key).
//
// For source "ratelimit" there is no key: api_id holds the namespace as the request named it and
// external_id the identifier, so a rollup by external id counts an identifier's decisions.
//
// The text fields are UsageText (see usage_text.h): they read as std::string_view, and an event of
// typical ids allocates nothing for them.
struct UsageEvent {
  UnixMillis at = 0;
  UsageText api_id;
  UsageText key_id;       // "" for NOT_FOUND and for ratelimit events
  UsageText external_id;  // the key's identity, if any
  UsageText code;         // a VerifyCode name, or kRatelimitPassed / kRatelimitDenied
  std::int64_t credits_spent = 0;
  std::vector<std::string> tags;  // at most kMaxUsageTags
  UsageText denied_by;            // name of the first limit that denied; "" when none did
  UsageText source;               // "verify" | "authorize" | "ratelimit"
};

// What UsageRecorder::Record takes: an event's fields, borrowed for the call (Record copies
// them). The verify path fills one straight from the cached key and the request, so recording
// builds no UsageEvent there. Only the first kMaxUsageTags tags are recorded.
struct UsageEventView {
  UnixMillis at = 0;
  std::string_view api_id;
  std::string_view key_id;
  std::string_view external_id;
  std::string_view code;
  std::int64_t credits_spent = 0;
  std::span<const std::string> tags;
  std::string_view denied_by;
  std::string_view source;

  UsageEventView() = default;
  UsageEventView(const UsageEvent& event)  // NOLINT(google-explicit-constructor): Record(event)
      : at(event.at), api_id(event.api_id), key_id(event.key_id), external_id(event.external_id), code(event.code),
        credits_spent(event.credits_spent), tags(event.tags), denied_by(event.denied_by), source(event.source) {}
};

// One NDJSON line (without the newline) for the spill file, and back. The field names are the
// API's (keyId, externalId, ...), so a person can read the file (usage.export names two fields differently: time, creditsSpent).
std::string UsageEventToJsonLine(const UsageEvent& event);
Result<UsageEvent> UsageEventFromJsonLine(std::string_view line);

}  // namespace tollgate
