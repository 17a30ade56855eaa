// Configuration parsing as `tollgate serve` does it at start (src/app/main.cc, serve.cc): an
// input is a YAML config file, then (after a NUL byte, if any) command-line arguments, one per
// line. The YAML's settings become the options' defaults (ApplyConfigText), the arguments are
// parsed over them (CLI11), the resulting settings go through the parsers serve runs (listen
// address, store URL, limiter URL, failure policies, server options), and the file's `tiers:`
// section with default-tier is applied to a TierService over an in-memory store
// (ApplyTierConfiguration). Checked: nothing throws but CLI11's ParseError (which main turns into
// a usage message), and every refusal says something.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/config.h"
#include "app/tier_config.h"
#include "storage/sqlite/sqlite_store.h"
#include "tiers/tier_service.h"

namespace {

using namespace tollgate;

[[noreturn]] void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "\n==== fuzz check failed: %s\n%.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

template <typename T>
void ExpectReason(const Result<T>& result, const char* what) {
  if (!result && result.error().detail.empty()) Fail(what, "refused without a reason");
}

// The tiers the configuration is applied to; kept across inputs, like a store across restarts.
struct Tiers {
  ManualClock clock{1'770'000'000'000};
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<TierService> tiers;
  std::string path = "/tmp/tollgate-fuzz-config-" + std::to_string(getpid()) + ".yaml";

  Tiers() {
    auto opened = SqliteStore::Open(kSqliteInMemoryPath);
    if (!opened) Fail("open the store", opened.error().detail);
    store = std::move(*opened);
    auto created = TierService::Create(*store, clock);
    if (!created) Fail("tiers", created.error().detail);
    tiers = std::move(*created);
  }
};
Tiers* tiers = nullptr;

// A limiter URL is resolved with getaddrinfo: only numeric hosts here, so no input waits on DNS.
bool NumericHostsOnly(const std::string& url) {
  if (!url.starts_with("redis://")) return true;
  return url.find_first_not_of("0123456789.:, ", 8) == std::string::npos;
}

void CheckSettings(const ServeConfig& config) {
  ExpectReason(ParseListen(config.listen), "listen");
  ExpectReason(ParseStoreUrl(config.store), "store URL");
  if (NumericHostsOnly(config.limiter)) ExpectReason(ParseLimiterUrl(config.limiter), "limiter URL");
  ExpectReason(ParseFailurePolicies(config.limiter_failure_policy), "failure policies");
  auto options = ToServerOptions(config);
  ExpectReason(options, "server options");
  if (options && options->max_body_bytes != config.max_body_bytes) Fail("server options", "body limit lost");
}

void ApplyTiers(std::string_view yaml, const std::string& default_tier) {
  {
    std::ofstream file(tiers->path, std::ios::binary | std::ios::trunc);
    file.write(yaml.data(), static_cast<std::streamsize>(yaml.size()));
  }
  ExpectReason(ReadConfiguredTiers(std::string(yaml), "fuzz.yaml"), "tiers section");
  ExpectReason(ApplyTierConfiguration(*tiers->tiers, tiers->path, default_tier), "tier configuration");
  std::remove(tiers->path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tiers = new Tiers();  // lives until exit
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view yaml = input.substr(0, nul);

  std::vector<std::string> args = {"tollgate", "serve"};
  if (nul != std::string_view::npos) {
    std::string_view rest = input.substr(nul + 1);
    while (!rest.empty()) {
      const std::size_t newline = rest.find('\n');
      args.emplace_back(rest.substr(0, newline));
      rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    }
  }
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());

  CLI::App app{"tollgate"};
  app.require_subcommand(1);
  ServeConfig config;
  CLI::App* serve = app.add_subcommand("serve", "run the tollgate server");
  AddServeOptions(*serve, config);
  const Status applied = ApplyConfigText(*serve, std::string(yaml), "fuzz.yaml");
  ExpectReason(applied, "config file");
  if (!applied) return 0;
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {
    return 0;  // main prints CLI11's message and exits 2
  }
  CheckSettings(config);
  ApplyTiers(yaml, config.default_tier);
  return 0;
}
