#include <utility>  // before Boost, see DESIGN.md

#include "app/serve.h"

#include <csignal>
#include <filesystem>
#include <cstdio>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/tier_config.h"
#include "auth/root_key_service.h"
#include "common/calendar.h"
#include "events/inprocess/in_process_event_bus.h"
#include "http/routes.h"
#include "http/server.h"
#include "keys/key_service.h"
#include "limiter/memory_counter_store.h"
#include "ratelimit/ratelimit_service.h"
#include "verify/quota_tracker.h"
#include "verify/verifier.h"
#include "app/periodic_task.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"
#include "usage/usage_recorder.h"

namespace tollgate {
namespace {

// <dir of the database>/usage-spill.ndjson; for an in-memory store, ./usage-spill.ndjson.
std::string UsageSpillPath(const std::string& sqlite_path) {
  if (sqlite_path == kSqliteInMemoryPath) return "usage-spill.ndjson";
  return (std::filesystem::path(sqlite_path).parent_path() / "usage-spill.ndjson").string();
}

}  // namespace

int RunServe(const ServeConfig& config) {
  auto logger = spdlog::stderr_color_mt("tollgate");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));

  auto fail = [](const Error& error) {
    spdlog::critical("cannot start: {}", error.detail);
    return 1;
  };
  auto server_options = ToServerOptions(config);
  if (!server_options) return fail(server_options.error());

  // SIGTERM/SIGINT are waited for on this thread's io_context, registered before anything slow
  // so an early signal is not lost.
  boost::asio::io_context signals_ioc(1);
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);

  auto sqlite_path = SqlitePathFromUrl(config.store);
  if (!sqlite_path) return fail(sqlite_path.error());
  auto store = SqliteStore::Open(*sqlite_path);
  if (!store) return fail(store.error());
  SystemClock clock;
  InProcessEventBus events;

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
  auto tiers = TierService::Create(**store, events, clock);
  if (!tiers) return fail(tiers.error());
  if (auto configured = ApplyTierConfiguration(**tiers, config.config_file, config.default_tier); !configured) {
    return fail(configured.error());
  }
  auto keys = KeyService::Create(**store, events, clock, tiers->get());
  if (!keys) return fail(keys.error());

  // The verify path's state: rate-limit counters in memory, quota counters loaded from the store
  // and written back by the maintenance thread below.
  MemoryCounterStore limiter;
  QuotaTracker quota(**store);
  if (auto loaded = quota.Load(QuotaPeriodOf(clock.NowMillis())); !loaded) return fail(loaded.error());
  Verifier verifier(**keys, **tiers, limiter, quota, clock);
  UnixMillis last_prune = 0;  // touched only by the maintenance thread
  PeriodicTask maintenance(std::chrono::seconds(1), [&] {
    if (auto flushed = quota.Flush(); !flushed) spdlog::warn("quota counters not saved yet: {}", flushed.error().detail);
    if (auto flushed = (*keys)->FlushCredits(); !flushed) spdlog::warn("credit balances not saved yet: {}", flushed.error().detail);
    limiter.Sweep(clock.NowMillis(), 4096);
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
  // Identifier rate limiting (ratelimit.*) counts in the same limiter, under keys "rl:…"; its
  // namespaces and overrides are loaded here and served from memory.
  auto ratelimits = RatelimitService::Create(**store, limiter, clock);
  if (!ratelimits) return fail(ratelimits.error());

  // Usage events: buffered per worker, written in batches by the recorder's own thread; the spill
  // file for a store outage lives next to the database.
  UsageRecorderOptions usage_options;
  usage_options.flush_interval = std::chrono::milliseconds(config.usage_flush_interval_ms);
  usage_options.flush_batch = config.usage_flush_batch;
  usage_options.max_buffered = config.usage_max_buffered;
  usage_options.spill_path = UsageSpillPath(*sqlite_path);
  auto usage = UsageRecorder::Start(**store, std::move(usage_options));
  if (!usage) return fail(usage.error());

  Router router([&root_keys](std::string_view secret) { return (*root_keys)->Authenticate(secret); });
  AddApiRoutes(router, **keys);
  AddKeyRoutes(router, **keys);
  AddVerifyRoutes(router, {**keys, verifier, limiter, **usage, clock});
  AddRatelimitRoutes(router, **ratelimits, **usage, clock);
  AddIdentityRoutes(router, **keys);
  AddTierRoutes(router, **tiers);
  AddRootKeyRoutes(router, **root_keys);
  AddUsageRoutes(router, **store);
  AddUsageExportRoutes(router, **store);
  AddUsageIngestRoute(router, **store, **keys, clock);
  BillingService billing(**store, **tiers, events, clock);
  AddBillingRoutes(router, billing);
  AddHealthRoutes(router, [&store]() -> std::string { return (*store)->Ping() ? "" : "store"; });

  auto server = HttpServer::Start(*server_options, [&router](const HttpRequest& request) { return router.Handle(request); });
  if (!server) return fail(server.error());
  spdlog::info("listening on {}:{} with {} keys cached, store {}", server_options->address, (*server)->port(),
               (*keys)->cache().Size(), config.store);

  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: finishing in-flight requests, then exiting", signal);
    (*server)->Shutdown(std::chrono::milliseconds(config.shutdown_timeout_ms));
  });
  signals_ioc.run();
  (*server)->Wait();
  maintenance.Stop();
  // The workers are done recording: write every event before the store closes.
  if (auto stopped = (*usage)->Stop(); !stopped) spdlog::error("usage events lost at shutdown: {}", stopped.error().detail);
  if (auto flushed = quota.Flush(); !flushed) spdlog::error("quota counters lost at shutdown: {}", flushed.error().detail);
  if (auto flushed = (*keys)->FlushCredits(); !flushed) spdlog::error("credit balances lost at shutdown: {}", flushed.error().detail);
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
