// Base58 (the Bitcoin alphabet: no 0, O, I or l) for key secrets and ids: unambiguous to read
// aloud or copy, and safe in URLs and headers without escaping.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate {

std::string Base58Encode(std::span<const std::uint8_t> bytes);
// nullopt if text holds a character outside the alphabet.
std::optional<std::vector<std::uint8_t>> Base58Decode(std::string_view text);

}  // namespace tollgate
