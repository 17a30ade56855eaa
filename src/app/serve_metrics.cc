#include "app/serve_metrics.h"

#include "metrics/process_metrics.h"

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "unknown"
#endif
#ifndef TOLLGATE_REVISION
#define TOLLGATE_REVISION "unknown"
#endif

namespace tollgate {

void HealthProbes::AddCheck(std::string name, std::function<bool()> ok) {
  checks_.emplace_back(std::move(name), std::move(ok));
}

void HealthProbes::AddValue(std::string name, std::function<std::optional<double>()> read) {
  readers_.emplace_back(std::move(name), std::move(read));
}

void HealthProbes::Refresh() {
  // Values first (checks may read them), each published as soon as it is known; nothing runs
  // under the lock, so readers never wait on a probe.
  for (const auto& [name, read] : readers_) {
    std::optional<double> value = read();
    std::lock_guard lock(mu_);
    values_[name] = value;
  }
  std::vector<std::pair<std::string, bool>> results;
  for (const auto& [name, ok] : checks_) results.emplace_back(name, ok());
  std::lock_guard lock(mu_);
  results_ = std::move(results);
}

std::string HealthProbes::FirstFailing() const {
  std::lock_guard lock(mu_);
  if (results_.size() < checks_.size()) return checks_.front().first;  // not run yet
  for (const auto& [name, ok] : results_) {
    if (!ok) return name;
  }
  return "";
}

std::vector<std::pair<std::string, bool>> HealthProbes::Checks() const {
  std::lock_guard lock(mu_);
  return results_;
}

std::optional<double> HealthProbes::Value(const std::string& name) const {
  std::lock_guard lock(mu_);
  const auto it = values_.find(name);
  return it == values_.end() ? std::nullopt : it->second;
}

ServeMetrics::ServeMetrics()
    : http(registry),
      verifications(registry),
      limiter(registry),
      memory_decisions(limiter.ForBackend("memory")),
      usage_flush_duration(registry
                               .AddHistogram("tollgate_usage_flush_duration_seconds",
                                             "One cycle of the usage writer that wrote events to the store.", {},
                                             {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
                               .With()) {}

namespace {

using Emit = MetricsRegistry::Emit;

void AddGauge(MetricsRegistry& registry, std::string name, std::string help, std::function<double()> value) {
  registry.AddCallback(std::move(name), std::move(help), MetricType::kGauge, {},
                       [value = std::move(value)](const Emit& emit) { emit({}, value()); });
}

double SecondsSince(const Clock& clock, UnixMillis at) {
  return at == 0 ? 0.0 : std::max<double>(0, static_cast<double>(clock.NowMillis() - at) / 1000.0);
}

void AddUsageMetrics(MetricsRegistry& registry, const ScrapeSources& s) {
  UsageRecorder& usage = s.usage;
  AddGauge(registry, "tollgate_usage_buffered_events", "Usage events in memory, recorded but not yet written.",
           [&usage] { return static_cast<double>(usage.Counters().buffered); });
  AddGauge(registry, "tollgate_usage_flush_lag_seconds",
           "Age of the oldest usage event not yet in the store, as of the last write cycle (0: none).",
           [&usage, &clock = s.clock] { return SecondsSince(clock, usage.Counters().oldest_unwritten_at); });
  registry.AddCallback("tollgate_usage_flush_failures_total", "Usage batch writes the store refused.",
                       MetricType::kCounter, {}, [&usage](const Emit& emit) {
                         emit({}, static_cast<double>(usage.Counters().store_failures));
                       });
  registry.AddCallback("tollgate_usage_events_written_total", "Usage events written to the store.",
                       MetricType::kCounter, {}, [&usage](const Emit& emit) {
                         emit({}, static_cast<double>(usage.Counters().flushed));
                       });
  AddGauge(registry, "tollgate_usage_spill_bytes",
           "Size of the usage spill file: events waiting on disk while the store fails (0: none).",
           [&usage] { return static_cast<double>(usage.Counters().spill_bytes); });
}

void AddEventMetrics(MetricsRegistry& registry, const ScrapeSources& s) {
  registry.AddCallback(
      "tollgate_events_published_total",
      "Events the outbox relay published, by the broker's answer (in-process: every event is ack).",
      MetricType::kCounter, {"result"}, [amqp = s.amqp, &relay = s.relay](const Emit& emit) {
        if (amqp == nullptr) {
          emit({"ack"}, static_cast<double>(relay.published()));
          return;
        }
        const AmqpCounters& counters = amqp->counters();
        emit({"ack"}, static_cast<double>(counters.acked.load(std::memory_order_relaxed)));
        emit({"nack"}, static_cast<double>(counters.nacked.load(std::memory_order_relaxed)));
        emit({"returned"}, static_cast<double>(counters.returned.load(std::memory_order_relaxed)));
      });
  AddGauge(registry, "tollgate_events_bus_connected",
           "1 when the event bus is connected (RabbitMQ; always 1 in-process).",
           [amqp = s.amqp] { return amqp == nullptr || amqp->Connected() ? 1.0 : 0.0; });
  // Store-wide: every node reports the same value (alert on max without(instance)).
  s.probes.AddValue("outbox_oldest_pending_at", [&outbox = s.outbox]() -> std::optional<double> {
    auto oldest = outbox.OldestPendingOutboxAt();
    if (!oldest) return std::nullopt;  // the store is down: no sample rather than a wrong one
    return *oldest ? static_cast<double>(**oldest) : 0.0;
  });
  registry.AddCallback("tollgate_outbox_oldest_pending_age_seconds",
                       "Age of the oldest outbox event not yet published, as of the last probe (0: none pending; "
                       "store-wide, the same on every node).",
                       MetricType::kGauge, {}, [&probes = s.probes, &clock = s.clock](const Emit& emit) {
                         const auto oldest = probes.Value("outbox_oldest_pending_at");
                         if (oldest) emit({}, SecondsSince(clock, static_cast<UnixMillis>(*oldest)));
                       });
}

std::string ShardProbe(const RedisShardAddress& shard) { return "redis_shard_up:" + shard.name(); }

void AddRedisMetrics(MetricsRegistry& registry, const RedisCounterStore& redis, const HealthProbes& probes) {
  registry.AddCallback("tollgate_redis_shard_up", "1 when the Redis shard answered the last PING (once a second).",
                       MetricType::kGauge, {"shard"}, [&redis, &probes](const Emit& emit) {
                         for (const RedisShardAddress& shard : redis.shards()) {
                           if (auto up = probes.Value(ShardProbe(shard))) emit({shard.name()}, *up);
                         }
                       });
}

void AddReadinessMetrics(MetricsRegistry& registry, const HealthProbes& probes) {
  registry.AddCallback("tollgate_readiness_check_ok",
                       "1 per readiness check that passed its last run (what /readyz reports; once a second).",
                       MetricType::kGauge, {"check"}, [&probes](const Emit& emit) {
                         for (const auto& [name, ok] : probes.Checks()) emit({name}, ok ? 1.0 : 0.0);
                       });
  registry.AddCallback("tollgate_ready", "1 when /readyz answers 200.", MetricType::kGauge, {},
                       [&probes](const Emit& emit) { emit({}, probes.FirstFailing().empty() ? 1.0 : 0.0); });
}

}  // namespace

void AddAlertMetrics(MetricsRegistry& registry, const AlertMonitor& monitor, const WebhookDispatcher& webhooks,
                     AlertStore& store, HealthProbes& probes) {
  registry.AddCallback("tollgate_alerts_fired_total", "Customer alerts this node fired, by rule kind.",
                       MetricType::kCounter, {"kind"}, [&monitor](const Emit& emit) {
                         const AlertMonitorCounters counters = monitor.Counters();
                         for (const AlertKind kind :
                              {AlertKind::kQuotaPercent, AlertKind::kCreditsBelow, AlertKind::kRatelimitBreaches}) {
                           emit({std::string(AlertKindName(kind))},
                                static_cast<double>(counters.fired[static_cast<std::size_t>(kind)]));
                         }
                       });
  registry.AddCallback("tollgate_webhook_deliveries_total",
                       "Webhook delivery attempts by outcome: delivered (2xx), retried (failed, tried again), "
                       "failed (failed, given up).",
                       MetricType::kCounter, {"result"}, [&webhooks](const Emit& emit) {
                         const WebhookDeliveryCounters counters = webhooks.Counters();
                         emit({"delivered"}, static_cast<double>(counters.delivered));
                         emit({"retried"}, static_cast<double>(counters.retried));
                         emit({"failed"}, static_cast<double>(counters.failed));
                       });
  probes.AddValue("webhook_pending_deliveries", [&store]() -> std::optional<double> {
    auto pending = store.CountPendingDeliveries();
    return pending ? std::optional<double>(static_cast<double>(*pending)) : std::nullopt;
  });
  registry.AddCallback("tollgate_webhook_pending_deliveries",
                       "Webhook deliveries waiting to be sent or retried, as of the last probe (store-wide, the "
                       "same on every node).",
                       MetricType::kGauge, {}, [&probes](const Emit& emit) {
                         if (auto pending = probes.Value("webhook_pending_deliveries")) emit({}, *pending);
                       });
}

void AddRedisProbes(HealthProbes& probes, const RedisCounterStore& redis) {
  for (std::size_t i = 0; i < redis.shards().size(); ++i) {
    probes.AddValue(ShardProbe(redis.shards()[i]), [&redis, i]() -> std::optional<double> {
      return redis.PingShard(i, std::chrono::milliseconds(100)) ? 1.0 : 0.0;
    });
  }
  probes.AddCheck("limiter", [&redis, &probes] {
    for (const RedisShardAddress& shard : redis.shards()) {
      if (probes.Value(ShardProbe(shard)) != 1.0) return false;
    }
    return true;
  });
}

void AddScrapedMetrics(MetricsRegistry& registry, const ScrapeSources& s) {
  registry.AddCallback("tollgate_build_info", "tollgate's version and git revision (always 1).", MetricType::kGauge,
                       {"version", "revision"},
                       [](const Emit& emit) { emit({TOLLGATE_VERSION, TOLLGATE_REVISION}, 1); });
  AddProcessMetrics(registry);
  AddGauge(registry, "tollgate_http_connections", "Open client connections.",
           [connections = s.open_connections] { return static_cast<double>(connections()); });
  AddGauge(registry, "tollgate_keys_cached", "Keys in the verify cache.",
           [&keys = s.keys] { return static_cast<double>(keys.cache().Size()); });
  AddUsageMetrics(registry, s);
  AddEventMetrics(registry, s);
  if (s.redis != nullptr) AddRedisMetrics(registry, *s.redis, s.probes);
  AddReadinessMetrics(registry, s.probes);
}

}  // namespace tollgate
