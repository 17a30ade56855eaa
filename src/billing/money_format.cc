#include "billing/money_format.h"

#include <array>
#include <utility>

namespace tollgate {
namespace {

constexpr int kMicroDigits = 6;  // micro-units per minor unit: 10^6

// Codes whose minor unit is not the cent.
constexpr std::array<std::pair<std::string_view, int>, 10> kExponents{{
    {"CLP", 0}, {"ISK", 0}, {"JPY", 0}, {"KRW", 0}, {"VND", 0},
    {"BHD", 3}, {"JOD", 3}, {"KWD", 3}, {"OMR", 3}, {"TND", 3},
}};

// `value` / 10^scale_digits in decimal: the integer part, then the fraction cut of its trailing
// zeros down to `min_fraction_digits` (no point when nothing is left). Works on the magnitude as
// unsigned, so INT64_MIN has one too.
std::string FormatScaled(std::int64_t value, int scale_digits, int min_fraction_digits, DigitGrouping grouping) {
  const std::uint64_t magnitude =
      value < 0 ? ~static_cast<std::uint64_t>(value) + 1 : static_cast<std::uint64_t>(value);
  std::uint64_t scale = 1;
  for (int i = 0; i < scale_digits; ++i) scale *= 10;

  std::string whole = std::to_string(magnitude / scale);
  if (grouping == DigitGrouping::kThousands) GroupDigits(whole);
  std::string fraction;
  if (scale_digits > 0) {
    fraction = std::to_string(magnitude % scale);
    fraction.insert(0, static_cast<std::size_t>(scale_digits) - fraction.size(), '0');
  }
  while (static_cast<int>(fraction.size()) > min_fraction_digits && fraction.back() == '0') fraction.pop_back();

  std::string text = value < 0 ? "-" : "";
  text += whole;
  if (!fraction.empty()) text += "." + fraction;
  return text;
}

}  // namespace

int CurrencyExponent(std::string_view currency) {
  for (const auto& [code, exponent] : kExponents) {
    if (code == currency) return exponent;
  }
  return 2;
}

std::string FormatMinorUnits(std::int64_t amount_minor, std::string_view currency, DigitGrouping grouping) {
  const int exponent = CurrencyExponent(currency);
  return FormatScaled(amount_minor, exponent, exponent, grouping);
}

std::string FormatMicroUnits(std::int64_t micros, std::string_view currency, DigitGrouping grouping) {
  const int exponent = CurrencyExponent(currency);
  return FormatScaled(micros, exponent + kMicroDigits, exponent, grouping);
}

}  // namespace tollgate
