#include "common/calendar.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace tollgate {

namespace chr = std::chrono;

CivilDate ToCivil(UnixMillis t) {
  const auto days = chr::floor<chr::days>(chr::sys_time<chr::milliseconds>(chr::milliseconds(t)));
  const chr::year_month_day ymd{days};
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day())};
}

UnixMillis FromCivil(CivilDate date) {
  const chr::year_month_day ymd{chr::year(date.year), chr::month(date.month), chr::day(date.day)};
  const chr::sys_days days{ymd};
  return chr::duration_cast<chr::milliseconds>(days.time_since_epoch()).count();
}

UnixMillis StartOfDay(UnixMillis t) {
  const UnixMillis day = (t >= 0 ? t / kMillisPerDay : (t - kMillisPerDay + 1) / kMillisPerDay);
  return day * kMillisPerDay;
}

unsigned DaysInMonth(int year, unsigned month) {
  const chr::year_month_day_last last{chr::year(year) / chr::month(month) / chr::last};
  return static_cast<unsigned>(last.day());
}

UnixMillis LastMonthlyBoundary(UnixMillis t, unsigned day_of_month) {
  const CivilDate now = ToCivil(t);
  const unsigned this_day = std::min(day_of_month, DaysInMonth(now.year, now.month));
  const UnixMillis this_month = FromCivil({now.year, now.month, this_day});
  if (this_month <= t) return this_month;
  const int year = now.month == 1 ? now.year - 1 : now.year;
  const unsigned month = now.month == 1 ? 12 : now.month - 1;
  return FromCivil({year, month, std::min(day_of_month, DaysInMonth(year, month))});
}

UnixMillis NextMonthlyBoundary(UnixMillis t, unsigned day_of_month) {
  const CivilDate now = ToCivil(t);
  const UnixMillis this_month = FromCivil({now.year, now.month, std::min(day_of_month, DaysInMonth(now.year, now.month))});
  if (this_month > t) return this_month;
  const int year = now.month == 12 ? now.year + 1 : now.year;
  const unsigned month = now.month == 12 ? 1 : now.month + 1;
  return FromCivil({year, month, std::min(day_of_month, DaysInMonth(year, month))});
}

std::string FormatIsoMillis(UnixMillis t) {
  const UnixMillis ms_of_day = t - StartOfDay(t);
  const CivilDate date = ToCivil(t);
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", date.year, date.month, date.day,
                static_cast<int>(ms_of_day / 3'600'000), static_cast<int>(ms_of_day / 60'000 % 60),
                static_cast<int>(ms_of_day / 1'000 % 60), static_cast<int>(ms_of_day % 1'000));
  return text;
}

}  // namespace tollgate
