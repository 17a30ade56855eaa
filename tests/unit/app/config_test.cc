// `tollgate serve` settings: defaults, the YAML file, TOLLGATE_* variables and flags, in that
// order of increasing precedence, parsed the way main() does (ApplyConfig*, then CLI11).
#include "app/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/ids.h"

namespace tollgate {
namespace {

// Every variable AddServeOptions reads; the fixture clears them so the host's environment
// cannot leak into a test, and puts them back afterwards.
const char* const kServeVariables[] = {
    "TOLLGATE_CONFIG",           "TOLLGATE_LISTEN",          "TOLLGATE_STORE",
    "TOLLGATE_WORKERS",          "TOLLGATE_MAX_BODY_BYTES",  "TOLLGATE_MAX_HEADER_BYTES",
    "TOLLGATE_HEADER_TIMEOUT_MS", "TOLLGATE_BODY_TIMEOUT_MS", "TOLLGATE_IDLE_TIMEOUT_MS",
    "TOLLGATE_MAX_CONNECTIONS",  "TOLLGATE_SHUTDOWN_TIMEOUT_MS", "TOLLGATE_LOG_LEVEL",
    "TOLLGATE_TLS_CERT",         "TOLLGATE_TLS_KEY",
};

class ServeConfigTest : public ::testing::Test {
 protected:
  ServeConfigTest() {
    serve_ = app_.add_subcommand("serve", "run the tollgate server");
    AddServeOptions(*serve_, config_);
  }

  void SetUp() override {
    for (const char* name : kServeVariables) {
      if (const char* value = std::getenv(name)) saved_env_[name] = value;
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char* name : kServeVariables) {
      ::unsetenv(name);
      if (auto it = saved_env_.find(name); it != saved_env_.end()) ::setenv(name, it->second.c_str(), 1);
    }
    for (const auto& path : files_) std::filesystem::remove(path);
  }

  // Parses "tollgate serve <args...>" as main() does; returns CLI11's message on failure.
  std::optional<std::string> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), {"tollgate", "serve"});
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    try {
      app_.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return std::string(e.what());
    }
    EXPECT_TRUE(serve_->parsed());
    return std::nullopt;
  }

  // ApplyConfigText's error detail, or "" on success.
  std::string ApplyYaml(const std::string& yaml) {
    Status status;
    EXPECT_NO_THROW(status = ApplyConfigText(*serve_, yaml, "test.yaml")) << yaml;
    return status ? "" : status.error().detail;
  }

  std::string WriteFile(const std::string& text) {
    const auto path = std::filesystem::temp_directory_path() / (NewId("tollgate_config_test") + ".yaml");
    std::ofstream(path) << text;
    files_.push_back(path);
    return path.string();
  }

  CLI::App app_{"tollgate"};
  CLI::App* serve_ = nullptr;
  ServeConfig config_;
  std::map<std::string, std::string> saved_env_;
  std::vector<std::filesystem::path> files_;
};

// ---- precedence ----

TEST_F(ServeConfigTest, DefaultsWhenNothingIsGiven) {
  ASSERT_EQ(Parse({}), std::nullopt);
  EXPECT_EQ(config_.listen, "127.0.0.1:8080");
  EXPECT_EQ(config_.store, "sqlite://./data/tollgate.db");
  EXPECT_EQ(config_.workers, 0);
  EXPECT_EQ(config_.log_level, "info");
  EXPECT_EQ(config_.max_body_bytes, std::size_t{1} << 20);
  EXPECT_EQ(config_.config_file, "");
}

TEST_F(ServeConfigTest, FlagsSetValues) {
  ASSERT_EQ(Parse({"--listen", "0.0.0.0:9000", "--store=sqlite:///var/lib/tg.db", "--workers", "3",
                   "--log-level", "debug", "--max-body-bytes", "4096"}),
            std::nullopt);
  EXPECT_EQ(config_.listen, "0.0.0.0:9000");
  EXPECT_EQ(config_.store, "sqlite:///var/lib/tg.db");
  EXPECT_EQ(config_.workers, 3);
  EXPECT_EQ(config_.log_level, "debug");
  EXPECT_EQ(config_.max_body_bytes, 4096u);
}

TEST_F(ServeConfigTest, YamlSetsValues) {
  ASSERT_EQ(ApplyYaml("listen: 0.0.0.0:7000\n"
                      "store: sqlite://./other.db\n"
                      "workers: 4\n"
                      "log-level: warn\n"
                      "idle-timeout-ms: 5000\n"),
            "");
  ASSERT_EQ(Parse({}), std::nullopt);
  EXPECT_EQ(config_.listen, "0.0.0.0:7000");
  EXPECT_EQ(config_.store, "sqlite://./other.db");
  EXPECT_EQ(config_.workers, 4);
  EXPECT_EQ(config_.log_level, "warn");
  EXPECT_EQ(config_.idle_timeout_ms, 5000);
}

TEST_F(ServeConfigTest, FlagBeatsYaml) {
  ASSERT_EQ(ApplyYaml("listen: 0.0.0.0:7000\nworkers: 4\n"), "");
  ASSERT_EQ(Parse({"--listen", "127.0.0.1:9999"}), std::nullopt);
  EXPECT_EQ(config_.listen, "127.0.0.1:9999");
  EXPECT_EQ(config_.workers, 4);  // not given as a flag: the YAML value stays
}

TEST_F(ServeConfigTest, EnvironmentBeatsYaml) {
  ASSERT_EQ(ApplyYaml("listen: 0.0.0.0:7000\nworkers: 4\n"), "");
  ::setenv("TOLLGATE_LISTEN", "10.0.0.1:8000", 1);
  ASSERT_EQ(Parse({}), std::nullopt);
  EXPECT_EQ(config_.listen, "10.0.0.1:8000");
  EXPECT_EQ(config_.workers, 4);
}

TEST_F(ServeConfigTest, FlagBeatsEnvironment) {
  ::setenv("TOLLGATE_LISTEN", "10.0.0.1:8000", 1);
  ::setenv("TOLLGATE_WORKERS", "2", 1);
  ASSERT_EQ(ApplyYaml("listen: 0.0.0.0:7000\n"), "");
  ASSERT_EQ(Parse({"--listen", "127.0.0.1:9999"}), std::nullopt);
  EXPECT_EQ(config_.listen, "127.0.0.1:9999");
  EXPECT_EQ(config_.workers, 2);
}

TEST_F(ServeConfigTest, OutOfRangeFlagIsRefused) {
  EXPECT_NE(Parse({"--workers", "1000"}), std::nullopt);
  EXPECT_NE(Parse({"--log-level", "loud"}), std::nullopt);
}

// ---- the YAML document ----

TEST_F(ServeConfigTest, EmptyYamlChangesNothing) {
  ASSERT_EQ(ApplyYaml(""), "");
  ASSERT_EQ(ApplyYaml("# only a comment\n"), "");
  ASSERT_EQ(Parse({}), std::nullopt);
  EXPECT_EQ(config_.listen, "127.0.0.1:8080");
}

TEST_F(ServeConfigTest, UnknownYamlKeyIsNamed) {
  const std::string detail = ApplyYaml("listen: 127.0.0.1:1\nlisten_address: 0.0.0.0:80\n");
  EXPECT_NE(detail.find("unknown setting 'listen_address'"), std::string::npos) << detail;
  EXPECT_NE(detail.find("test.yaml"), std::string::npos) << detail;
}

TEST_F(ServeConfigTest, InvalidYamlIsAnError) {
  const std::string detail = ApplyYaml("listen: [unclosed\n");
  EXPECT_NE(detail.find("not valid YAML"), std::string::npos) << detail;
  EXPECT_NE(detail.find("test.yaml"), std::string::npos) << detail;
}

TEST_F(ServeConfigTest, YamlMustBeAMappingOfSingleValues) {
  EXPECT_NE(ApplyYaml("- listen\n- store\n").find("must be a mapping"), std::string::npos);
  EXPECT_NE(ApplyYaml("just text\n").find("must be a mapping"), std::string::npos);
  EXPECT_NE(ApplyYaml("listen: [a, b]\n").find("setting 'listen' must be a single value"), std::string::npos);
  EXPECT_NE(ApplyYaml("listen:\n  host: a\n").find("setting 'listen' must be a single value"), std::string::npos);
}

TEST_F(ServeConfigTest, AKeyThatIsNotTextIsAnErrorNotACrash) {
  const std::string detail = ApplyYaml("? [listen, store]\n: 127.0.0.1:1\n");
  EXPECT_NE(detail, "");
}

TEST_F(ServeConfigTest, YamlValuesAreValidatedLikeFlags) {
  const std::string range = ApplyYaml("workers: 1000\n");
  EXPECT_NE(range.find("setting 'workers'"), std::string::npos) << range;
  const std::string type = ApplyYaml("workers: many\n");
  EXPECT_NE(type.find("setting 'workers'"), std::string::npos) << type;
  const std::string member = ApplyYaml("log-level: loud\n");
  EXPECT_NE(member.find("setting 'log-level'"), std::string::npos) << member;
}

TEST_F(ServeConfigTest, ConfigCannotNameAnotherConfig) {
  EXPECT_NE(ApplyYaml("config: other.yaml\n").find("'config' cannot be set"), std::string::npos);
}

// ---- the YAML file ----

TEST_F(ServeConfigTest, ConfigFileNamedByFlagIsApplied) {
  const std::string path = WriteFile("listen: 0.0.0.0:7001\n");
  for (const std::vector<std::string>& flag : {std::vector<std::string>{"--config", path},
                                               std::vector<std::string>{"--config=" + path}}) {
    CLI::App app{"tollgate"};
    ServeConfig config;
    CLI::App* serve = app.add_subcommand("serve");
    AddServeOptions(*serve, config);
    std::vector<const char*> argv = {"tollgate", "serve"};
    for (const std::string& arg : flag) argv.push_back(arg.c_str());
    auto status = ApplyConfigFile(*serve, static_cast<int>(argv.size()), argv.data());
    ASSERT_TRUE(status.has_value()) << status.error().detail;
    app.parse(static_cast<int>(argv.size()), argv.data());
    EXPECT_EQ(config.listen, "0.0.0.0:7001") << flag.back();
    EXPECT_EQ(config.config_file, path);
  }
}

TEST_F(ServeConfigTest, ConfigFileNamedByEnvironmentIsApplied) {
  ::setenv("TOLLGATE_CONFIG", WriteFile("store: sqlite://./env.db\n").c_str(), 1);
  const char* argv[] = {"tollgate", "serve"};
  auto status = ApplyConfigFile(*serve_, 2, argv);
  ASSERT_TRUE(status.has_value()) << status.error().detail;
  ASSERT_EQ(Parse({}), std::nullopt);
  EXPECT_EQ(config_.store, "sqlite://./env.db");
}

TEST_F(ServeConfigTest, MissingConfigFileIsAnErrorNamingIt) {
  const std::string path = (std::filesystem::temp_directory_path() / "tollgate_no_such_config.yaml").string();
  const char* argv[] = {"tollgate", "serve", "--config", path.c_str()};
  auto status = ApplyConfigFile(*serve_, 4, argv);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().detail.find(path), std::string::npos) << status.error().detail;
}

TEST_F(ServeConfigTest, NoConfigFileIsFine) {
  const char* argv[] = {"tollgate", "serve"};
  EXPECT_TRUE(ApplyConfigFile(*serve_, 2, argv).has_value());
}

// ---- ParseListen ----

TEST(ParseListenTest, AcceptsAddressPortForms) {
  const std::pair<std::string, std::pair<std::string, unsigned short>> cases[] = {
      {"127.0.0.1:0", {"127.0.0.1", 0}},
      {"127.0.0.1:8080", {"127.0.0.1", 8080}},
      {"[::1]:8080", {"::1", 8080}},
      {":9000", {"0.0.0.0", 9000}},
      {"localhost:65535", {"127.0.0.1", 65535}},
  };
  for (const auto& [text, expected] : cases) {
    auto parsed = ParseListen(text);
    ASSERT_TRUE(parsed.has_value()) << text << ": " << parsed.error().detail;
    EXPECT_EQ(*parsed, expected) << text;
  }
}

TEST(ParseListenTest, RefusesWhatIsNotAddressPort) {
  for (const std::string text : {"nope", "1.2.3.4:70000", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:-1",
                                 "1.2.3.4:80x", "1.2.3.4:99999999999999999999", ""}) {
    auto parsed = ParseListen(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidInput);
    EXPECT_NE(parsed.error().detail.find("--listen"), std::string::npos) << parsed.error().detail;
  }
}

// ---- ParseStoreUrl ----

TEST(ParseStoreUrlTest, SqliteUrlsNameAFile) {
  auto relative = ParseStoreUrl("sqlite://./data/x.db");
  ASSERT_TRUE(relative.has_value());
  EXPECT_EQ(relative->kind, StoreUrl::Kind::kSqlite);
  EXPECT_EQ(relative->sqlite_path, "./data/x.db");
  EXPECT_EQ(ParseStoreUrl("sqlite:///var/lib/tollgate.db")->sqlite_path, "/var/lib/tollgate.db");
}

TEST(ParseStoreUrlTest, PostgresUrlsGoToLibpqAsTheyAre) {
  auto postgres = ParseStoreUrl("postgres://tollgate:secret@db:5432/tollgate?sslmode=require");
  ASSERT_TRUE(postgres.has_value());
  EXPECT_EQ(postgres->kind, StoreUrl::Kind::kPostgres);
  EXPECT_EQ(postgres->conninfo, "postgres://tollgate:secret@db:5432/tollgate?sslmode=require");
  EXPECT_EQ(ParseStoreUrl("postgresql://db/tollgate")->kind, StoreUrl::Kind::kPostgres);
}

TEST(ParseStoreUrlTest, RefusesWhatIsNoStoreWithAReason) {
  auto bare = ParseStoreUrl("foo");
  ASSERT_FALSE(bare.has_value());
  EXPECT_NE(bare.error().detail.find("sqlite://"), std::string::npos) << bare.error().detail;
  EXPECT_NE(bare.error().detail.find("postgres://"), std::string::npos) << bare.error().detail;

  auto empty_path = ParseStoreUrl("sqlite://");
  ASSERT_FALSE(empty_path.has_value());
  EXPECT_NE(empty_path.error().detail.find("names no file"), std::string::npos);
  EXPECT_FALSE(ParseStoreUrl("postgres://").has_value());
}

// ---- ToServerOptions ----

TEST(ToServerOptionsTest, CarriesEverySetting) {
  ServeConfig config;
  config.listen = "[::1]:7000";
  config.workers = 3;
  config.max_body_bytes = 4096;
  config.max_header_bytes = 2048;
  config.header_timeout_ms = 111;
  config.body_timeout_ms = 222;
  config.idle_timeout_ms = 333;
  config.max_connections = 44;
  config.tls_cert = "/etc/tollgate/chain.pem";
  config.tls_key = "/etc/tollgate/key.pem";
  auto options = ToServerOptions(config);
  ASSERT_TRUE(options.has_value()) << options.error().detail;
  EXPECT_EQ(options->address, "::1");
  EXPECT_EQ(options->port, 7000);
  EXPECT_EQ(options->workers, 3);
  EXPECT_EQ(options->max_body_bytes, 4096u);
  EXPECT_EQ(options->max_header_bytes, 2048u);
  EXPECT_EQ(options->header_timeout.count(), 111);
  EXPECT_EQ(options->body_timeout.count(), 222);
  EXPECT_EQ(options->idle_timeout.count(), 333);
  EXPECT_EQ(options->max_connections, 44u);
  EXPECT_EQ(options->tls_cert_file, "/etc/tollgate/chain.pem");
  EXPECT_EQ(options->tls_key_file, "/etc/tollgate/key.pem");

  config.listen = "nope";
  EXPECT_FALSE(ToServerOptions(config).has_value());
}

TEST(ToServerOptionsTest, TlsNeedsBothTheCertificateAndTheKey) {
  ServeConfig config;
  config.tls_cert = "chain.pem";
  auto options = ToServerOptions(config);
  ASSERT_FALSE(options.has_value());
  EXPECT_EQ(options.error().detail, "--tls-cert needs --tls-key: give both PEM files, or neither for plain HTTP");

  config.tls_cert.clear();
  config.tls_key = "key.pem";
  options = ToServerOptions(config);
  ASSERT_FALSE(options.has_value());
  EXPECT_EQ(options.error().detail, "--tls-key needs --tls-cert: give both PEM files, or neither for plain HTTP");

  config.tls_key.clear();
  options = ToServerOptions(config);
  ASSERT_TRUE(options.has_value());
  EXPECT_TRUE(options->tls_cert_file.empty());
}

TEST_F(ServeConfigTest, TlsFilesComeFromFlagsYamlAndTheEnvironment) {
  ::setenv("TOLLGATE_TLS_KEY", "/env/key.pem", 1);
  ASSERT_EQ(ApplyYaml("tls-cert: /yaml/chain.pem\n"), "");
  ASSERT_EQ(Parse({}), std::nullopt);
  EXPECT_EQ(config_.tls_cert, "/yaml/chain.pem");
  EXPECT_EQ(config_.tls_key, "/env/key.pem");
  ASSERT_EQ(Parse({"--tls-cert", "/flag/chain.pem", "--tls-key=/flag/key.pem"}), std::nullopt);
  EXPECT_EQ(config_.tls_cert, "/flag/chain.pem");
  EXPECT_EQ(config_.tls_key, "/flag/key.pem");
}

}  // namespace
}  // namespace tollgate
