// What the key domain needs to know about tiers: which names exist. Keys and identities refer to
// a tier by name only; TierService (src/tiers/) implements this, so keys/ does not depend on tiers/.
#pragma once

#include <string_view>

namespace tollgate {

class TierNames {
 public:
  virtual ~TierNames() = default;
  // Safe to call from any thread.
  virtual bool Contains(std::string_view name) const = 0;
};

}  // namespace tollgate
