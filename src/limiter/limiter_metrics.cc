#include "limiter/limiter_metrics.h"

namespace tollgate {

LimiterDecisions::LimiterDecisions(CounterFamily& family, const std::string& backend)
    : allowed_(family.With({backend, "allowed"})),
      limited_(family.With({backend, "limited"})),
      fail_open_(family.With({backend, "fail_open"})),
      fail_closed_(family.With({backend, "fail_closed"})),
      local_(family.With({backend, "local"})) {}

void LimiterDecisions::Decided(std::span<const LimitDecision> decisions) {
  for (const LimitDecision& decision : decisions) {
    if (!decision.allowed) {
      limited_.Inc();
      return;
    }
  }
  allowed_.Inc();
}

void LimiterDecisions::FellBack(LimiterFailurePolicy policy) {
  switch (policy) {
    case LimiterFailurePolicy::kFailOpen: fail_open_.Inc(); break;
    case LimiterFailurePolicy::kFailClosed: fail_closed_.Inc(); break;
    case LimiterFailurePolicy::kLocal: local_.Inc(); break;
  }
}

LimiterMetrics::LimiterMetrics(MetricsRegistry& registry)
    : decisions_(registry.AddCounter("tollgate_limiter_decisions_total",
                                     "Rate limiter decisions by backend; fail_* and local: answered by the failure "
                                     "policy because Redis could not be asked.",
                                     {"backend", "decision"})),
      redis_duration_(registry.AddHistogram("tollgate_redis_command_duration_seconds",
                                            "Round trip of one batched limiter call (EVALSHA) to a Redis shard.",
                                            {"shard"}, LatencyBuckets())),
      redis_errors_(registry.AddCounter("tollgate_redis_errors_total",
                                        "Limiter calls to a Redis shard that failed, by kind (timeout, error, "
                                        "breaker_open: not sent while the circuit breaker is open).",
                                        {"shard", "kind"})) {}

RedisShardMetrics LimiterMetrics::ForShard(const std::string& shard) {
  return {&redis_duration_.With({shard}), &redis_errors_.With({shard, "timeout"}),
          &redis_errors_.With({shard, "error"}), &redis_errors_.With({shard, "breaker_open"})};
}

bool ChargesAnything(std::span<const LimitCheck> checks) {
  for (const LimitCheck& check : checks) {
    if (check.cost > 0) return true;
  }
  return false;
}

}  // namespace tollgate
