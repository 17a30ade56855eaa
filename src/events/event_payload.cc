#include <nlohmann/json.hpp>

#include "events/event_bus.h"

namespace tollgate {

Result<std::string> EventPayloadField(const Event& event, const char* name) {
  auto payload = nlohmann::json::parse(event.payload_json, nullptr, false);
  if (payload.is_object()) {
    if (auto field = payload.find(name); field != payload.end() && field->is_string()) return field->get<std::string>();
  }
  return Fail(Error::InvalidInput("event " + event.id + " (" + event.type + ") has no string field " + name));
}

}  // namespace tollgate
