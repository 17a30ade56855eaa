#include "app/config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <netdb.h>

#include <yaml-cpp/yaml.h>

#include "common/text.h"

// Where this build put the web dashboard (the build's CMake sets it), so `make run` serves it.
#ifndef TOLLGATE_DASHBOARD_DIR
#define TOLLGATE_DASHBOARD_DIR ""
#endif

namespace tollgate {

void AddServeOptions(CLI::App& serve, ServeConfig& c) {
  serve.add_option("--config", c.config_file, "YAML file with any of these settings (keys as the flag names)")
      ->envname("TOLLGATE_CONFIG");
  serve.add_option("--listen", c.listen, "address:port to listen on (port 0 picks a free one)")
      ->envname("TOLLGATE_LISTEN")->capture_default_str();
  serve.add_option("--store", c.store, "store URL: sqlite://<path> or postgres://user:password@host:5432/database")
      ->envname("TOLLGATE_STORE")->capture_default_str();
  serve.add_option("--workers", c.workers, "worker threads, each with its own event loop (0 = one per core)")
      ->envname("TOLLGATE_WORKERS")->check(CLI::Range(0, 256))->capture_default_str();
  serve.add_option("--max-body-bytes", c.max_body_bytes, "largest request body accepted (413 above)")
      ->envname("TOLLGATE_MAX_BODY_BYTES")->check(CLI::Range(std::size_t{1024}, std::size_t{64} << 20))->capture_default_str();
  serve.add_option("--max-header-bytes", c.max_header_bytes, "largest request header block accepted (431 above)")
      ->envname("TOLLGATE_MAX_HEADER_BYTES")->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 20))->capture_default_str();
  serve.add_option("--header-timeout-ms", c.header_timeout_ms, "time a client has to send a request's headers")
      ->envname("TOLLGATE_HEADER_TIMEOUT_MS")->check(CLI::Range(100, 600'000))->capture_default_str();
  serve.add_option("--body-timeout-ms", c.body_timeout_ms, "time a client has to send a request's body")
      ->envname("TOLLGATE_BODY_TIMEOUT_MS")->check(CLI::Range(100, 600'000))->capture_default_str();
  serve.add_option("--idle-timeout-ms", c.idle_timeout_ms, "how long an idle keep-alive connection stays open")
      ->envname("TOLLGATE_IDLE_TIMEOUT_MS")->check(CLI::Range(100, 3'600'000))->capture_default_str();
  serve.add_option("--max-connections", c.max_connections, "open connections accepted at once")
      ->envname("TOLLGATE_MAX_CONNECTIONS")->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))->capture_default_str();
  serve.add_option("--tls-cert", c.tls_cert,
                   "serve HTTPS (TLS 1.2+) with this PEM certificate chain, server certificate first; needs --tls-key")
      ->envname("TOLLGATE_TLS_CERT");
  serve.add_option("--tls-key", c.tls_key, "the PEM private key of --tls-cert (unencrypted; keep it chmod 600)")
      ->envname("TOLLGATE_TLS_KEY");
  serve.add_option("--shutdown-timeout-ms", c.shutdown_timeout_ms, "on SIGTERM, how long in-flight requests may take")
      ->envname("TOLLGATE_SHUTDOWN_TIMEOUT_MS")->check(CLI::Range(0, 600'000))->capture_default_str();
  serve.add_option("--usage-flush-interval-ms", c.usage_flush_interval_ms,
                   "how often recorded usage events are written to the store (a hard kill loses this much plus the write under way)")
      ->envname("TOLLGATE_USAGE_FLUSH_INTERVAL_MS")->check(CLI::Range(1, 60'000))->capture_default_str();
  serve.add_option("--usage-flush-batch", c.usage_flush_batch, "a worker holding this many usage events wakes the writer early")
      ->envname("TOLLGATE_USAGE_FLUSH_BATCH")->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))->capture_default_str();
  serve.add_option("--usage-max-buffered", c.usage_max_buffered,
                   "while the store fails, usage events held in memory; the rest go to usage-spill.ndjson")
      ->envname("TOLLGATE_USAGE_MAX_BUFFERED")->check(CLI::Range(std::size_t{0}, std::size_t{100'000'000}))->capture_default_str();
  serve.add_option("--usage-retention-days", c.usage_retention_days,
                   "raw usage events are kept this many days (rollups are kept)")
      ->envname("TOLLGATE_USAGE_RETENTION_DAYS")->check(CLI::Range(1, 3650))->capture_default_str();
  serve.add_option("--webhook-retry-base-ms", c.webhook_retry_base_ms,
                   "first wait before a failed webhook delivery is retried; doubles each attempt (with jitter)")
      ->envname("TOLLGATE_WEBHOOK_RETRY_BASE_MS")->check(CLI::Range(1, 3'600'000))->capture_default_str();
  serve.add_option("--webhook-retry-max-ms", c.webhook_retry_max_ms, "longest wait between two attempts of a webhook delivery")
      ->envname("TOLLGATE_WEBHOOK_RETRY_MAX_MS")->check(CLI::Range(1, 86'400'000))->capture_default_str();
  serve.add_option("--webhook-max-attempts", c.webhook_max_attempts,
                   "attempts of a webhook delivery before it is marked failed")
      ->envname("TOLLGATE_WEBHOOK_MAX_ATTEMPTS")->check(CLI::Range(1, 1000))->capture_default_str();
  serve.add_option("--webhook-allow-private-addresses", c.webhook_allow_private_addresses,
                   "let webhooks reach loopback, private, link-local and unspecified addresses (receivers on your "
                   "own network); false refuses them, against server-side request forgery")
      ->envname("TOLLGATE_WEBHOOK_ALLOW_PRIVATE_ADDRESSES")->capture_default_str();
  serve.add_option("--default-tier", c.default_tier,
                   "tier of keys with no tier of their own nor through their identity (default: none, no tier limits)")
      ->envname("TOLLGATE_DEFAULT_TIER");
  serve.add_option("--usage-spill-file", c.usage_spill_file,
                   "where usage waits while the store is down (default: usage-spill.ndjson next to the SQLite file, ./data/ with PostgreSQL)")
      ->envname("TOLLGATE_USAGE_SPILL_FILE");
  serve.add_option("--store-pool-size", c.store_pool_size, "PostgreSQL connections per node")
      ->envname("TOLLGATE_STORE_POOL_SIZE")->check(CLI::Range(std::size_t{1}, std::size_t{256}))->capture_default_str();
  serve.add_option("--events", c.events, "event bus: inprocess, or amqp://user:password@host:5672/vhost for several nodes")
      ->envname("TOLLGATE_EVENTS")->capture_default_str();
  serve.add_option("--node", c.node, "this node's name among several (default <hostname>-<port>); names its RabbitMQ queue")
      ->envname("TOLLGATE_NODE");
  serve.add_option("--events-follow-interval-ms", c.events_follow_interval_ms,
                   "how often a node reads the store's outbox for changes the bus did not bring (the bound when the broker is down)")
      ->envname("TOLLGATE_EVENTS_FOLLOW_INTERVAL_MS")->check(CLI::Range(50, 600'000))->capture_default_str();
  serve.add_option("--limiter", c.limiter,
                   "where rate-limit state lives: memory (this node), or redis://host:port,host:port,... (shards shared by all nodes)")
      ->envname("TOLLGATE_LIMITER")->capture_default_str();
  serve.add_option("--limiter-mode", c.limiter_mode,
                   "exact: every decision in Redis; lease: take chunks of each limit from Redis and decide locally")
      ->envname("TOLLGATE_LIMITER_MODE")->check(CLI::IsMember({"exact", "lease"}))->capture_default_str();
  serve.add_option("--limiter-timeout-ms", c.limiter_timeout_ms,
                   "how long a Redis shard may take to answer before the tier's failure policy decides")
      ->envname("TOLLGATE_LIMITER_TIMEOUT_MS")->check(CLI::Range(1, 10'000))->capture_default_str();
  serve.add_option("--limiter-lease-percent", c.limiter_lease_percent,
                   "lease mode: the share of a limit a node takes at a time (worst-case extra per window: nodes x workers x chunk)")
      ->envname("TOLLGATE_LIMITER_LEASE_PERCENT")->check(CLI::Range(1, 100))->capture_default_str();
  serve.add_option("--limiter-failure-policy", c.limiter_failure_policy,
                   "when a Redis shard is down: <default>[,<tier>=<policy>...], each fail-open, fail-closed or local")
      ->envname("TOLLGATE_LIMITER_FAILURE_POLICY")->capture_default_str();
  serve.add_option("--limiter-expected-nodes", c.limiter_expected_nodes,
                   "the local failure policy enforces limit / this on each node")
      ->envname("TOLLGATE_LIMITER_EXPECTED_NODES")->check(CLI::Range(1, 1000))->capture_default_str();
  serve.add_option("--dashboard-dir", c.dashboard_dir,
                   "the built web dashboard, served at /dashboard/ (\"\": none; default: this build's)")
      ->envname("TOLLGATE_DASHBOARD_DIR")->default_val(TOLLGATE_DASHBOARD_DIR);
  serve.add_option("--log-format", c.log_format, "json (one object per line, for log shippers) or text")
      ->envname("TOLLGATE_LOG_FORMAT")->check(CLI::IsMember({"json", "text"}))->capture_default_str();
  serve.add_option("--metrics", c.metrics, "serve Prometheus metrics at GET /metrics (false: record none)")
      ->envname("TOLLGATE_METRICS")->capture_default_str();
  serve.add_option("--log-level", c.log_level, "trace, debug, info, warn, error")
      ->envname("TOLLGATE_LOG_LEVEL")->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))->capture_default_str();
  serve.footer(
      "Environment: every flag also reads TOLLGATE_<FLAG> (e.g. TOLLGATE_LISTEN), and TOLLGATE_ROOT_KEY\n"
      "supplies a root key instead of generating one. Precedence: flag > environment > --config file > default.");
}

Status ApplyConfigText(CLI::App& serve, const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Fail(Error::InvalidInput(origin + ": not valid YAML: " + e.what()));
  }
  if (root.IsNull()) return {};
  if (!root.IsMap()) return Fail(Error::InvalidInput(origin + ": the top level must be a mapping of setting: value"));
  for (const auto& entry : root) {
    // A key may be any YAML node ("? [a, b]"); as<std::string>() would throw on a non-scalar.
    if (!entry.first.IsScalar()) {
      return Fail(Error::InvalidInput(origin + ": every setting name must be plain text, e.g. 'listen'"));
    }
    const std::string key = entry.first.as<std::string>();
    if (key == "config") return Fail(Error::InvalidInput(origin + ": 'config' cannot be set inside a config file"));
    if (key == "tiers") continue;  // a list, not a flag: read by ReadConfiguredTiers (app/tier_config.h)
    CLI::Option* option = nullptr;
    try {
      option = serve.get_option("--" + key);
    } catch (const CLI::OptionNotFound&) {
      return Fail(Error::InvalidInput(origin + ": unknown setting '" + key + "'; see tollgate serve --help"));
    }
    if (!entry.second.IsScalar()) {
      return Fail(Error::InvalidInput(origin + ": setting '" + key + "' must be a single value"));
    }
    try {
      option->default_val(entry.second.as<std::string>());
    } catch (const CLI::Error& e) {
      return Fail(Error::InvalidInput(origin + ": setting '" + key + "': " + e.what()));
    }
  }
  return {};
}

Status ApplyConfigFile(CLI::App& serve, int argc, const char* const* argv) {
  std::string path;
  if (const char* env = std::getenv("TOLLGATE_CONFIG")) path = env;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) path = argv[i + 1];
    if (arg.starts_with("--config=")) path = std::string(arg.substr(9));
  }
  if (path.empty()) return {};
  std::ifstream file(path);
  if (!file) return Fail(Error::InvalidInput("cannot read the config file '" + path + "'"));
  std::stringstream text;
  text << file.rdbuf();
  return ApplyConfigText(serve, text.str(), path);
}

Result<std::pair<std::string, unsigned short>> ParseListen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Fail(Error::InvalidInput("--listen '" + listen + "' must be address:port, e.g. 127.0.0.1:8080"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
    return Fail(Error::InvalidInput("--listen '" + listen + "': the port must be a number from 0 to 65535"));
  }
  return std::make_pair(host, static_cast<unsigned short>(port));
}

Result<StoreUrl> ParseStoreUrl(const std::string& url) {
  constexpr std::string_view kScheme = "sqlite://";
  if (url.starts_with(kScheme)) {
    std::string path = url.substr(kScheme.size());
    if (path.empty()) return Fail(Error::InvalidInput("--store '" + url + "' names no file"));
    return StoreUrl{.kind = StoreUrl::Kind::kSqlite, .sqlite_path = std::move(path)};
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    if (url.find("://") + 3 >= url.size()) return Fail(Error::InvalidInput("--store '" + url + "' names no server"));
    return StoreUrl{.kind = StoreUrl::Kind::kPostgres, .conninfo = url};
  }
  return Fail(Error::InvalidInput("--store: not a store URL; use sqlite://<path> (e.g. sqlite://./data/tollgate.db) or "
                                  "postgres://user:password@host:5432/database"));
}

Result<ServerOptions> ToServerOptions(const ServeConfig& config) {
  auto listen = ParseListen(config.listen);
  if (!listen) return Fail(listen.error());
  ServerOptions options;
  options.address = listen->first;
  options.port = listen->second;
  options.workers = config.workers;
  options.max_body_bytes = config.max_body_bytes;
  options.max_header_bytes = config.max_header_bytes;
  options.header_timeout = std::chrono::milliseconds(config.header_timeout_ms);
  options.body_timeout = std::chrono::milliseconds(config.body_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(config.idle_timeout_ms);
  options.max_connections = config.max_connections;
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return Fail(Error::InvalidInput(config.tls_cert.empty() ? "--tls-key needs --tls-cert: give both PEM files, or neither for plain HTTP"
                                                            : "--tls-cert needs --tls-key: give both PEM files, or neither for plain HTTP"));
  }
  options.tls_cert_file = config.tls_cert;
  options.tls_key_file = config.tls_key;
  return options;
}

namespace {

// host -> a numeric IPv4 address (hiredis' asynchronous connect must not look names up).
Result<std::string> ResolveIpv4(const std::string& host) {
  in_addr numeric{};
  if (inet_pton(AF_INET, host.c_str(), &numeric) == 1) return host;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || found == nullptr) {
    return Fail(Error::InvalidInput("--limiter: cannot resolve '" + host + "': " + gai_strerror(rc)));
  }
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text, sizeof(text));
  freeaddrinfo(found);
  return std::string(text);
}

}  // namespace

Result<std::vector<RedisShardAddress>> ParseLimiterUrl(const std::string& url) {
  if (url == "memory") return std::vector<RedisShardAddress>{};
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) {
    return Fail(Error::InvalidInput("--limiter must be 'memory' or redis://host:port,host:port,... (got '" + url + "')"));
  }
  std::vector<RedisShardAddress> shards;
  for (const std::string& item : SplitTrimmed(std::string_view(url).substr(kScheme.size()), ',')) {
    if (item.empty()) return Fail(Error::InvalidInput("--limiter: empty shard in '" + url + "'"));
    const auto colon = item.rfind(':');
    const std::string host = item.substr(0, colon);
    int port = 6379;
    if (colon != std::string::npos) {
      const std::string digits = item.substr(colon + 1);
      char* end = nullptr;
      const long value = std::strtol(digits.c_str(), &end, 10);
      if (digits.empty() || *end != '\0' || value < 1 || value > 65535) {
        return Fail(Error::InvalidInput("--limiter: '" + item + "' has no valid port (1-65535)"));
      }
      port = static_cast<int>(value);
    }
    if (host.empty()) return Fail(Error::InvalidInput("--limiter: '" + item + "' names no host"));
    auto ip = ResolveIpv4(host);
    if (!ip) return Fail(std::move(ip.error()));
    RedisShardAddress shard{*ip, port};
    for (const RedisShardAddress& seen : shards) {
      if (seen.name() == shard.name()) return Fail(Error::InvalidInput("--limiter: shard " + shard.name() + " is listed twice"));
    }
    shards.push_back(std::move(shard));
  }
  if (shards.empty()) return Fail(Error::InvalidInput("--limiter: redis:// needs at least one host:port"));
  return shards;
}

Result<LimiterFailurePolicies> ParseFailurePolicies(const std::string& spec) {
  auto policy_of = [](std::string_view name) -> std::optional<LimiterFailurePolicy> {
    if (name == "fail-open") return LimiterFailurePolicy::kFailOpen;
    if (name == "fail-closed") return LimiterFailurePolicy::kFailClosed;
    if (name == "local") return LimiterFailurePolicy::kLocal;
    return std::nullopt;
  };
  LimiterFailurePolicies policies;
  bool first = true;
  for (const std::string& item : SplitTrimmed(spec, ',')) {
    const auto eq = item.find('=');
    const std::string name = eq == std::string::npos ? item : item.substr(eq + 1);
    const auto policy = policy_of(name);
    if (!policy) {
      return Fail(Error::InvalidInput("--limiter-failure-policy: '" + name +
                                      "' is not a policy; use fail-open, fail-closed or local"));
    }
    if (eq == std::string::npos) {
      if (!first) return Fail(Error::InvalidInput("--limiter-failure-policy: the default policy comes first, then <tier>=<policy>"));
      policies.fallback = *policy;
    } else {
      policies.by_tier.emplace_back(item.substr(0, eq), *policy);
    }
    first = false;
  }
  return policies;
}

}  // namespace tollgate
