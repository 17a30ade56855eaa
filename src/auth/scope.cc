#include "auth/scope.h"

#include <algorithm>

namespace tollgate {

bool ScopeMatches(std::string_view granted, std::string_view required) {
  if (granted == "*") return true;
  // Compare segment by segment; both must run out of segments together. "Out of segments" is
  // "no '.' left", not "nothing left": a trailing '.' is one more (empty) segment, so
  // "api.x.create_key." is a 4-segment scope and matches no 3-segment one.
  while (true) {
    const auto granted_dot = granted.find('.');
    const auto required_dot = required.find('.');
    const std::string_view g = granted.substr(0, granted_dot);
    const std::string_view r = required.substr(0, required_dot);
    if (g != "*" && g != r) return false;
    if (granted_dot == std::string_view::npos || required_dot == std::string_view::npos) {
      return granted_dot == required_dot;
    }
    granted.remove_prefix(granted_dot + 1);
    required.remove_prefix(required_dot + 1);
  }
}

bool ScopesAllow(const std::vector<std::string>& granted, std::string_view required) {
  return std::any_of(granted.begin(), granted.end(),
                     [&](const std::string& g) { return ScopeMatches(g, required); });
}

bool ScopesAllowAnyApi(const std::vector<std::string>& granted, std::string_view action) {
  // A granted scope allows the action on some API when it allows it on the API its own middle
  // segment names ("*" included): "api.api_1.verify_key" on api_1, "api.*.verify_key" on all.
  return std::any_of(granted.begin(), granted.end(), [&](const std::string& g) {
    const std::string_view scope = g;
    const auto first_dot = scope.find('.');
    const std::string_view rest = first_dot == std::string_view::npos ? "" : scope.substr(first_dot + 1);
    return ScopeMatches(scope, ApiScope(rest.substr(0, rest.find('.')), action));
  });
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
