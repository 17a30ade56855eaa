#include "http/field_reader.h"

namespace tollgate {
namespace {

// A NUL character means nothing in any of tollgate's strings, and PostgreSQL text cannot hold
// one: refused here, it can never reach a store and stall a batch of usage writes.
constexpr const char* kNulMessage = "must not contain a NUL character (\\u0000)";
constexpr const char* kNulFix = "remove the \\u0000 escapes from the string";

const char* TypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

}  // namespace

const nlohmann::json* FieldReader::Find(const char* name) const {
  const auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void FieldReader::TypeError(const char* name, const char* expected) {
  AddError(At(name), std::string("must be ") + expected + ", got " + TypeName(object_.at(name)));
}

std::string FieldReader::RequiredString(const char* name, std::size_t min_length, std::size_t max_length) {
  if (!Find(name)) {
    AddError(At(name), "is required");
    return {};
  }
  return OptionalString(name, min_length, max_length).value_or("");
}

std::optional<std::string> FieldReader::OptionalString(const char* name, std::size_t min_length,
                                                       std::size_t max_length) {
  const nlohmann::json* value = Find(name);
  if (!value) return std::nullopt;
  if (!value->is_string()) {
    TypeError(name, "a string");
    return std::nullopt;
  }
  const auto& text = value->get_ref<const std::string&>();
  if (text.size() < min_length || text.size() > max_length) {
    AddError(At(name), min_length == max_length
                           ? "must be " + std::to_string(min_length) + " characters"
                           : "must be " + std::to_string(min_length) + " to " + std::to_string(max_length) + " characters long");
    return std::nullopt;
  }
  if (text.find('\0') != std::string::npos) {
    AddError(At(name), kNulMessage, kNulFix);
    return std::nullopt;
  }
  return text;
}

std::int64_t FieldReader::RequiredInt(const char* name, std::int64_t min, std::int64_t max) {
  if (!Find(name)) {
    AddError(At(name), "is required");
    return 0;
  }
  return OptionalInt(name, min, max).value_or(0);
}

std::optional<std::int64_t> FieldReader::OptionalInt(const char* name, std::int64_t min, std::int64_t max) {
  const nlohmann::json* value = Find(name);
  if (!value) return std::nullopt;
  std::int64_t number = 0;
  if (value->is_number_integer()) {
    if (value->is_number_unsigned() && value->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
      AddError(At(name), "must be at most " + std::to_string(max));
      return std::nullopt;
    }
    number = value->get<std::int64_t>();
  } else if (value->is_number_float()) {
    // JavaScript clients send 5 as 5, but some JSON encoders send 5.0: accept integral floats.
    // The range check must come first: converting a double outside int64's range is undefined.
    const double d = value->get<double>();
    if (d > 9.2e18 || d < -9.2e18 || d != static_cast<double>(static_cast<std::int64_t>(d))) {
      TypeError(name, "an integer");
      return std::nullopt;
    }
    number = static_cast<std::int64_t>(d);
  } else {
    TypeError(name, "an integer");
    return std::nullopt;
  }
  if (number < min || number > max) {
    AddError(At(name), "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return number;
}

std::optional<bool> FieldReader::OptionalBool(const char* name) {
  const nlohmann::json* value = Find(name);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) {
    TypeError(name, "a boolean");
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<std::vector<std::string>> FieldReader::OptionalStringArray(const char* name, std::size_t max_items) {
  const nlohmann::json* value = Find(name);
  if (!value) return std::nullopt;
  if (!value->is_array()) {
    TypeError(name, "an array of strings");
    return std::nullopt;
  }
  if (value->size() > max_items) {
    AddError(At(name), "must hold at most " + std::to_string(max_items) + " items");
    return std::nullopt;
  }
  std::vector<std::string> items;
  items.reserve(value->size());
  for (std::size_t i = 0; i < value->size(); ++i) {
    const auto& item = (*value)[i];
    if (!item.is_string()) {
      AddError(At(name) + "[" + std::to_string(i) + "]", std::string("must be a string, got ") + TypeName(item));
      return std::nullopt;
    }
    if (item.get_ref<const std::string&>().find('\0') != std::string::npos) {
      AddError(At(name) + "[" + std::to_string(i) + "]", kNulMessage, kNulFix);
      return std::nullopt;
    }
    items.push_back(item.get<std::string>());
  }
  return items;
}

std::optional<std::string> FieldReader::OptionalObjectText(const char* name, std::size_t max_bytes) {
  const nlohmann::json* value = OptionalObject(name);
  if (!value) return std::nullopt;
  std::string text = value->dump();
  if (text.size() > max_bytes) {
    AddError(At(name), "must be at most " + std::to_string(max_bytes) + " bytes as JSON");
    return std::nullopt;
  }
  return text;
}

const nlohmann::json* FieldReader::OptionalObject(const char* name) {
  const nlohmann::json* value = Find(name);
  if (value && !value->is_object()) {
    TypeError(name, "an object");
    return nullptr;
  }
  return value;
}

const nlohmann::json* FieldReader::OptionalArray(const char* name) {
  const nlohmann::json* value = Find(name);
  if (value && !value->is_array()) {
    TypeError(name, "an array");
    return nullptr;
  }
  return value;
}

}  // namespace tollgate
