// How alert evaluation hears of what changed without a single instruction on the verify path:
// decorators over two stores that the background writers already call. QuotaStoreTap reports the
// counters the QuotaTracker writes back each second (exactly the subjects whose count changed),
// UsageStoreTap the usage events the UsageRecorder wrote (RATE_LIMITED answers, keys whose
// credits a verification may have changed). Each forwards to the real store and reports only
// what it accepted, on the writer's thread.
#pragma once

#include <functional>
#include <span>

#include "usage/usage_store.h"
#include "verify/quota_store.h"

namespace tollgate {

class QuotaStoreTap final : public QuotaStore {
 public:
  using Saved = std::function<void(std::span<const QuotaRow>)>;
  QuotaStoreTap(QuotaStore& inner, Saved saved) : inner_(inner), saved_(std::move(saved)) {}

  Result<std::vector<QuotaRow>> LoadQuotaUsage(int period) override { return inner_.LoadQuotaUsage(period); }
  Status SaveQuotaUsage(std::span<const QuotaRow> rows) override;

 private:
  QuotaStore& inner_;
  Saved saved_;
};

class UsageStoreTap final : public UsageStore {
 public:
  using Written = std::function<void(std::span<const UsageEvent>)>;
  UsageStoreTap(UsageStore& inner, Written written) : inner_(inner), written_(std::move(written)) {}

  Status WriteUsage(std::span<const UsageEvent> events) override;
  Status PruneRawUsage(UnixMillis older_than) override { return inner_.PruneRawUsage(older_than); }

 private:
  UsageStore& inner_;
  Written written_;
};

}  // namespace tollgate
