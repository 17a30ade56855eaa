#include "cli/resource_views.h"

#include <cstdint>
#include <optional>

#include <fmt/format.h>

#include "cli/duration.h"
#include "cli/json_fields.h"
#include "cli/table.h"
#include "cli/timestamp.h"

namespace tollgate {

namespace {

using nlohmann::json;

constexpr std::string_view kNone = "-";

std::string Time(const json& object, const char* name, std::string_view fallback = kNone) {
  const auto millis = IntegerField(object, name);
  return millis ? FormatTimestamp(*millis) : std::string(fallback);
}

std::string YesNo(const json& object, const char* name) {
  const json* value = FindField(object, name);
  if (value == nullptr || !value->is_boolean()) return std::string(kNone);
  return value->get<bool>() ? "yes" : "no";
}

// The items of an array field joined by separator; nullopt when it is absent or empty.
std::optional<std::string> Join(const json& object, const char* name, char separator) {
  const json* value = FindField(object, name);
  if (value == nullptr || !value->is_array() || value->empty()) return std::nullopt;
  std::string text;
  for (const json& item : *value) {
    if (!text.empty()) text += separator;
    text += item.is_string() ? item.get<std::string>() : DumpJson(item);
  }
  return text;
}

// Keys carry credits as {remaining, refill?}; verifyKey answers with the remaining number alone.
std::string Remaining(const json* credits) {
  if (credits == nullptr) return "unlimited";
  if (credits->is_number_integer()) return std::to_string(credits->get<std::int64_t>());
  const auto remaining = IntegerField(*credits, "remaining");
  return remaining ? std::to_string(*remaining) : "unlimited";
}

std::string Identity(const json& key, bool with_id) {
  const json* identity = FindField(key, "identity");
  if (identity == nullptr) return std::string(kNone);
  const std::string external_id = TextField(*identity, "externalId");
  const json* id = FindField(*identity, "id");
  if (!with_id || id == nullptr) return external_id;
  return fmt::format("{} ({})", external_id, TextField(*identity, "id"));
}

std::string Duration(const json& object, const char* name) {
  const auto millis = IntegerField(object, name);
  return millis ? FormatDurationMillis(*millis) : std::string("?");
}

// A key's configured limits: "requests: 100 per 1m (auto-applied)".
std::optional<std::string> ConfiguredRatelimits(const json& key) {
  const json* limits = FindField(key, "ratelimits");
  if (limits == nullptr || !limits->is_array() || limits->empty()) return std::nullopt;
  std::string text;
  for (const json& limit : *limits) {
    if (!text.empty()) text += '\n';
    const bool automatic = IsTrue(limit, "autoApply");
    text += fmt::format("{}: {} per {}{}", TextField(limit, "name"), TextField(limit, "limit", "?"),
                        Duration(limit, "duration"), automatic ? " (auto-applied)" : "");
  }
  return text;
}

// A verification's limit states: "requests: 99 of 100 left per 1m, resets 2025-…Z".
std::optional<std::string> VerifiedRatelimits(const json& result) {
  const json* limits = FindField(result, "ratelimits");
  if (limits == nullptr || !limits->is_array() || limits->empty()) return std::nullopt;
  std::string text;
  for (const json& limit : *limits) {
    if (!text.empty()) text += '\n';
    const bool over = IsTrue(limit, "exceeded");
    text += fmt::format("{}: {} of {} left per {}, resets {}{}", TextField(limit, "name"),
                        TextField(limit, "remaining", "?"), TextField(limit, "limit", "?"),
                        Duration(limit, "duration"), Time(limit, "reset", "?"),
                        over ? " (exceeded)" : "");
  }
  return text;
}

}  // namespace

std::string DescribeCredits(const json* credits) {
  std::string text = Remaining(credits);
  if (credits == nullptr) return text;
  const json* refill = FindField(*credits, "refill");
  if (refill == nullptr) return text;
  const std::string interval = TextField(*refill, "interval", "?");
  text += fmt::format(" (refills to {} {}", TextField(*refill, "amount", "?"), interval);
  if (const auto day = IntegerField(*refill, "refillDay"); day && interval == "monthly") {
    text += fmt::format(" on day {}", *day);
  }
  text += ')';
  return text;
}

std::string RenderKeyTable(const std::vector<json>& keys) {
  std::vector<TableRow> rows;
  rows.reserve(keys.size());
  for (const json& key : keys) {
    rows.push_back({TextField(key, "keyId"), TextField(key, "start"), TextField(key, "name"),
                    Identity(key, /*with_id=*/false), YesNo(key, "enabled"),
                    Time(key, "expires", "never"), Remaining(FindField(key, "credits")),
                    Time(key, "createdAt")});
  }
  return RenderTable(
      {"KEY ID", "START", "NAME", "IDENTITY", "ENABLED", "EXPIRES", "CREDITS", "CREATED"}, rows);
}

RecordFields KeyRecord(const json& key) {
  RecordFields fields{
      {"Key ID", TextField(key, "keyId")},
      {"Start", TextField(key, "start")},
      {"Name", TextField(key, "name")},
      {"Enabled", YesNo(key, "enabled")},
      {"Identity", Identity(key, /*with_id=*/true)},
      {"Created", Time(key, "createdAt")},
  };
  if (FindField(key, "updatedAt") != nullptr) {
    fields.emplace_back("Updated", Time(key, "updatedAt"));
  }
  fields.emplace_back("Expires", Time(key, "expires", "never"));
  fields.emplace_back("Credits", DescribeCredits(FindField(key, "credits")));
  if (auto permissions = Join(key, "permissions", '\n')) {
    fields.emplace_back("Permissions", *permissions);
  }
  if (auto roles = Join(key, "roles", '\n')) fields.emplace_back("Roles", *roles);
  if (auto limits = ConfiguredRatelimits(key)) fields.emplace_back("Ratelimits", *limits);
  if (const json* meta = FindField(key, "meta")) fields.emplace_back("Meta", DumpJson(*meta));
  return fields;
}

RecordFields VerifyRecord(const json& result) {
  const bool is_valid = IsTrue(result, "valid");
  RecordFields fields{
      {"Code", TextField(result, "code", "?")},
      {"Valid", is_valid ? "yes" : "no"},
  };
  // NOT_FOUND carries nothing else; the other codes describe the key that was found.
  if (FindField(result, "keyId") == nullptr) return fields;
  fields.emplace_back("Key ID", TextField(result, "keyId"));
  fields.emplace_back("Name", TextField(result, "name"));
  if (FindField(result, "enabled") != nullptr) {
    fields.emplace_back("Enabled", YesNo(result, "enabled"));
  }
  if (FindField(result, "identity") != nullptr) {
    fields.emplace_back("Identity", Identity(result, /*with_id=*/true));
  }
  fields.emplace_back("Expires", Time(result, "expires", "never"));
  fields.emplace_back("Credits", Remaining(FindField(result, "credits")));
  if (auto permissions = Join(result, "permissions", '\n')) {
    fields.emplace_back("Permissions", *permissions);
  }
  if (auto roles = Join(result, "roles", '\n')) fields.emplace_back("Roles", *roles);
  if (auto limits = VerifiedRatelimits(result)) fields.emplace_back("Ratelimits", *limits);
  if (FindField(result, "tier") != nullptr) fields.emplace_back("Tier", TextField(result, "tier"));
  if (const json* quota = FindField(result, "quota")) {
    fields.emplace_back(
        "Quota", fmt::format("{} of {} used, period ends {}", TextField(*quota, "used", "?"),
                             TextField(*quota, "included", "?"), Time(*quota, "periodEnd", "?")));
  }
  if (const json* meta = FindField(result, "meta")) fields.emplace_back("Meta", DumpJson(*meta));
  return fields;
}

std::string RenderRootKeyTable(const json& root_keys) {
  std::vector<TableRow> rows;
  if (root_keys.is_array()) {
    for (const json& key : root_keys) {
      rows.push_back({TextField(key, "keyId"), TextField(key, "name"), TextField(key, "start"),
                      Join(key, "permissions", ',').value_or(std::string(kNone)),
                      Time(key, "createdAt")});
    }
  }
  return RenderTable({"KEY ID", "NAME", "START", "PERMISSIONS", "CREATED"}, rows);
}

}  // namespace tollgate
