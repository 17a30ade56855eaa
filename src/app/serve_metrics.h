// The Prometheus metrics and the readiness of one `tollgate serve` process. The hot-path
// instruments (HTTP durations, verifications, limiter decisions, usage flushes) are objects the
// components are given; everything else is read from the components when /metrics is scraped,
// so it costs nothing between scrapes. The metric names are documented in README ("Monitoring")
// and are the contract of deploy/prometheus/alerts.yml and deploy/grafana/tollgate.json.
#pragma once

#include <chrono>
#include <functional>
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

// The named checks /readyz runs, in order. A check is a function that answers quickly (a store
// ping, a broker's connection state, a PING per Redis shard) and may block its caller briefly.
class Readiness {
 public:
  void Add(std::string name, std::function<bool()> ok) { checks_.emplace_back(std::move(name), std::move(ok)); }
  // The name of the first failing check, or "" when all pass.
  std::string FirstFailing() const;
  // Every check's result, in order.
  std::vector<std::pair<std::string, bool>> Run() const;

 private:
  std::vector<std::pair<std::string, std::function<bool()>>> checks_;
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
  const Readiness& readiness;
  Clock& clock;
};
// Registers build info, process metrics and the scrape-time gauges and counters.
void AddScrapedMetrics(MetricsRegistry& registry, const ScrapeSources& sources);
// Customer alerts fired, webhook delivery attempts and the deliveries waiting; all borrowed for
// the registry's life.
void AddAlertMetrics(MetricsRegistry& registry, const AlertMonitor& monitor, const WebhookDispatcher& webhooks,
                     AlertStore& store);

}  // namespace tollgate
