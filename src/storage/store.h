// The whole persistent state of tollgate behind one object. Each domain sees only its own
// interface (KeyStore, RootKeyStore, TierStore, ...); app/ creates the concrete Store from the
// --store URL.
#pragma once

#include <memory>

#include "alerts/alert_store.h"
#include "auth/root_key_store.h"
#include "billing/billing_store.h"
#include "events/outbox_store.h"
#include "keys/key_store.h"
#include "ratelimit/ratelimit_store.h"
#include "verify/quota_store.h"
#include "tiers/tier_store.h"
#include "usage/meter_store.h"
#include "usage/usage_export_store.h"
#include "usage/usage_query_store.h"
#include "usage/usage_store.h"

namespace tollgate {

class Store : public KeyStore, public RootKeyStore, public TierStore, public QuotaStore,
              public RatelimitStore, public UsageStore,
              public UsageQueryStore, public MeterStore, public BillingStore, public UsageExportStore,
              public AlertStore, public OutboxStore {
 public:
  // Answers whether the store is reachable right now (for /readyz).
  virtual Status Ping() = 0;
  // The schema version after migrations ran.
  virtual Result<int> SchemaVersion() = 0;
};
using StorePtr = std::unique_ptr<Store>;

}  // namespace tollgate
