// Tolerant reads of response JSON. The CLI shows what a server sends, and a newer server or a
// proxy may send other shapes; nlohmann's checked accessors would throw on those, and an
// exception must not escape a command. These return "absent" instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tollgate {

// The field's value, or nullptr when object is not an object or the field is missing or null.
inline const nlohmann::json* FindField(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// A string field as is, another type as its JSON text, fallback when absent or "".
inline std::string TextField(const nlohmann::json& object, const char* name,
                             std::string_view fallback = "-") {
  const nlohmann::json* value = FindField(object, name);
  if (value == nullptr) return std::string(fallback);
  if (value->is_string()) {
    const auto& text = value->get_ref<const std::string&>();
    return text.empty() ? std::string(fallback) : text;
  }
  return value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::optional<std::int64_t> IntegerField(const nlohmann::json& object, const char* name) {
  const nlohmann::json* value = FindField(object, name);
  if (value == nullptr || !value->is_number_integer()) return std::nullopt;
  return value->get<std::int64_t>();
}

// True only for a boolean field that is true.
inline bool IsTrue(const nlohmann::json& object, const char* name) {
  const nlohmann::json* value = FindField(object, name);
  return value != nullptr && value->is_boolean() && value->get<bool>();
}

// JSON text safe to print whatever the strings hold: invalid UTF-8 (which argv can carry into a
// request) is replaced rather than thrown on. indent < 0 means one line.
inline std::string DumpJson(const nlohmann::json& value, int indent = -1) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tollgate
