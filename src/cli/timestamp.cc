#include "cli/timestamp.h"

#include <chrono>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

#include "common/calendar.h"

namespace tollgate {

namespace {

constexpr UnixMillis kMillisPerSecond = 1'000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `width` digits at text[pos]; -1 when they are missing or not all digits.
int ReadFixed(std::string_view text, std::size_t pos, std::size_t width) {
  if (pos + width > text.size()) return -1;
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (!IsDigit(text[i])) return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

Error BadTimestamp(std::string_view text) {
  return Error::InvalidInput(fmt::format(
      "invalid time \"{}\": use ISO-8601 UTC like 2025-01-31T18:00:00Z, a date like 2025-01-31, "
      "or Unix milliseconds",
      text));
}

}  // namespace

std::string FormatTimestamp(UnixMillis t) {
  const UnixMillis day_start = StartOfDay(t);
  const CivilDate date = ToCivil(t);
  const UnixMillis seconds_of_day = (t - day_start) / kMillisPerSecond;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", date.year, date.month, date.day,
                     seconds_of_day / 3600, seconds_of_day / 60 % 60, seconds_of_day % 60);
}

Result<UnixMillis> ParseTimestamp(std::string_view text) {
  if (text.empty()) return Fail(BadTimestamp(text));

  // Unix milliseconds, as the API and --json output carry them.
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && IsDigit(c);
  if (all_digits) {
    UnixMillis value = 0;
    for (char c : text) {
      if (value > (std::numeric_limits<UnixMillis>::max() - (c - '0')) / 10) {
        return Fail(BadTimestamp(text));
      }
      value = value * 10 + (c - '0');
    }
    return value;
  }

  // YYYY-MM-DD, optionally followed by THH:MM:SSZ.
  const int year = ReadFixed(text, 0, 4);
  const int month = ReadFixed(text, 5, 2);
  const int day = ReadFixed(text, 8, 2);
  if (year < 0 || month < 0 || day < 0 || text[4] != '-' || text[7] != '-') {
    return Fail(BadTimestamp(text));
  }
  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return Fail(BadTimestamp(text));
  const UnixMillis midnight =
      FromCivil({year, static_cast<unsigned>(month), static_cast<unsigned>(day)});
  if (text.size() == 10) return midnight;

  const int hour = ReadFixed(text, 11, 2);
  const int minute = ReadFixed(text, 14, 2);
  const int second = ReadFixed(text, 17, 2);
  if (text.size() != 20 || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':' || (text[19] != 'Z' && text[19] != 'z') || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 59) {
    return Fail(BadTimestamp(text));
  }
  return midnight + ((hour * 60 + minute) * 60 + second) * kMillisPerSecond;
}

}  // namespace tollgate
