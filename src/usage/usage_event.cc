#include "usage/usage_event.h"

#include <nlohmann/json.hpp>

namespace tollgate {

std::string UsageEventToJsonLine(const UsageEvent& event) {
  const nlohmann::json json = {{"at", event.at},           {"apiId", event.api_id},
                               {"keyId", event.key_id},     {"externalId", event.external_id},
                               {"code", event.code},        {"credits", event.credits_spent},
                               {"tags", event.tags},        {"deniedBy", event.denied_by},
                               {"source", event.source}};
  // replace: a tag with invalid UTF-8 must not make the event unspillable.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<UsageEvent> UsageEventFromJsonLine(std::string_view line) {
  const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return Fail(Error::InvalidInput("not a JSON object"));
  UsageEvent event;
  auto text = [&json](const char* name, UsageText& out) {
    const auto it = json.find(name);
    if (it == json.end() || !it->is_string()) return false;
    out = it->get_ref<const std::string&>();
    return true;
  };
  auto integer = [&json](const char* name, std::int64_t& out) {
    const auto it = json.find(name);
    if (it == json.end() || !it->is_number_integer()) return false;
    out = it->get<std::int64_t>();
    return true;
  };
  const bool complete = integer("at", event.at) && text("apiId", event.api_id) && text("keyId", event.key_id) &&
                        text("externalId", event.external_id) && text("code", event.code) &&
                        integer("credits", event.credits_spent) && text("deniedBy", event.denied_by) &&
                        text("source", event.source);
  if (!complete) return Fail(Error::InvalidInput("a usage event field is missing or has the wrong type"));
  if (const auto tags = json.find("tags"); tags != json.end() && tags->is_array()) {
    for (const auto& tag : *tags) {
      if (tag.is_string() && event.tags.size() < kMaxUsageTags) event.tags.push_back(tag.get<std::string>());
    }
  }
  return event;
}

}  // namespace tollgate
