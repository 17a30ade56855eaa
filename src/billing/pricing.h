// The arithmetic of prices: overage per meter (graduated or volume slices, per unit or per
// package), rounding to the minor unit, and proration by time. Pure functions over integers; no
// floating point touches money anywhere in tollgate.
//
// Units of money:
//  * amounts (fees, line totals, invoice totals) are int64 minor units of the currency (cents);
//  * prices of one unit or one package are int64 micro-units: millionths of a minor unit, so
//    "0.0004 cents per request" is exactly 400 micro-units.
// Intermediate products are 128-bit, so no count and price that fit in int64 can overflow; a
// result that does not fit int64 minor units (over 92 quadrillion cents) is an error, not a wrap.
//
// Rounding rule (the only one): a line's amount is computed exactly in micro-units, then rounded
// once to the minor unit, half up (0.5 cent and above rounds up; amounts are never negative except
// credits, which round half away from zero). Slices and packages are never rounded separately.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "tiers/model.h"

namespace tollgate {

// One slice's share of an overage charge.
struct SliceCharge {
  std::int64_t quantity = 0;  // overage units priced in this slice
  std::int64_t packages = 0;  // packages charged for them
  std::int64_t price_micros = 0;
};

struct OverageCharge {
  std::int64_t quantity = 0;  // the overage: units past `included`, never negative
  std::vector<SliceCharge> slices;  // slices with quantity > 0, in order (one for volume)
  std::int64_t amount_minor = 0;    // rounded once, half up
};

// Prices `used` units of a meter against its pricing (which must be valid): the units past
// `included` (scaled by nothing: pass a prorated `included` through the pricing if needed).
// Fails only when the amount does not fit int64 minor units.
Result<OverageCharge> PriceOverage(const MeterPricing& pricing, std::int64_t used);

// `amount_minor` × part / whole, rounded half up: the share of a monthly fee for the part of the
// period a tier was in force. 0 <= part <= whole, whole > 0.
std::int64_t Prorate(std::int64_t amount_minor, std::int64_t part, std::int64_t whole);

// Micro-units to minor units, half up (half away from zero for negatives).
std::int64_t RoundMicrosToMinor(std::int64_t micros);

}  // namespace tollgate
