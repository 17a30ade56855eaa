// JSON <-> key domain values, with field names as the Unkey v2 API spells them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/field_reader.h"
#include "http/json_out.h"
#include "keys/key_service.h"

namespace tollgate {

// KeyResponseData of Unkey v2, plus tollgate's "tier" when the key has one.
nlohmann::json KeyToJson(const Key& key, const std::optional<Identity>& identity);
nlohmann::json CreditsToJson(const std::optional<Credits>& credits);
// Identity of Unkey v2 (id, externalId, meta?, ratelimits), plus tollgate's "tier" when set.
nlohmann::json IdentityToJson(const Identity& identity);
// RatelimitResponse of Unkey v2, plus tollgate's "algorithm" (always present).
nlohmann::json RateLimitsToJson(const std::vector<RateLimitConfig>& limits);
// The same two, printed straight into `out` (the verify answer).
void WriteIdentity(JsonOut& out, const Identity& identity);
void WriteRateLimits(JsonOut& out, const std::vector<RateLimitConfig>& limits);

// Parsers record problems in `reader`'s error list and return what they could read.
std::optional<Credits> ReadCredits(const nlohmann::json& object, const std::string& location, FieldReader& reader);
// [{name, limit, duration, autoApply?, algorithm?}]; algorithm defaults to "sliding_window".
std::vector<RateLimitConfig> ReadRateLimits(const nlohmann::json& array, const std::string& location,
                                            FieldReader& reader);

}  // namespace tollgate
