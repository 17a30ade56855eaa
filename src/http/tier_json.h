// JSON <-> tiers, in tollgate's own shape (tiers.* has no Unkey counterpart):
//   {name, description, ratelimits: [{name, limit, duration, algorithm}], includedQuota (null =
//    unlimited), overagePolicy: "block"|"allow"|"throttle", throttleTo (null when none),
//    gracePercent, pricing: {currency, baseFee (minor units), overageUnitPriceMicros}, builtin,
//    createdAt, updatedAt}
// The same reader serves the API and the `tiers:` section of the configuration file.
#pragma once

#include <nlohmann/json.hpp>

#include "http/field_reader.h"
#include "tiers/tier_service.h"

namespace tollgate {

nlohmann::json TierToJson(const Tier& tier);

// Reads "name" (required) and every other field that is present; null clears includedQuota (to
// unlimited) and throttleTo. Problems are recorded in `reader` with their locations.
UpdateTierParams ReadTierFields(FieldReader& reader);

}  // namespace tollgate
