// Durations as people type them on the command line ("30d", "12h", "1h30m", "500ms") and as the
// CLI shows them back. The API speaks milliseconds; this is the one place that converts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tollgate {

// Parses one or more <whole number><unit> parts, unit one of ms, s, m, h, d, and sums them:
// "30d", "12h", "1h30m", "45s", "500ms". A bare "0" is accepted because "no time at all" needs
// no unit (keys reroll --expiration 0). Fails with InvalidInput naming the text and what is
// wrong with it: empty, a missing or unknown unit, a fraction or sign, or overflow.
Result<std::int64_t> ParseDurationMillis(std::string_view text);

// The inverse for display: the largest units first, zero parts left out ("1h30m", "1d",
// "1500ms" becomes "1s500ms"); 0 is "0s". Negative input is shown with a leading '-'.
std::string FormatDurationMillis(std::int64_t millis);

}  // namespace tollgate
