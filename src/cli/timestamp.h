// Points in time as the CLI shows and accepts them. The API speaks Unix milliseconds; people
// read ISO-8601 in UTC, which sorts as text and needs no time zone to be unambiguous.
#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

// "2024-05-01T12:30:00Z". Whole seconds: the milliseconds the API carries are noise in a table.
std::string FormatTimestamp(UnixMillis t);

// Accepts what FormatTimestamp prints (so a time can be copied from one command into another),
// a date "2024-05-01" meaning its midnight UTC, or Unix milliseconds "1714566600000". Fails with
// InvalidInput saying which forms are accepted.
Result<UnixMillis> ParseTimestamp(std::string_view text);

}  // namespace tollgate
