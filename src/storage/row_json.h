// How every Store backend encodes the row columns that hold more than a scalar: rate limits,
// permissions and roles as JSON arrays in TEXT columns, and a key's refill interval by name. One
// encoding for all backends, so a row reads the same whichever database wrote it.
//
// Pure functions, safe from any thread. Decoders answer std::nullopt for text tollgate did not
// write; callers turn that into an error naming the column.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "keys/model.h"

namespace tollgate::storage {

// Compact JSON; invalid UTF-8 becomes U+FFFD instead of throwing (the HTTP edge has already
// rejected such input, so this never changes data in practice).
std::string DumpJson(const nlohmann::json& json);

// ["a","b"]
std::string EncodeStrings(const std::vector<std::string>& values);
std::optional<std::vector<std::string>> DecodeStrings(const std::string& text);

// [{"id","name","limit","duration","autoApply","algorithm"}]; rows written before the algorithm
// existed lack it and read as sliding window.
std::string EncodeRateLimits(const std::vector<RateLimitConfig>& ratelimits);
std::optional<std::vector<RateLimitConfig>> DecodeRateLimits(const std::string& text);

// "daily" / "monthly"
std::string_view RefillIntervalText(RefillInterval interval);
std::optional<RefillInterval> ParseRefillInterval(std::string_view text);

}  // namespace tollgate::storage
