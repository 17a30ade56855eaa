#include "auth/scope.h"

#include <algorithm>

namespace tollgate {
namespace {

// Splits at the next '.', advancing text past it.
std::string_view NextSegment(std::string_view& text) {
  const auto dot = text.find('.');
  const std::string_view segment = text.substr(0, dot);
  text = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  return segment;
}

}  // namespace

bool ScopeMatches(std::string_view granted, std::string_view required) {
  if (granted == "*") return true;
  // Compare segment by segment; both must run out together.
  while (!granted.empty() && !required.empty()) {
    const std::string_view g = NextSegment(granted);
    const std::string_view r = NextSegment(required);
    if (g != "*" && g != r) return false;
  }
  return granted.empty() && required.empty();
}

bool ScopesAllow(const std::vector<std::string>& granted, std::string_view required) {
  return std::any_of(granted.begin(), granted.end(),
                     [&](const std::string& g) { return ScopeMatches(g, required); });
}

bool IsValidScope(std::string_view scope) {
  if (scope == "*") return true;
  if (scope.size() > 256) return false;
  int segments = 0;
  while (true) {
    const auto dot = scope.find('.');
    const std::string_view segment = scope.substr(0, dot);
    if (segment.empty()) return false;
    for (char c : segment) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '*';
      if (!ok) return false;
    }
    ++segments;
    if (dot == std::string_view::npos) break;
    scope = scope.substr(dot + 1);
  }
  return segments == 3;
}

std::string ApiScope(std::string_view api_id, std::string_view action) {
  std::string scope = "api.";
  scope += api_id;
  scope += '.';
  scope += action;
  return scope;
}

}  // namespace tollgate
