#include "http/key_json.h"

namespace tollgate {

nlohmann::json CreditsToJson(const std::optional<Credits>& credits) {
  if (!credits) return {{"remaining", nullptr}};
  nlohmann::json out = {{"remaining", credits->remaining}};
  if (credits->refill) {
    nlohmann::json refill = {
        {"interval", credits->refill->interval == RefillInterval::kDaily ? "daily" : "monthly"},
        {"amount", credits->refill->amount}};
    if (credits->refill->interval == RefillInterval::kMonthly) refill["refillDay"] = credits->refill->refill_day;
    out["refill"] = std::move(refill);
  }
  return out;
}

// The JsonOut forms below print what the nlohmann forms build, field for field (the verify
// answer's identity; tests/unit/http/json_out_test.cc compares them).
void WriteRateLimits(JsonOut& out, const std::vector<RateLimitConfig>& limits) {
  out.StartArray();
  for (const RateLimitConfig& limit : limits) {
    out.StartObject()
        .Field("id", limit.id)
        .Field("name", limit.name)
        .Field("limit", limit.limit)
        .Field("duration", limit.duration_ms)
        .Field("autoApply", limit.auto_apply)
        .Field("algorithm", RateLimitAlgorithmName(limit.algorithm))
        .EndObject();
  }
  out.EndArray();
}

void WriteIdentity(JsonOut& out, const Identity& identity) {
  out.StartObject().Field("id", identity.id).Field("externalId", identity.external_id);
  if (!identity.meta_json.empty()) out.Key("meta").Raw(identity.meta_json);
  out.Key("ratelimits");
  WriteRateLimits(out, identity.ratelimits);
  if (!identity.tier.empty()) out.Field("tier", identity.tier);
  out.Field("billingCycle", identity.anniversary_billing ? "anniversary" : "calendar");
  out.EndObject();
}

nlohmann::json RateLimitsToJson(const std::vector<RateLimitConfig>& limits) {
  nlohmann::json out = nlohmann::json::array();
  for (const RateLimitConfig& limit : limits) {
    out.push_back({{"id", limit.id}, {"name", limit.name}, {"limit", limit.limit},
                   {"duration", limit.duration_ms}, {"autoApply", limit.auto_apply},
                   {"algorithm", RateLimitAlgorithmName(limit.algorithm)}});
  }
  return out;
}

nlohmann::json IdentityToJson(const Identity& identity) {
  nlohmann::json out = {{"id", identity.id}, {"externalId", identity.external_id}};
  if (!identity.meta_json.empty()) out["meta"] = nlohmann::json::parse(identity.meta_json, nullptr, false);
  out["ratelimits"] = RateLimitsToJson(identity.ratelimits);
  if (!identity.tier.empty()) out["tier"] = identity.tier;
  out["billingCycle"] = identity.anniversary_billing ? "anniversary" : "calendar";
  return out;
}

nlohmann::json KeyToJson(const Key& key, const std::optional<Identity>& identity) {
  nlohmann::json out = {{"keyId", key.id}, {"start", key.start}, {"enabled", key.enabled},
                        {"createdAt", key.created_at}};
  if (!key.name.empty()) out["name"] = key.name;
  if (!key.meta_json.empty()) out["meta"] = nlohmann::json::parse(key.meta_json, nullptr, false);
  if (key.updated_at != 0) out["updatedAt"] = key.updated_at;
  if (key.expires) out["expires"] = *key.expires;
  out["permissions"] = key.permissions;
  out["roles"] = key.roles;
  if (key.credits) out["credits"] = CreditsToJson(key.credits);
  if (identity) out["identity"] = IdentityToJson(*identity);
  if (!key.ratelimits.empty()) out["ratelimits"] = RateLimitsToJson(key.ratelimits);
  if (!key.tier.empty()) out["tier"] = key.tier;
  return out;
}

std::optional<Credits> ReadCredits(const nlohmann::json& object, const std::string& location, FieldReader& parent) {
  std::vector<FieldError> errors;
  FieldReader reader(object, location, errors);
  Credits credits;
  if (!reader.Has("remaining") || reader.IsNull("remaining")) return std::nullopt;  // null: unlimited
  credits.remaining = reader.OptionalInt("remaining", 0).value_or(0);
  if (const nlohmann::json* refill_json = reader.OptionalObject("refill")) {
    FieldReader refill_reader(*refill_json, location + ".refill", errors);
    CreditRefill refill;
    const std::string interval = refill_reader.RequiredString("interval");
    if (interval == "daily") {
      refill.interval = RefillInterval::kDaily;
    } else if (interval == "monthly") {
      refill.interval = RefillInterval::kMonthly;
    } else if (!interval.empty()) {
      refill_reader.AddError(location + ".refill.interval", "must be \"daily\" or \"monthly\"");
    }
    refill.amount = refill_reader.RequiredInt("amount", 1);
    const auto day = refill_reader.OptionalInt("refillDay", 1, 31);
    if (day && refill.interval == RefillInterval::kDaily) {
      refill_reader.AddError(location + ".refill.refillDay", "applies only to the monthly interval");
    }
    refill.refill_day = static_cast<unsigned>(day.value_or(1));
    credits.refill = refill;
  }
  for (auto& e : errors) parent.AddError(e.location, e.message, e.fix);
  return credits;
}

std::vector<RateLimitConfig> ReadRateLimits(const nlohmann::json& array, const std::string& location,
                                            FieldReader& parent) {
  std::vector<RateLimitConfig> limits;
  std::vector<FieldError> errors;
  for (std::size_t i = 0; i < array.size(); ++i) {
    const std::string at = location + "[" + std::to_string(i) + "]";
    if (!array[i].is_object()) {
      errors.push_back({at, "must be an object {name, limit, duration}", ""});
      continue;
    }
    FieldReader reader(array[i], at, errors);
    RateLimitConfig limit;
    limit.name = reader.RequiredString("name", 1, 128);
    limit.limit = reader.RequiredInt("limit", 1);
    limit.duration_ms = reader.RequiredInt("duration", 1000);
    limit.auto_apply = reader.OptionalBool("autoApply").value_or(false);
    if (const auto algorithm = reader.OptionalString("algorithm")) {
      if (const auto parsed = ParseRateLimitAlgorithm(*algorithm)) {
        limit.algorithm = *parsed;
      } else {
        reader.AddError(at + ".algorithm", "must be \"sliding_window\", \"token_bucket\", \"fixed_window\" or \"gcra\"");
      }
    }
    limits.push_back(std::move(limit));
  }
  for (auto& e : errors) parent.AddError(e.location, e.message, e.fix);
  return limits;
}

}  // namespace tollgate
