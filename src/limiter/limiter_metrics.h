// The limiter's Prometheus metrics. One LimiterMetrics per process registers the families; each
// counter store takes the counters of its backend (ForBackend) and, for Redis, of each shard
// (ForShard), resolved once at construction so the hot path only adds to a counter.
#pragma once

#include <span>
#include <string>

#include "limiter/counter_store.h"
#include "metrics/registry.h"

namespace tollgate {

// tollgate_limiter_decisions_total{backend, decision}: one decision per call that charges
// something (peeks, which charge nothing, decide nothing).
class LimiterDecisions {
 public:
  LimiterDecisions(CounterFamily& family, const std::string& backend);
  // allowed when every check of the call was.
  void Decided(std::span<const LimitDecision> decisions);
  // A call answered by `policy` because the shared state could not be reached.
  void FellBack(LimiterFailurePolicy policy);

 private:
  Counter& allowed_;
  Counter& limited_;
  Counter& fail_open_;
  Counter& fail_closed_;
  Counter& local_;
};

// One Redis shard's round trips and failures.
struct RedisShardMetrics {
  Histogram* duration = nullptr;      // tollgate_redis_command_duration_seconds{shard}
  Counter* timeouts = nullptr;        // tollgate_redis_errors_total{shard, kind="timeout"}
  Counter* errors = nullptr;          // kind="error": refused, dropped or an error reply
  Counter* breaker_open = nullptr;    // kind="breaker_open": failed fast, not sent
};

class LimiterMetrics {
 public:
  explicit LimiterMetrics(MetricsRegistry& registry);
  LimiterDecisions ForBackend(const std::string& backend) { return LimiterDecisions(decisions_, backend); }
  RedisShardMetrics ForShard(const std::string& shard);

 private:
  CounterFamily& decisions_;
  HistogramFamily& redis_duration_;
  CounterFamily& redis_errors_;
};

// True when any check of the call charges something.
bool ChargesAnything(std::span<const LimitCheck> checks);

}  // namespace tollgate
