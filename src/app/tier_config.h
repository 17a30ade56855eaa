// The `tiers:` section of the YAML configuration file: tier settings that win over the stored
// ones at every start. Each item uses the field names of the tiers.* API (http/tier_json.h); only
// the fields it names change, on top of the stored tier of that name (or of a new custom tier):
//
//   default-tier: free
//   tiers:
//     - name: pro
//       ratelimits: [{name: requests, limit: 200, duration: 1000}]
//     - name: gold
//       includedQuota: 5000000
//       overagePolicy: throttle
//       throttleTo: pro
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "tiers/tier_service.h"

namespace tollgate {

// The field settings of the `tiers:` section of a YAML document (none when it has no such
// section). Problems are reported with locations "tiers[<index>].<field>".
Result<std::vector<UpdateTierParams>> ReadConfiguredTiers(const std::string& yaml_text, const std::string& origin);

// Reads the `tiers:` section of the file at `path` (if any) and applies it to `tiers`, then makes
// `default_tier` ("" = none) the default tier.
Status ApplyTierConfiguration(TierService& tiers, const std::string& path, const std::string& default_tier);

}  // namespace tollgate
