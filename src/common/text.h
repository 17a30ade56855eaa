// Small checks on untrusted text that later travels in places with a grammar of their own
// (HTTP header values, structured fields).
#pragma once

#include <string>
#include <string_view>

namespace tollgate {

// No ASCII control characters (CR, LF, NUL, DEL, ...): safe to place in an HTTP header value.
constexpr bool HasNoControlCharacters(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// A rate-limit name: 1..128 of [A-Za-z0-9_.:-]. Names appear in RateLimit header fields and
// counter keys, so they are kept to characters that need no quoting anywhere.
constexpr bool IsValidLimitName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A URL with its password replaced by "***" (scheme://user:***@host/...), for logs and errors.
inline std::string RedactUrlPassword(std::string_view url) {
  const auto scheme = url.find("://");
  const auto at = url.rfind('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) return std::string(url);
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

}  // namespace tollgate
