#include <utility>  // before Boost, see DESIGN.md

#include "fuzz_world.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "alerts/alert_service.h"
#include "app/logging.h"
#include "auth/root_key_service.h"
#include "billing/billing_service.h"
#include "common/calendar.h"
#include "http/dashboard_routes.h"
#include "http/routes.h"
#include "keys/key_service.h"
#include "limiter/memory_counter_store.h"
#include "metrics/registry.h"
#include "ratelimit/ratelimit_service.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"
#include "usage/usage_recorder.h"
#include "verify/quota_tracker.h"
#include "verify/verification_metrics.h"
#include "verify/verifier.h"

namespace tollgate::fuzz {
namespace {

// The log, kept for the checks instead of written out. Its mutex is the sink's own.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string Take() {
    std::lock_guard lock(mutex_);
    return std::exchange(text_, {});
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    if (text_.size() < (1u << 20)) text_.append(formatted.data(), formatted.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

void Replace(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// Whether `haystack` holds `secret`, searched without memcmp and without coverage feedback:
// libFuzzer watches comparisons (its memcmp hooks, trace-cmp) and would learn the very secrets
// the checks look for, then type them into inputs.
#if defined(__clang__)
#define TOLLGATE_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define TOLLGATE_NO_COVERAGE
#endif
TOLLGATE_NO_COVERAGE bool Contains(std::string_view haystack, std::string_view secret) {
  if (secret.empty()) return false;
  for (std::size_t at = 0; at + secret.size() <= haystack.size(); ++at) {
    unsigned char differ = 0;
    for (std::size_t i = 0; i < secret.size(); ++i) differ |= static_cast<unsigned char>(haystack[at + i] ^ secret[i]);
    if (differ == 0) return true;
  }
  return false;
}

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// A built dashboard of two files, so that /dashboard/ paths reach real files and the 304 path.
std::string MakeDashboardDir() {
  char pattern[] = "/tmp/tollgate-fuzz-dashboard-XXXXXX";
  const char* dir = mkdtemp(pattern);
  if (dir == nullptr) Fail("setup", "cannot create a temporary folder for the dashboard");
  std::filesystem::create_directories(std::filesystem::path(dir) / "assets");
  std::ofstream(std::filesystem::path(dir) / "index.html") << "<!doctype html><title>tollgate</title>";
  std::ofstream(std::filesystem::path(dir) / "assets" / "index-abc123.js") << "console.log('tollgate');";
  return dir;
}

template <typename T>
T Must(Result<T> result, std::string_view what) {
  if (!result) Fail(what, result.error().detail);
  return std::move(*result);
}

}  // namespace

void Fail(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "\n==== fuzz check failed: %.*s\n%.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(std::min<std::size_t>(detail.size(), 4000)), detail.data());
  std::abort();
}

HttpRequest ParseTextRequest(std::string_view text) {
  HttpRequest request;
  request.content_type = "application/json";
  request.authorization = "Bearer " + std::string(FuzzWorld::kRootKey);
  request.remote_address = "127.0.0.1";
  request.request_id = "req_fuzz";
  std::size_t end = text.find('\n');
  std::string_view line = text.substr(0, end);
  text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  const std::size_t space = line.find(' ');
  request.method = std::string(line.substr(0, space));
  const std::string_view target = space == std::string_view::npos ? "/" : TrimSpaces(line.substr(space + 1));
  const std::size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
  // Headers up to an empty line; the body is the rest.
  while (!text.empty()) {
    end = text.find('\n');
    line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (TrimSpaces(line).empty()) break;
    const std::size_t colon = line.find(':');
    const std::string_view name = TrimSpaces(line.substr(0, colon));
    const std::string value(colon == std::string_view::npos ? std::string_view() : TrimSpaces(line.substr(colon + 1)));
    if (EqualsIgnoringCase(name, "Authorization")) request.authorization = value;
    else if (EqualsIgnoringCase(name, "Content-Type")) request.content_type = value;
    else if (EqualsIgnoringCase(name, "X-API-Key")) request.api_key = value;
    else if (EqualsIgnoringCase(name, "X-Real-IP")) request.real_ip = value;
    else if (EqualsIgnoringCase(name, "If-None-Match")) request.if_none_match = value;
    else if (EqualsIgnoringCase(name, "Remote-Address")) request.remote_address = value;
  }
  request.body = std::string(text);
  return request;
}

struct FuzzWorld::State {
  std::shared_ptr<CaptureSink> log = std::make_shared<CaptureSink>();
  ManualClock clock{FromCivil({2026, 3, 1})};
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<RootKeyService> root_keys;
  std::unique_ptr<TierService> tiers;
  std::unique_ptr<KeyService> keys;
  MemoryCounterStore limiter;
  std::unique_ptr<QuotaTracker> quota;
  std::unique_ptr<Verifier> verifier;
  std::unique_ptr<RatelimitService> ratelimits;
  std::unique_ptr<UsageRecorder> usage;
  std::unique_ptr<BillingService> billing;
  std::unique_ptr<AlertService> alerts;
  MetricsRegistry registry;
  std::unique_ptr<VerificationMetrics> verifications;
  std::unique_ptr<Router> router;

  // The fixture, made again whenever a request may have deleted or changed it.
  int generation = 0;
  std::string api_id;
  std::string key;
  std::string key_id;
  std::string identity;
  // Secrets no input is given (a second key per generation, and the root key unless an input
  // typed it): they must never come back in an answer or in the log.
  std::vector<std::string> hidden;
  bool root_key_typed = false;

  nlohmann::json Call(const std::string& path, const nlohmann::json& body) {
    HttpRequest request = ParseTextRequest("POST " + path + "\n\n" + body.dump());
    HttpResponse response = router->Handle(request);
    if (response.status != 200) Fail("fixture " + path, response.body);
    return nlohmann::json::parse(response.body)["data"];
  }

  void MakeFixture() {
    ++generation;
    identity = "fuzz-customer-" + std::to_string(generation);
    api_id = Call("/v2/apis.createApi", {{"name", "fuzz-api"}})["apiId"];
    nlohmann::json created = Call("/v2/keys.createKey",
                                  {{"apiId", api_id},
                                   {"prefix", "fz"},
                                   {"name", "fuzz key"},
                                   {"externalId", identity},
                                   {"meta", {{"plan", "pro"}}},
                                   {"permissions", {"read", "write", "admin.*"}},
                                   {"roles", {"owner"}},
                                   {"credits", {{"remaining", 1000}, {"refill", {{"interval", "daily"}, {"amount", 1000}}}}},
                                   {"ratelimits", {{{"name", "requests"}, {"limit", 50}, {"duration", 1000}, {"autoApply", true}}}}});
    key = created["key"];
    key_id = created["keyId"];
    nlohmann::json other = Call("/v2/keys.createKey", {{"apiId", api_id}, {"name", "never shown"}});
    hidden.push_back(other["key"]);
  }
};

FuzzWorld& FuzzWorld::Get() {
  static FuzzWorld* world = new FuzzWorld();  // never destroyed: see the header
  return *world;
}

FuzzWorld::FuzzWorld() : state_(std::make_unique<State>()) {
  State& s = *state_;
  spdlog::register_logger(std::make_shared<spdlog::logger>("tollgate", s.log));
  SetUpLogging("json", "trace");

  s.store = Must(SqliteStore::Open(kSqliteInMemoryPath), "open the store");
  s.root_keys = Must(RootKeyService::Create(*s.store, s.clock), "root keys");
  Must(s.root_keys->Bootstrap(std::string(kRootKey)), "bootstrap the root key");
  s.tiers = Must(TierService::Create(*s.store, s.clock), "tiers");
  s.keys = Must(KeyService::Create(*s.store, s.clock, s.tiers.get()), "keys");
  s.quota = std::make_unique<QuotaTracker>(*s.store);
  if (auto loaded = s.quota->Load(QuotaPeriodOf(s.clock.NowMillis())); !loaded) Fail("quota", loaded.error().detail);
  s.verifier = std::make_unique<Verifier>(*s.keys, *s.tiers, s.limiter, *s.quota, s.clock);
  s.ratelimits = Must(RatelimitService::Create(*s.store, s.limiter, s.clock), "ratelimits");
  // Flushed after every request by AfterRequest, never by its own timer.
  const std::string spill_path = "/tmp/tollgate-fuzz-usage-spill-" + std::to_string(getpid()) + ".ndjson";
  UsageRecorderOptions usage_options;
  usage_options.flush_interval = std::chrono::hours(24);
  usage_options.spill_path = spill_path;
  s.usage = Must(UsageRecorder::Start(*s.store, std::move(usage_options)), "usage recorder");
  s.billing = std::make_unique<BillingService>(*s.store, *s.tiers, s.clock);
  s.alerts = std::make_unique<AlertService>(*s.store, *s.keys, *s.tiers, s.clock);
  s.verifications = std::make_unique<VerificationMetrics>(s.registry);
  const std::string dashboard_dir = MakeDashboardDir();

  s.router = std::make_unique<Router>([&s](std::string_view secret) { return s.root_keys->Authenticate(secret); });
  Router& router = *s.router;
  AddApiRoutes(router, *s.keys);
  AddKeyRoutes(router, *s.keys);
  AddVerifyRoutes(router, {*s.keys, *s.verifier, s.limiter, *s.usage, s.clock, s.verifications.get()});
  AddRatelimitRoutes(router, *s.ratelimits, *s.usage, s.clock);
  AddIdentityRoutes(router, *s.keys);
  AddTierRoutes(router, *s.tiers);
  AddRootKeyRoutes(router, *s.root_keys);
  AddUsageRoutes(router, *s.store);
  AddUsageExportRoutes(router, *s.store);
  AddUsageIngestRoute(router, *s.store, *s.keys, s.clock);
  AddBillingRoutes(router, *s.billing);
  AddAlertRoutes(router, *s.alerts);
  AddHealthRoutes(router, [] { return std::string(); });
  AddMetricsRoute(router, &s.registry);
  AddLogLevelRoute(router, {[](const std::string& level) { return SetLogLevel(level); }, [] { return CurrentLogLevel(); }});
  AddDashboardRoutes(router, dashboard_dir);
  // Both are read or opened by now (the dashboard is loaded into memory at start): nothing is
  // left behind in /tmp.
  std::filesystem::remove_all(dashboard_dir);
  std::filesystem::remove(spill_path);

  s.MakeFixture();
  TakeLog();
}

FuzzWorld::~FuzzWorld() = default;

std::string FuzzWorld::Expand(std::string_view text) const {
  const State& s = *state_;
  std::string out(text);
  if (out.find('$') == std::string::npos) return out;
  Replace(out, "$ROOT_KEY", kRootKey);
  Replace(out, "$KEY_ID", s.key_id);
  Replace(out, "$KEY", s.key);
  Replace(out, "$API_ID", s.api_id);
  Replace(out, "$IDENTITY", s.identity);
  return out;
}

HttpResponse FuzzWorld::Route(const HttpRequest& request) const { return state_->router->Handle(request); }

HttpResponse FuzzWorld::Handle(const HttpRequest& request) {
  HttpResponse response = Route(request);
  if (response.deferred) {
    // The in-process limiter answers inline, so the answer must be there already.
    if (!response.deferred->ready()) Fail("deferred answer", "not completed inline with the in-process limiter");
    const std::string_view route = response.route;
    response = response.deferred->Take();
    response.route = route;
  }
  return response;
}

void FuzzWorld::AfterRequest() {
  State& s = *state_;
  if (auto flushed = s.usage->Flush(); !flushed) Fail("usage flush", flushed.error().detail);
  if (auto flushed = s.quota->Flush(); !flushed) Fail("quota flush", flushed.error().detail);
  if (auto flushed = s.keys->FlushCredits(); !flushed) Fail("credits flush", flushed.error().detail);
  s.clock.Advance(1000);
  (void)SetLogLevel("trace");  // operations.setLogLevel may have changed it
  // A request that might have removed or changed the fixture: make a new one, so that inputs
  // keep reaching real keys. Cheap (three requests), and rare among inputs.
  if (!s.root_keys->Authenticate(kRootKey)) Fail("root key", "the bootstrap root key no longer authenticates");
  const CachedKeyPtr fixture = s.keys->FindForVerify(s.key);
  if (!fixture || !fixture->key.enabled || fixture->key.expires) s.MakeFixture();
}

const std::string& FuzzWorld::api_key() const { return state_->key; }

std::string FuzzWorld::TakeLog() { return state_->log->Take(); }

void FuzzWorld::Check(const HttpRequest& request, const HttpResponse& response) {
  const std::string where = request.method + " " + request.path + " -> " + std::to_string(response.status);
  if (response.status < 200 || response.status >= 500) Fail("status " + where, response.body + "\n" + TakeLog());
  std::string body = response.body;
  if (response.producer) {
    std::string piece;
    BodyPiece state = BodyPiece::kMore;
    for (int pieces = 0; state == BodyPiece::kMore; ++pieces) {
      if (pieces > 100'000) Fail("stream " + where, "does not end");
      piece.clear();
      state = response.producer(piece);
      body += piece;
    }
    if (state == BodyPiece::kFailed) Fail("stream " + where, "failed");
  }
  if (response.content_type.starts_with("application/json")) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_discarded()) Fail("JSON body " + where, body);
    if (json.is_object() && json.contains("error")) {
      const auto& error = json["error"];
      if (!error.is_object() || error.value("status", 0u) != response.status) Fail("error envelope " + where, body);
      if (error.value("detail", std::string()).empty()) Fail("error without detail " + where, body);
    }
  }
  std::string answer = body;
  for (const auto& [name, value] : response.headers) answer += "\n" + name + ": " + value;
  // Everything the request carried but its Authorization header (the root key's place).
  const std::string typed = request.method + " " + request.path + "?" + request.query + "\n" + request.content_type +
                            "\n" + request.api_key + "\n" + request.real_ip + "\n" + request.if_none_match + "\n" +
                            request.remote_address + "\n" + request.body;
  CheckSecrets(typed, request.method + " " + request.path + "?" + request.query, answer, TakeLog(), where);
}

void FuzzWorld::CheckSecrets(std::string_view typed, std::string_view request_line, std::string_view answer,
                             std::string_view log, std::string_view where) {
  State& s = *state_;
  if (Contains(typed, kRootKey)) s.root_key_typed = true;
  std::vector<std::string_view> secrets(s.hidden.begin(), s.hidden.end());
  if (!s.root_key_typed) secrets.push_back(kRootKey);
  for (std::string_view secret : secrets) {
    if (Contains(answer, secret)) Fail("secret in the answer: " + std::string(where), answer);
    if (Contains(log, secret)) Fail("secret in the log: " + std::string(where), log);
  }
  if (!Contains(request_line, s.key) && Contains(log, s.key)) Fail("API key in the log: " + std::string(where), log);
}

}  // namespace tollgate::fuzz
