#include <utility>  // before Boost, see DESIGN.md

#include "app/serve.h"

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <span>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/logging.h"
#include "app/serve_metrics.h"
#include "app/tier_config.h"
#include "alerts/alert_facts.h"
#include "alerts/alert_monitor.h"
#include "alerts/alert_service.h"
#include "alerts/store_taps.h"
#include "alerts/webhook_dispatcher.h"
#include "auth/root_key_service.h"
#include "common/calendar.h"
#include "common/text.h"
#include "events/amqp/amqp_event_bus.h"
#include "events/event_inbox.h"
#include "events/inprocess/in_process_event_bus.h"
#include "events/outbox_relay.h"
#include "http/dashboard_routes.h"
#include "http/routes.h"
#include "http/server.h"
#include "keys/key_service.h"
#include "limiter/memory_counter_store.h"
#include "limiter/redis/redis_counter_store.h"
#include "ratelimit/ratelimit_service.h"
#include "verify/quota_tracker.h"
#include "verify/verifier.h"
#include "app/periodic_task.h"
#include "storage/domain_events.h"
#include "storage/postgres/postgres_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"
#include "usage/usage_recorder.h"

namespace tollgate {
namespace {

// --usage-spill-file, else <dir of the database>/usage-spill.ndjson; for an in-memory store,
// ./usage-spill.ndjson; for PostgreSQL, ./data/usage-spill.ndjson.
std::string UsageSpillPath(const ServeConfig& config, const StoreUrl& store) {
  if (!config.usage_spill_file.empty()) return config.usage_spill_file;
  if (store.kind == StoreUrl::Kind::kPostgres) return "data/usage-spill.ndjson";
  if (store.sqlite_path == kSqliteInMemoryPath) return "usage-spill.ndjson";
  return (std::filesystem::path(store.sqlite_path).parent_path() / "usage-spill.ndjson").string();
}

Result<StorePtr> OpenStore(const StoreUrl& url, const ServeConfig& config) {
  if (url.kind == StoreUrl::Kind::kPostgres) {
    auto store = PostgresStore::Open(url.conninfo, PostgresOptions{.pool_size = config.store_pool_size});
    if (!store) return Fail(std::move(store.error()));
    return StorePtr(std::move(*store));
  }
  auto store = SqliteStore::Open(url.sqlite_path);
  if (!store) return Fail(std::move(store.error()));
  return StorePtr(std::move(*store));
}

// --node, else <hostname>-<port>: stable across restarts, so a node finds its queue again.
// With --listen :0 the port says nothing, so the pid tells nodes on one host apart.
std::string NodeName(const ServeConfig& config, unsigned short port) {
  if (!config.node.empty()) return config.node;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "tollgate");
  return std::string(host) + "-" + (port != 0 ? std::to_string(port) : "pid" + std::to_string(getpid()));
}

Result<EventBusPtr> OpenEventBus(const ServeConfig& config, const std::string& node) {
  if (config.events == "inprocess") return EventBusPtr(std::make_unique<InProcessEventBus>());
  if (config.events.starts_with("amqp://") || config.events.starts_with("amqps://")) {
    auto bus = AmqpEventBus::Connect({.url = config.events, .node = node});
    if (!bus) return Fail(std::move(bus.error()));
    return EventBusPtr(std::move(*bus));
  }
  return Fail(Error::InvalidInput("--events: use inprocess, or amqp://user:password@host:5672/vhost"));
}

}  // namespace

int RunServe(const ServeConfig& config) {
  SetUpLogging(config.log_format, config.log_level);

  auto fail = [](const Error& error) {
    spdlog::critical("cannot start: {}", error.detail);
    return 1;
  };
  auto server_options = ToServerOptions(config);
  if (!server_options) return fail(server_options.error());
  // --metrics false records nothing at all (the hot path skips every instrument): what the
  // benchmark compares against.
  std::unique_ptr<ServeMetrics> metrics = config.metrics ? std::make_unique<ServeMetrics>() : nullptr;
  if (metrics) {
    server_options->on_answer = [&http = metrics->http](std::string_view route, unsigned status,
                                                        std::chrono::nanoseconds elapsed) {
      http.Observe(route, status, elapsed);
    };
  }

  // SIGTERM/SIGINT are waited for on this thread's io_context, registered before anything slow
  // so an early signal is not lost.
  boost::asio::io_context signals_ioc(1);
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);

  auto store_url = ParseStoreUrl(config.store);
  if (!store_url) return fail(store_url.error());
  // Every event this node writes carries its name, so that it can skip its own changes when they
  // come back through the bus.
  const std::string node = NodeName(config, server_options->port);
  storage::SetEventOrigin(node);
  auto store = OpenStore(*store_url, config);
  if (!store) return fail(store.error());
  SystemClock clock;
  auto events = OpenEventBus(config, node);
  if (!events) return fail(events.error());
  // Where this node starts following other nodes' changes: before it loads anything, so that a
  // change committed while it loads is applied after (reloading twice is harmless; missing one
  // would leave, say, a revoked key valid here).
  auto follow_from = (*store)->LatestOutboxSeq();
  if (!follow_from) return fail(follow_from.error());

  auto root_keys = RootKeyService::Create(**store, clock);
  if (!root_keys) return fail(root_keys.error());
  auto bootstrap = (*root_keys)->Bootstrap(config.root_key);
  if (!bootstrap) return fail(bootstrap.error());
  if (*bootstrap) {
    // The only time a root key's plaintext leaves the process: on stdout, never in the log.
    std::cout << "tollgate: created the first root key. It is shown once; store it now:\n"
              << "TOLLGATE_ROOT_KEY=" << **bootstrap << std::endl;
  }
  // Tiers before keys: keys and identities name tiers, and KeyService checks those names.
  auto tiers = TierService::Create(**store, clock);
  if (!tiers) return fail(tiers.error());
  if (auto configured = ApplyTierConfiguration(**tiers, config.config_file, config.default_tier); !configured) {
    return fail(configured.error());
  }
  auto keys = KeyService::Create(**store, clock, tiers->get());
  if (!keys) return fail(keys.error());

  // The verify path's state: rate-limit counters in this node's memory, or in Redis shards shared
  // by every node (--limiter redis://...); quota counters loaded from the store and written back
  // by the maintenance thread below. The in-memory store also throttles unknown keys on
  // keys.authorize, which stays per node whatever --limiter says.
  auto shards = ParseLimiterUrl(config.limiter);
  if (!shards) return fail(shards.error());
  auto policies = ParseFailurePolicies(config.limiter_failure_policy);
  if (!policies) return fail(policies.error());
  MemoryCounterStore local_limiter;
  if (metrics) local_limiter.SetMetrics(&metrics->memory_decisions);
  std::unique_ptr<RedisCounterStore> redis_limiter;
  if (!shards->empty()) {
    RedisLimiterOptions options;
    options.shards = *shards;
    options.mode = config.limiter_mode == "lease" ? LimiterMode::kLease : LimiterMode::kExact;
    options.timeout = std::chrono::milliseconds(config.limiter_timeout_ms);
    options.lease_percent = config.limiter_lease_percent;
    options.expected_nodes = config.limiter_expected_nodes;
    if (metrics) options.metrics = &metrics->limiter;
    redis_limiter = std::make_unique<RedisCounterStore>(std::move(options));
  }
  CounterStore& limiter = redis_limiter ? static_cast<CounterStore&>(*redis_limiter) : local_limiter;
  // Customer alerts (alerts/) hear of changed quota counters and of written usage through taps on
  // the stores that the background writers use: nothing is added to the verify path.
  AlertMonitor alert_monitor(**store, clock, {.node = node});
  QuotaStoreTap quota_tap(**store, [&alert_monitor](std::span<const QuotaRow> rows) { alert_monitor.QuotaSaved(rows); });
  QuotaTracker quota(quota_tap);
  if (auto loaded = quota.Load(QuotaPeriodOf(clock.NowMillis())); !loaded) return fail(loaded.error());
  Verifier verifier(**keys, **tiers, limiter, quota, clock, *policies);
  UnixMillis last_prune = 0;  // touched only by the maintenance thread
  PeriodicTask maintenance(std::chrono::seconds(1), [&] {
    if (auto flushed = quota.Flush(); !flushed) spdlog::warn("quota counters not saved yet: {}", flushed.error().detail);
    if (auto flushed = (*keys)->FlushCredits(); !flushed) spdlog::warn("credit balances not saved yet: {}", flushed.error().detail);
    local_limiter.Sweep(clock.NowMillis(), 4096);
    if (redis_limiter) redis_limiter->local().Sweep(clock.NowMillis(), 4096);
    // Raw usage past its retention, once an hour (the deletes use the index on time).
    const UnixMillis now = clock.NowMillis();
    if (now - last_prune >= 3'600'000) {
      last_prune = now;
      const UnixMillis cutoff = now - static_cast<UnixMillis>(config.usage_retention_days) * kMillisPerDay;
      if (auto pruned = (*store)->PruneRawUsage(cutoff); !pruned) {
        spdlog::warn("old raw usage events not pruned yet: {}", pruned.error().detail);
      }
      // Ingested event ids are remembered for the dedup window, plus a day: a copy sent at the
      // window's far end (35 days after the timestamp, which was up to 5 minutes ahead of its
      // receipt) still finds the original.
      if (auto pruned = (*store)->PruneMeterEvents(now - (kMeterWindowDays + 1) * kMillisPerDay); !pruned) {
        spdlog::warn("old ingested event ids not pruned yet: {}", pruned.error().detail);
      }
    }
  });
  // Identifier rate limiting (ratelimit.*) counts in the same limiter, under keys "{rl:…}"; its
  // namespaces and overrides are loaded here and served from memory. Its calls name no tier, so
  // the default failure policy applies to them.
  auto ratelimits = RatelimitService::Create(**store, limiter, clock);
  if (!ratelimits) return fail(ratelimits.error());
  (*ratelimits)->SetFailurePolicy(policies->fallback);

  // Usage events: buffered per worker, written in batches by the recorder's own thread; the spill
  // file for a store outage lives next to the database.
  UsageRecorderOptions usage_options;
  usage_options.flush_interval = std::chrono::milliseconds(config.usage_flush_interval_ms);
  usage_options.flush_batch = config.usage_flush_batch;
  usage_options.max_buffered = config.usage_max_buffered;
  usage_options.spill_path = UsageSpillPath(config, *store_url);
  if (metrics) usage_options.flush_duration = &metrics->usage_flush_duration;
  if (const auto dir = std::filesystem::path(usage_options.spill_path).parent_path(); !dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) return fail(Error::Unavailable("cannot create " + dir.string() + " for the usage spill file: " + error.message()));
  }
  UsageStoreTap usage_tap(**store, [&alert_monitor](std::span<const UsageEvent> events) { alert_monitor.UsageWritten(events); });
  auto usage = UsageRecorder::Start(usage_tap, std::move(usage_options));
  if (!usage) return fail(usage.error());

  Router router([&root_keys](std::string_view secret) { return (*root_keys)->Authenticate(secret); });
  AddApiRoutes(router, **keys);
  AddKeyRoutes(router, **keys);
  AddVerifyRoutes(router, {**keys, verifier, local_limiter, **usage, clock, metrics ? &metrics->verifications : nullptr});
  AddRatelimitRoutes(router, **ratelimits, **usage, clock);
  AddIdentityRoutes(router, **keys);
  AddTierRoutes(router, **tiers);
  AddRootKeyRoutes(router, **root_keys);
  AddUsageRoutes(router, **store);
  AddUsageExportRoutes(router, **store);
  AddUsageIngestRoute(router, **store, **keys, clock);
  BillingService billing(**store, **tiers, clock);
  AddBillingRoutes(router, billing);
  AlertService alerts(**store, **keys, **tiers, clock, [&alert_monitor] { alert_monitor.RulesChanged(); },
                      config.webhook_allow_private_addresses);
  AddAlertRoutes(router, alerts);
  auto* amqp = dynamic_cast<AmqpEventBus*>(events->get());
  // What /readyz and tollgate_ready report, in this order: the store answers, the broker is
  // connected, every Redis shard answers PING (100 ms each). Probed once a second by `health`
  // below, never on a worker.
  HealthProbes probes;
  probes.AddCheck("store", [&store] { return static_cast<bool>((*store)->Ping()); });
  if (amqp != nullptr) probes.AddCheck("events", [amqp] { return amqp->Connected(); });
  if (redis_limiter) AddRedisProbes(probes, *redis_limiter);
  AddHealthRoutes(router, [&probes] { return probes.FirstFailing(); });
  AddMetricsRoute(router, metrics ? &metrics->registry : nullptr);
  AddLogLevelRoute(router, {[](const std::string& level) { return SetLogLevel(level); }, [] { return CurrentLogLevel(); }});
  AddDashboardRoutes(router, config.dashboard_dir);

  // Changes reach other nodes through the outbox: the relay publishes what this node's writes
  // put there, and the inbox applies what other nodes' writes put there (by the bus, or by
  // reading the outbox when the bus is down).
  OutboxRelay relay(**store, **events, clock, {.relay_name = node});
  relay.Start();
  std::atomic<HttpServer*> http_server{nullptr};  // set once the server runs
  if (metrics) {
    AddScrapedMetrics(metrics->registry,
                      {**usage, **keys, **store, relay, amqp, redis_limiter.get(),
                       [&http_server] {
                         const HttpServer* server = http_server.load();
                         return server != nullptr ? server->open_connections() : 0;
                       },
                       probes, clock});
  }
  probes.Refresh();  // ready (or not) from the first request on
  EventInbox inbox(**store, {.node = node, .follow_interval = std::chrono::milliseconds(config.events_follow_interval_ms)});
  inbox.On("key.*", [&keys](const Event& event) { return (*keys)->ApplyKeyEvent(event); });
  inbox.On("api.deleted", [&keys](const Event& event) { return (*keys)->ApplyApiDeleted(event); });
  inbox.On("identity.*", [&keys](const Event& event) { return (*keys)->ApplyIdentityEvent(event); });
  inbox.On("tier.*", [&tiers](const Event& event) { return (*tiers)->ApplyTierEvent(event); });
  inbox.On("rootkey.*", [&root_keys](const Event&) { return (*root_keys)->Reload(); });
  inbox.On("ratelimit.*", [&ratelimits](const Event& event) { return (*ratelimits)->ApplyOverrideEvent(event); });
  // The bus's consumer thread calls into the inbox and the services: stopped (and joined) before
  // any of them goes away, on every way out of this function.
  auto stop_events = [&] {
    inbox.Stop();
    relay.Stop();  // after the last writes: their events go out now rather than at the next start
    events->reset();
  };
  if (auto started = inbox.Start(**events, *follow_from); !started) {
    stop_events();
    return fail(started.error());
  }

  // Alert rules are evaluated once a second on a thread of their own; webhook deliveries go out
  // from the dispatcher's thread, woken when an evaluation wrote new ones.
  HttpWebhookSender webhook_sender({.allow_private_addresses = config.webhook_allow_private_addresses});
  WebhookDispatcher webhooks(**store, webhook_sender, clock,
                             {.node = node,
                              .retry = {.base_ms = config.webhook_retry_base_ms,
                                        .max_ms = config.webhook_retry_max_ms,
                                        .max_attempts = config.webhook_max_attempts}});
  webhooks.Start();
  if (metrics) AddAlertMetrics(metrics->registry, alert_monitor, webhooks, **store, probes);
  // Every probe is added by now: from here on only this task runs them.
  PeriodicTask health(std::chrono::seconds(1), [&probes] { probes.Refresh(); });
  ServiceAlertFacts alert_facts(**keys, **tiers, quota, **store);
  PeriodicTask alert_evaluation(std::chrono::seconds(1), [&] {
    auto evaluated = alert_monitor.Evaluate(alert_facts);
    if (!evaluated) spdlog::warn("alerts: rules not evaluated: {}", evaluated.error().detail);
    if (evaluated && *evaluated) webhooks.Wake();
  });

  auto server = HttpServer::Start(*server_options, [&router](const HttpRequest& request) { return router.Handle(request); });
  if (!server) {
    stop_events();
    return fail(server.error());
  }
  http_server = server->get();
  spdlog::info("listening on {}:{} ({}) as node {} with {} keys cached, store {}, events {}, limiter {}",
               server_options->address, (*server)->port(), server_options->tls_cert_file.empty() ? "http" : "https", node, (*keys)->cache().Size(),
               RedactUrlPassword(config.store), RedactUrlPassword(config.events), RedactUrlPassword(config.limiter));
  if (redis_limiter && config.limiter_mode == "lease") {
    const int workers = server_options->workers > 0 ? server_options->workers
                                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    spdlog::info("limiter in lease mode: chunks of {}% of each limit; worst case per window and counter, {} nodes x {} "
                 "workers x chunk more than exact (none for fixed windows)",
                 config.limiter_lease_percent, config.limiter_expected_nodes, workers);
    if (metrics) {
      const double bound = config.limiter_expected_nodes * workers * config.limiter_lease_percent / 100.0;
      metrics->registry.AddCallback("tollgate_limiter_lease_overadmission_ratio",
                                    "Lease mode: the worst case of admissions above a limit per window, as a share of "
                                    "the limit (nodes x workers x lease percent; none for fixed windows).",
                                    MetricType::kGauge, {}, [bound](const MetricsRegistry::Emit& emit) { emit({}, bound); });
    }
  }

  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: finishing in-flight requests, then exiting", signal);
    (*server)->Shutdown(std::chrono::milliseconds(config.shutdown_timeout_ms));
  });
  signals_ioc.run();
  (*server)->Wait();
  // The Redis connections live on the workers' event loops: closed while those still exist.
  if (redis_limiter) redis_limiter->Close();
  maintenance.Stop();
  health.Stop();
  alert_evaluation.Stop();
  webhooks.Stop();  // cuts off an attempt under way: its delivery is due again at the next start
  // The workers are done recording: write every event before the store closes.
  if (auto stopped = (*usage)->Stop(); !stopped) spdlog::error("usage events lost at shutdown: {}", stopped.error().detail);
  if (auto flushed = quota.Flush(); !flushed) spdlog::error("quota counters lost at shutdown: {}", flushed.error().detail);
  if (auto flushed = (*keys)->FlushCredits(); !flushed) spdlog::error("credit balances lost at shutdown: {}", flushed.error().detail);
  stop_events();
  // Key changes were written through synchronously, credit balances and quota counters just
  // now; closing the store checkpoints the WAL.
  server->reset();
  usage->reset();
  store->reset();
  spdlog::info("stopped");
  spdlog::shutdown();
  return 0;
}

}  // namespace tollgate
