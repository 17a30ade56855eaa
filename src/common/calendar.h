// UTC calendar arithmetic on Unix milliseconds: the boundaries of days and months that credit
// refills (and later quota and billing periods) are aligned to. No time zones, no leap seconds.
#pragma once

#include <string>

#include "common/clock.h"

namespace tollgate {

inline constexpr UnixMillis kMillisPerDay = 86'400'000;

struct CivilDate {
  int year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

CivilDate ToCivil(UnixMillis t);
UnixMillis FromCivil(CivilDate date);  // midnight UTC of that date
UnixMillis StartOfDay(UnixMillis t);
unsigned DaysInMonth(int year, unsigned month);

// The latest instant <= t that is midnight UTC of day `day_of_month` of some month; a day past
// the month's end means the month's last day (refillDay 31 in February is the 28th or 29th).
UnixMillis LastMonthlyBoundary(UnixMillis t, unsigned day_of_month);

// The earliest instant > t that is such a boundary (when the next monthly refill happens).
UnixMillis NextMonthlyBoundary(UnixMillis t, unsigned day_of_month);

// ISO-8601 / RFC 3339 in UTC with milliseconds: "2024-01-31T23:59:59.123Z".
std::string FormatIsoMillis(UnixMillis t);

}  // namespace tollgate
