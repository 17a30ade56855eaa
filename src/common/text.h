// Small checks on untrusted text that later travels in places with a grammar of their own
// (HTTP header values, structured fields).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tollgate {

// The pieces of `text` between `separator`s, each without surrounding spaces and tabs
// ("a, b" -> {"a", "b"}; "" -> {""}).
inline std::vector<std::string> SplitTrimmed(std::string_view text, char separator) {
  std::vector<std::string> parts;
  for (;;) {
    const auto at = text.find(separator);
    std::string_view part = text.substr(0, at);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    parts.emplace_back(part);
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

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

// Whether `text` starts with `lower_prefix` (lower-case ASCII), ignoring the case of `text`: URL
// schemes ("HTTPS://" is "https://").
constexpr bool StartsWithNoCase(std::string_view text, std::string_view lower_prefix) {
  if (text.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    const char c = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    if (c != lower_prefix[i]) return false;
  }
  return true;
}

// A TCP port as a URL writes it: 1 to 5 decimal digits, 1..65535.
constexpr bool IsValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

// A URL with its password replaced by "***" (scheme://user:***@host/..., and a password=
// query parameter), for logs and errors.
inline std::string RedactUrlPassword(std::string_view url) {
  std::string out(url);
  const auto scheme = out.find("://");
  // The last '@' of all: a password with an unencoded '/' or '@' is then still covered, and
  // hiding a little too much is the safe side.
  const auto at = out.rfind('@');
  if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
    const auto colon = out.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) out = out.substr(0, colon + 1) + "***" + out.substr(at);
  }
  for (std::size_t key = out.find("password="); key != std::string::npos; key = out.find("password=", key + 1)) {
    const auto value = key + 9;
    const auto end = out.find('&', value);
    out = out.substr(0, value) + "***" + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
}

}  // namespace tollgate
