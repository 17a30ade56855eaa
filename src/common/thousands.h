// Integers as text for people, with a comma every three digits: "1,234,567". Shared by the
// command line's tables and billing's invoices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tollgate {

// "1234567" -> "1,234,567"; "-1234" -> "-1,234", in place. `digits` is decimal digits after an
// optional '-'.
inline void GroupDigits(std::string& digits) {
  const std::size_t first_digit = digits.starts_with('-') ? 1 : 0;
  for (std::size_t i = digits.size(); i > first_digit + 3; i -= 3) digits.insert(i - 3, ",");
}

// 1234567 -> "1,234,567"; -1234 -> "-1,234".
inline std::string GroupThousands(std::int64_t value) {
  std::string digits = std::to_string(value);
  GroupDigits(digits);
  return digits;
}

}  // namespace tollgate
