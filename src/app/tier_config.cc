#include "app/tier_config.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "http/field_reader.h"
#include "http/tier_json.h"

namespace tollgate {
namespace {

// YAML scalars carry no type; this reads them the way YAML 1.2's core schema does for the types
// the tier fields use: null, booleans, integers, and everything else (or anything quoted) as text.
nlohmann::json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted: always a string
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  std::int64_t number = 0;
  const char* end = text.data() + text.size();
  if (auto [ptr, ec] = std::from_chars(text.data(), end, number); ec == std::errc() && ptr == end) return number;
  return text;
}

nlohmann::json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return ScalarToJson(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node) array.push_back(YamlToJson(item));
      return array;
    }
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& entry : node) object[entry.first.as<std::string>()] = YamlToJson(entry.second);
      return object;
    }
    default: return nullptr;
  }
}

}  // namespace

Result<std::vector<UpdateTierParams>> ReadConfiguredTiers(const std::string& yaml_text, const std::string& origin) {
  nlohmann::json section;
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap() || !root["tiers"]) return std::vector<UpdateTierParams>{};
    section = YamlToJson(root["tiers"]);
  } catch (const YAML::Exception& e) {
    return Fail(Error::InvalidInput(origin + ": not valid YAML: " + e.what()));
  }
  if (!section.is_array()) {
    return Fail(Error::InvalidInput(origin + ": 'tiers' must be a list of tiers, each with a name",
                                    {{"tiers", "must be a list", "start each tier with '- name: ...'"}}));
  }
  std::vector<FieldError> errors;
  std::vector<UpdateTierParams> tiers;
  for (std::size_t i = 0; i < section.size(); ++i) {
    const std::string at = "tiers[" + std::to_string(i) + "]";
    if (!section[i].is_object()) {
      errors.push_back({at, "must be a mapping of tier fields", ""});
      continue;
    }
    FieldReader reader(section[i], at, errors);
    tiers.push_back(ReadTierFields(reader));
  }
  if (auto status = FieldErrorsToStatus(std::move(errors)); !status) {
    status.error().detail = origin + ": " + status.error().detail;
    return Fail(std::move(status.error()));
  }
  return tiers;
}

Status ApplyTierConfiguration(TierService& tiers, const std::string& path, const std::string& default_tier) {
  if (!path.empty()) {
    std::ifstream file(path);
    if (!file) return Fail(Error::InvalidInput("cannot read the config file '" + path + "'"));
    std::stringstream text;
    text << file.rdbuf();
    auto configured = ReadConfiguredTiers(text.str(), path);
    if (!configured) return Fail(std::move(configured.error()));
    if (!configured->empty()) {
      std::vector<Tier> overlaid;
      for (UpdateTierParams& params : *configured) {
        Tier tier;
        tier.name = params.name;
        if (auto stored = tiers.GetTier(params.name)) tier = std::move(*stored);
        ApplyTierUpdate(tier, std::move(params));
        overlaid.push_back(std::move(tier));
      }
      if (auto status = tiers.ApplyConfiguredTiers(std::move(overlaid)); !status) {
        status.error().detail = path + ": " + status.error().detail;
        return status;
      }
    }
  }
  return tiers.SetDefaultTier(default_tier);
}

}  // namespace tollgate
