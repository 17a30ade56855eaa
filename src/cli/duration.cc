#include "cli/duration.h"

#include <array>
#include <limits>

#include <fmt/format.h>

namespace tollgate {

namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t millis;
};

// Longest suffix first where one is a prefix of another ("ms" before "m").
constexpr std::array<Unit, 5> kUnits{{
    {"ms", 1},
    {"s", 1'000},
    {"m", 60'000},
    {"h", 3'600'000},
    {"d", 86'400'000},
}};

constexpr std::string_view kUnitHint = "use ms, s, m, h or d, e.g. 30d, 12h, 1h30m, 500ms";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Error BadDuration(std::string_view text, std::string_view why) {
  return Error::InvalidInput(fmt::format("invalid duration \"{}\": {}", text, why));
}

}  // namespace

Result<std::int64_t> ParseDurationMillis(std::string_view text) {
  if (text.empty()) return Fail(BadDuration(text, kUnitHint));
  if (text == "0") return 0;

  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!IsDigit(text[pos])) {
      return Fail(BadDuration(
          text, fmt::format("expected a whole number at \"{}\"; {}", text.substr(pos), kUnitHint)));
    }
    std::int64_t amount = 0;
    while (pos < text.size() && IsDigit(text[pos])) {
      const int digit = text[pos] - '0';
      if (amount > (kMax - digit) / 10) return Fail(BadDuration(text, "too long"));
      amount = amount * 10 + digit;
      ++pos;
    }
    if (pos == text.size()) {
      return Fail(BadDuration(text, fmt::format("missing unit after {}; {}", amount, kUnitHint)));
    }
    const std::string_view rest = text.substr(pos);
    const Unit* unit = nullptr;
    for (const Unit& candidate : kUnits) {
      if (rest.starts_with(candidate.suffix)) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) {
      return Fail(BadDuration(text, fmt::format("unknown unit at \"{}\"; {}", rest, kUnitHint)));
    }
    pos += unit->suffix.size();
    if (amount > kMax / unit->millis || total > kMax - amount * unit->millis) {
      return Fail(BadDuration(text, "too long"));
    }
    total += amount * unit->millis;
  }
  return total;
}

std::string FormatDurationMillis(std::int64_t millis) {
  if (millis == 0) return "0s";
  std::string text;
  // Work in unsigned so that the most negative value has a magnitude too.
  std::uint64_t rest =
      millis < 0 ? 0 - static_cast<std::uint64_t>(millis) : static_cast<std::uint64_t>(millis);
  if (millis < 0) text += '-';
  for (auto unit = kUnits.rbegin(); unit != kUnits.rend(); ++unit) {
    const auto size = static_cast<std::uint64_t>(unit->millis);
    if (rest >= size) {
      text += fmt::format("{}{}", rest / size, unit->suffix);
      rest %= size;
    }
  }
  return text;
}

}  // namespace tollgate
