// How the client commands show the API's resources to people: keys, verification results and
// root keys as tables and records. Pure functions of the response JSON. They never throw on an
// unexpected shape (a newer server, a proxy's answer): a field that is missing or of another
// type is shown as absent, because the CLI should still show what it can.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tollgate {

using RecordFields = std::vector<std::pair<std::string, std::string>>;

// Columns KEY ID, START, NAME, IDENTITY, ENABLED, EXPIRES, CREDITS, CREATED; one row per
// KeyResponseData in keys.
std::string RenderKeyTable(const std::vector<nlohmann::json>& keys);

// Every field of one KeyResponseData (keys.getKey). Optional fields the key does not have are
// left out, except Name, Identity, Expires and Credits, whose absence means something.
RecordFields KeyRecord(const nlohmann::json& key);

// keys.verifyKey's data: Code and Valid first, then what the server said about the key.
RecordFields VerifyRecord(const nlohmann::json& result);

// Columns KEY ID, NAME, START, PERMISSIONS, CREATED; rootKeys.listRootKeys' data.
std::string RenderRootKeyTable(const nlohmann::json& root_keys);

// A key's credits object as one phrase: "unlimited" when absent or remaining is null, else
// e.g. "42", "42 (refills to 100 daily)" or "42 (refills to 100 monthly on day 1)".
std::string DescribeCredits(const nlohmann::json* credits);

}  // namespace tollgate
