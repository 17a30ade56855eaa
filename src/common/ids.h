// Public identifiers: a short type prefix and 16 random bytes in base58, e.g. "key_3xk9…".
// Random rather than sequential so that ids leak neither volume nor creation order.
#pragma once

#include <string>
#include <string_view>

namespace tollgate {

std::string NewId(std::string_view prefix);

}  // namespace tollgate
