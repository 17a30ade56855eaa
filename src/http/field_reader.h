// Validation at the edge: reads typed fields out of a JSON object and collects every problem,
// with the field's location ("body.credits.remaining") and a message a person can act on, so a
// caller fixes all of them in one round trip. A reader never throws.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace tollgate {

class FieldReader {
 public:
  // `object` must outlive the reader. `location` is the dotted path of the object itself.
  FieldReader(const nlohmann::json& object, std::string location, std::vector<FieldError>& errors)
      : object_(object), location_(std::move(location)), errors_(errors) {}

  bool Has(const char* name) const { return object_.contains(name); }
  bool IsNull(const char* name) const { return Has(name) && object_.at(name).is_null(); }
  std::string At(const char* name) const { return location_ + "." + name; }

  std::string RequiredString(const char* name, std::size_t min_length = 1, std::size_t max_length = 1024);
  std::optional<std::string> OptionalString(const char* name, std::size_t min_length = 0,
                                            std::size_t max_length = 1024);
  std::int64_t RequiredInt(const char* name, std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                           std::int64_t max = std::numeric_limits<std::int64_t>::max());
  std::optional<std::int64_t> OptionalInt(const char* name,
                                          std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                                          std::int64_t max = std::numeric_limits<std::int64_t>::max());
  std::optional<bool> OptionalBool(const char* name);
  std::optional<std::vector<std::string>> OptionalStringArray(const char* name, std::size_t max_items = 1000);
  // A JSON object, returned as compact text ("" when absent).
  std::optional<std::string> OptionalObjectText(const char* name, std::size_t max_bytes = 65536);
  // Pointers to sub-values of the expected type, or nullptr (an error is recorded if mistyped).
  const nlohmann::json* OptionalObject(const char* name);
  const nlohmann::json* OptionalArray(const char* name);

  void AddError(const std::string& location, std::string message, std::string fix = "") {
    errors_.push_back({location, std::move(message), std::move(fix)});
  }
  bool ok() const { return errors_.empty(); }

 private:
  const nlohmann::json* Find(const char* name) const;
  void TypeError(const char* name, const char* expected);

  const nlohmann::json& object_;
  std::string location_;
  std::vector<FieldError>& errors_;
};

}  // namespace tollgate
