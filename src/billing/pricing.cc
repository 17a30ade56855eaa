#include "billing/pricing.h"

#include <algorithm>
#include <limits>

namespace tollgate {
namespace {

__extension__ using Int128 = __int128;

constexpr Int128 kInt64Max = std::numeric_limits<std::int64_t>::max();

// ceil(a / b) for a >= 0, b > 0.
std::int64_t CeilDiv(std::int64_t a, std::int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// Exact micro-units to minor units, half away from zero.
Int128 RoundHalfUp(Int128 micros) {
  const Int128 half = kMicrosPerMinor / 2;
  return micros >= 0 ? (micros + half) / kMicrosPerMinor : -((-micros + half) / kMicrosPerMinor);
}

Result<std::int64_t> ToMinor(Int128 micros) {
  const Int128 minor = RoundHalfUp(micros);
  if (minor > kInt64Max || minor < -kInt64Max) {
    return Fail(Error::InvalidInput("the amount exceeds the largest representable amount (2^63 - 1 minor units)"));
  }
  return static_cast<std::int64_t>(minor);
}

}  // namespace

Result<OverageCharge> PriceOverage(const MeterPricing& pricing, std::int64_t used) {
  OverageCharge charge;
  charge.quantity = std::max<std::int64_t>(0, used - pricing.included);
  if (charge.quantity == 0 || pricing.slices.empty()) return charge;
  const std::int64_t package = std::max<std::int64_t>(1, pricing.package_size);

  Int128 micros = 0;
  if (pricing.model == OverageModel::kVolume) {
    // The slice the whole quantity ends in.
    auto slice = std::find_if(pricing.slices.begin(), pricing.slices.end(),
                              [&](const PriceSlice& s) { return !s.up_to || charge.quantity <= *s.up_to; });
    if (slice == pricing.slices.end()) slice = std::prev(pricing.slices.end());
    const std::int64_t packages = CeilDiv(charge.quantity, package);
    charge.slices.push_back({charge.quantity, packages, slice->price_micros});
    micros = Int128{packages} * slice->price_micros;
  } else {
    std::int64_t start = 0;  // overage units already priced
    for (const PriceSlice& slice : pricing.slices) {
      const std::int64_t end = slice.up_to ? std::min(*slice.up_to, charge.quantity) : charge.quantity;
      if (end <= start) break;
      const std::int64_t quantity = end - start;
      // Slice bounds are multiples of the package, so only the last slice used can hold a
      // started package.
      const std::int64_t packages = CeilDiv(quantity, package);
      charge.slices.push_back({quantity, packages, slice.price_micros});
      micros += Int128{packages} * slice.price_micros;
      start = end;
      if (start >= charge.quantity) break;
    }
  }
  auto minor = ToMinor(micros);
  if (!minor) return Fail(minor.error());
  charge.amount_minor = *minor;
  return charge;
}

std::int64_t Prorate(std::int64_t amount_minor, std::int64_t part, std::int64_t whole) {
  if (whole <= 0) return 0;
  part = std::clamp<std::int64_t>(part, 0, whole);
  // amount × part fits 128 bits; the quotient is at most amount, so it fits 64.
  const Int128 scaled = Int128{amount_minor} * part * 2 + (amount_minor >= 0 ? whole : -whole);
  return static_cast<std::int64_t>(scaled / (Int128{whole} * 2));
}

std::int64_t RoundMicrosToMinor(std::int64_t micros) { return static_cast<std::int64_t>(RoundHalfUp(micros)); }

}  // namespace tollgate
