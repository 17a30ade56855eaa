// `tollgate serve` settings. Each comes, in order of precedence, from a flag, a TOLLGATE_*
// environment variable, the YAML file named by --config (or TOLLGATE_CONFIG), or its default.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/result.h"
#include "http/server.h"
#include "limiter/redis/redis_counter_store.h"
#include "verify/verifier.h"

namespace tollgate {

struct ServeConfig {
  std::string config_file;
  std::string listen = "127.0.0.1:8080";
  std::string store = "sqlite://./data/tollgate.db";
  int workers = 0;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  int header_timeout_ms = 10'000;
  int body_timeout_ms = 30'000;
  int idle_timeout_ms = 60'000;
  std::size_t max_connections = 10'000;
  std::string tls_cert;  // PEM certificate chain; with tls_key, the port speaks HTTPS only
  std::string tls_key;   // PEM private key of tls_cert
  int shutdown_timeout_ms = 4'000;
  std::string log_level = "info";
  std::string log_format = "json";  // or text
  bool metrics = true;              // GET /metrics; off only to measure what metrics cost
  int usage_flush_interval_ms = 100;      // the usage recorder writes a batch this often
  std::size_t usage_flush_batch = 10'000;  // ... or as soon as one worker buffered this many events
  std::size_t usage_max_buffered = 1'000'000;  // while the store fails, events beyond this go to the spill file
  int usage_retention_days = 35;          // raw usage events older than this are deleted (rollups stay)
  int webhook_retry_base_ms = 1'000;     // a failed webhook delivery waits about this long, doubling each time
  int webhook_retry_max_ms = 600'000;    // ... up to this
  int webhook_max_attempts = 20;         // then the delivery fails for good
  bool webhook_allow_private_addresses = false;  // webhooks may reach loopback, private, link-local addresses
  std::string default_tier;  // "" = keys without any tier get no tier limits
  std::string usage_spill_file;  // "" = usage-spill.ndjson next to the SQLite file, or ./data/ for PostgreSQL
  std::string events = "inprocess";  // or amqp://user:password@host:port/vhost
  std::string node;  // this node's name among several; "" = <hostname>-<port>
  int events_follow_interval_ms = 2'000;  // how often the node reads the outbox for changes the bus missed
  std::size_t store_pool_size = 8;         // PostgreSQL connections
  std::string limiter = "memory";          // or redis://host:port,host:port,... (shards)
  std::string limiter_mode = "exact";      // or lease
  int limiter_timeout_ms = 20;             // per Redis shard call
  int limiter_lease_percent = 5;           // lease mode: a chunk is this share of a limit
  std::string limiter_failure_policy = "local";  // <default>[,<tier>=<policy>...]
  int limiter_expected_nodes = 2;          // the local policy divides limits by this
  std::string dashboard_dir;               // the built web dashboard; default: this build's (config.cc)
  // Only from the environment, so it never shows in `ps` or shell history.
  std::string root_key;
};

// Declares the serve options on `serve` (flags + environment names) bound to `config`.
void AddServeOptions(CLI::App& serve, ServeConfig& config);

// Applies the YAML file, if one is named in argv or TOLLGATE_CONFIG, as the options' defaults,
// so that flags and environment variables still win. Call before parsing.
Status ApplyConfigFile(CLI::App& serve, int argc, const char* const* argv);
// Same, from a YAML document's text (for tests).
Status ApplyConfigText(CLI::App& serve, const std::string& yaml_text, const std::string& origin);

// "127.0.0.1:8080", "[::1]:8080", ":8080" (all interfaces) -> address and port.
Result<std::pair<std::string, unsigned short>> ParseListen(const std::string& listen);
// Where the state lives, from --store: "sqlite://./data/tollgate.db" (a file path) or
// "postgres://user:password@host:5432/db" (handed to libpq as it is).
struct StoreUrl {
  enum class Kind { kSqlite, kPostgres } kind = Kind::kSqlite;
  std::string sqlite_path;  // kSqlite
  std::string conninfo;     // kPostgres
};
Result<StoreUrl> ParseStoreUrl(const std::string& url);

// --limiter: "memory" (no shards), or "redis://host:port,host:port,..." (port defaults to 6379;
// names are resolved once, here, to IPv4 addresses). Duplicates are refused.
Result<std::vector<RedisShardAddress>> ParseLimiterUrl(const std::string& url);
// --limiter-failure-policy: "<policy>[,<tier>=<policy>...]", policy fail-open, fail-closed or local.
Result<LimiterFailurePolicies> ParseFailurePolicies(const std::string& spec);
Result<ServerOptions> ToServerOptions(const ServeConfig& config);

}  // namespace tollgate
