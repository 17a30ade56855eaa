// Money as text, for people (the HTML invoice) and spreadsheets (the CSV export). Amounts are
// integer minor units and unit prices integer micro-units (billing/pricing.h); both are printed
// exactly by integer arithmetic on their digits, never through floating point.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/thousands.h"  // GroupThousands, for quantities next to the money

namespace tollgate {

// Digits of a currency's minor unit (ISO 4217): 0 for JPY, KRW, ...; 3 for BHD, KWD, ...; 2 for
// every other code. A small table, not the whole standard: an unknown code prints as cents.
int CurrencyExponent(std::string_view currency);

enum class DigitGrouping { kThousands, kNone };  // "1,234.50" for people, "1234.50" for spreadsheets

// Minor units in the currency's major unit, with exactly its number of decimals:
// (123456, "USD") -> "1,234.56"; (-5, "USD") -> "-0.05"; (1500, "JPY") -> "1,500".
std::string FormatMinorUnits(std::int64_t amount_minor, std::string_view currency,
                             DigitGrouping grouping = DigitGrouping::kThousands);

// Micro-units (millionths of a minor unit) in the major unit, exactly: at least the currency's
// decimals, more only as far as needed: (50'000'000, "USD") -> "0.50"; (400, "USD") -> "0.000004"
// (0.0004 cents); (400, "JPY") -> "0.0004".
std::string FormatMicroUnits(std::int64_t micros, std::string_view currency,
                             DigitGrouping grouping = DigitGrouping::kThousands);

}  // namespace tollgate
