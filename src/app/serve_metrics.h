// The Prometheus metrics and the readiness of one `tollgate serve` process. The hot-path
// instruments (HTTP durations, verifications, limiter decisions, usage flushes) are objects the
// components are given; everything else is read from the components when /metrics is scraped,
// so it costs nothing between scrapes. The metric names are documented in README ("Monitoring")
// and are the contract of deploy/prometheus/alerts.yml and deploy/grafana/tollgate.json.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "alerts/alert_monitor.h"
#include "alerts/alert_store.h"
#include "alerts/webhook_dispatcher.h"
#include "events/amqp/amqp_event_bus.h"
#include "events/outbox_relay.h"
#include "events/outbox_store.h"
#include "http/http_metrics.h"
#include "keys/key_service.h"
#include "limiter/limiter_metrics.h"
#include "limiter/redis/redis_counter_store.h"
#include "metrics/registry.h"
#include "usage/usage_recorder.h"
#include "verify/verification_metrics.h"

namespace tollgate {

// What costs a store query or a network round trip to learn: the readiness checks (the store's
// ping, the broker's connection, a PING per Redis shard) and store-wide values (the outbox's
// oldest pending event, webhook deliveries waiting). Refresh() runs them all, on the maintenance
// thread that calls it every second; /readyz and /metrics only read what the last run found, so a
// store that hangs or a shard that does not answer never blocks a worker's event loop (the
// verifications on it) or a scrape. Thread-safe.
class HealthProbes {
 public:
  // A readiness check, run in the order added. It may read Value() (values are refreshed first).
  void AddCheck(std::string name, std::function<bool()> ok);
  // A value; nullopt when it could not be read (no sample is then exported).
  void AddValue(std::string name, std::function<std::optional<double>()> read);
  void Refresh();

  // The name of the first failing check as of the last Refresh, or "" when all passed. Before the
  // first Refresh every check counts as failing.
  std::string FirstFailing() const;
  std::vector<std::pair<std::string, bool>> Checks() const;
  std::optional<double> Value(const std::string& name) const;

 private:
  std::vector<std::pair<std::string, std::function<bool()>>> checks_;  // written before serving
  std::vector<std::pair<std::string, std::function<std::optional<double>()>>> readers_;  // likewise
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, bool>> results_;            // guarded by mu_
  std::map<std::string, std::optional<double>, std::less<>> values_;  // guarded by mu_
};

// The registry and the instruments the components are handed at start.
struct ServeMetrics {
  ServeMetrics();
  MetricsRegistry registry;
  HttpMetrics http;
  VerificationMetrics verifications;
  LimiterMetrics limiter;
  LimiterDecisions memory_decisions;
  Histogram& usage_flush_duration;
};

// What the scrape-time metrics read; all borrowed for the registry's life.
struct ScrapeSources {
  UsageRecorder& usage;
  KeyService& keys;
  OutboxStore& outbox;
  OutboxRelay& relay;
  const AmqpEventBus* amqp = nullptr;        // nullptr: the in-process bus
  const RedisCounterStore* redis = nullptr;  // nullptr: the in-memory limiter
  std::function<std::size_t()> open_connections;
  HealthProbes& probes;  // AddScrapedMetrics adds its store-wide values to it
  Clock& clock;
};
// Registers build info, process metrics and the scrape-time gauges and counters.
void AddScrapedMetrics(MetricsRegistry& registry, const ScrapeSources& sources);
// Customer alerts fired, webhook delivery attempts and the deliveries waiting; all borrowed for
// the registry's life.
void AddAlertMetrics(MetricsRegistry& registry, const AlertMonitor& monitor, const WebhookDispatcher& webhooks,
                     AlertStore& store, HealthProbes& probes);
// The probes of a Redis limiter: "redis_shard_up:<shard>" per shard, and the "limiter" check.
void AddRedisProbes(HealthProbes& probes, const RedisCounterStore& redis);

}  // namespace tollgate
