// Root-key scopes: dotted permission strings such as "api.*.create_key" or
// "api.api_123.verify_key". A granted scope matches a required one segment by segment, where a
// granted "*" segment matches any one segment and a granted "*" alone matches everything.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tollgate {

bool ScopeMatches(std::string_view granted, std::string_view required);
bool ScopesAllow(const std::vector<std::string>& granted, std::string_view required);
// Whether `granted` allows `action` on at least one API ("api.<some API or *>.<action>"). A root
// key for which this is false is refused before the request's key is looked up, so its answer
// tells nothing about which keys exist.
bool ScopesAllowAnyApi(const std::vector<std::string>& granted, std::string_view action);

// A scope a root key may be given: "*", or 3 non-empty segments of [A-Za-z0-9_*-] joined by '.'.
bool IsValidScope(std::string_view scope);

// The scope names for the API resource, e.g. ApiScope("api_1", "create_key") = "api.api_1.create_key".
std::string ApiScope(std::string_view api_id, std::string_view action);

}  // namespace tollgate
