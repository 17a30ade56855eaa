// The key-management domain: APIs (namespaces of keys), keys, and identities (the provider's
// customers). Plain values; the Store persists them and the KeyCache serves them to verifies.
// Tiers (src/tiers/) are referred to here by name only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace tollgate {

struct Api {
  std::string id;    // "api_…"
  std::string name;
  UnixMillis created_at = 0;
};

enum class RefillInterval { kDaily, kMonthly };

struct CreditRefill {
  RefillInterval interval = RefillInterval::kDaily;
  std::int64_t amount = 0;
  unsigned refill_day = 1;  // monthly only: 1..31, clamped to the month's last day
};

// Remaining uses of a key. A key without Credits is unlimited.
struct Credits {
  std::int64_t remaining = 0;
  std::optional<CreditRefill> refill;
  UnixMillis last_refill_at = 0;  // when remaining was last reset to refill->amount
};

// How a rate limit counts. The limiter (src/limiter/) implements each; this names the choice
// without keys/ depending on the limiter. Sliding window is Unkey's behaviour and the default.
enum class RateLimitAlgorithm { kSlidingWindow, kTokenBucket, kFixedWindow, kGcra };

// "sliding_window", "token_bucket", "fixed_window", "gcra": the spelling in JSON and the store.
inline std::string_view RateLimitAlgorithmName(RateLimitAlgorithm algorithm) {
  switch (algorithm) {
    case RateLimitAlgorithm::kSlidingWindow: return "sliding_window";
    case RateLimitAlgorithm::kTokenBucket: return "token_bucket";
    case RateLimitAlgorithm::kFixedWindow: return "fixed_window";
    case RateLimitAlgorithm::kGcra: return "gcra";
  }
  return "sliding_window";
}

inline std::optional<RateLimitAlgorithm> ParseRateLimitAlgorithm(std::string_view name) {
  for (auto algorithm : {RateLimitAlgorithm::kSlidingWindow, RateLimitAlgorithm::kTokenBucket,
                         RateLimitAlgorithm::kFixedWindow, RateLimitAlgorithm::kGcra}) {
    if (RateLimitAlgorithmName(algorithm) == name) return algorithm;
  }
  return std::nullopt;
}

// A named rate limit as configured on a key, an identity or a tier. Enforced by the limiter
// (issue 3); stored and returned here.
struct RateLimitConfig {
  std::string id;    // "rl_…"; "" on tier limits, which are named by tier and name
  std::string name;
  std::int64_t limit = 0;
  std::int64_t duration_ms = 0;
  bool auto_apply = false;
  RateLimitAlgorithm algorithm = RateLimitAlgorithm::kSlidingWindow;
};

// One customer of the provider. Keys join it through their external_id; its ratelimits are
// shared by all of them and its tier applies to those without a tier of their own.
struct Identity {
  std::string id;           // "id_…"
  std::string external_id;  // the provider's own customer id
  std::string meta_json;    // JSON object text, "" when none
  std::vector<RateLimitConfig> ratelimits;
  std::string tier;         // tier name, "" when none
  UnixMillis created_at = 0;
  // Billing periods: calendar months (false), or months from created_at (true): see
  // billing/billing_service.h.
  bool anniversary_billing = false;
};

struct Key {
  std::string id;        // "key_…"
  std::string api_id;
  std::string hash;      // lower-case hex SHA-256 of the secret; the secret itself is never kept
  std::string start;     // prefix + first characters, for display
  std::string name;
  std::string external_id;  // "" when the key belongs to no identity
  std::string meta_json;    // JSON object text, "" when none
  bool enabled = true;
  std::optional<UnixMillis> expires;
  std::optional<Credits> credits;
  std::vector<RateLimitConfig> ratelimits;
  std::vector<std::string> permissions;
  std::vector<std::string> roles;
  std::string tier;  // tier name, "" when the key has none of its own (its identity's applies)
  UnixMillis created_at = 0;
  UnixMillis updated_at = 0;
};

}  // namespace tollgate
