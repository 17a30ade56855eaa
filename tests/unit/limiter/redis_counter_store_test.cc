// RedisCounterStore against the real redis-server of the `redis` fixture (and against a port
// where nothing listens, for the failure policies). Each test runs the store on an io_context of
// its own, registered as this thread's event loop, as an HTTP worker would.
#include <utility>  // before Boost, see DESIGN.md

#include "limiter/redis/redis_counter_store.h"

#include <chrono>
#include <cstdlib>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "common/event_loop.h"
#include "redis_test_client.h"

namespace tollgate {
namespace {

using limiter_test::RedisClient;
using limiter_test::Text;

constexpr UnixMillis kNow = 1'700'000'040'000;

// A loopback port nothing listens on: connections are refused at once.
constexpr int kDeadPort = 1;

class RedisCounterStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* address = std::getenv("TOLLGATE_TEST_REDIS");
    if (address == nullptr) GTEST_SKIP() << "set TOLLGATE_TEST_REDIS=<ip>:<port> (ctest does, with its redis fixture)";
    address_ = address;
    client_ = RedisClient::Connect(address_);
    ASSERT_NE(client_, nullptr) << "no redis-server at " << address_;
    client_->Run({"FLUSHALL"});
    client_->Run({"CONFIG", "RESETSTAT"});
  }

  RedisLimiterOptions Options(bool live = true) const {
    RedisLimiterOptions options;
    const auto colon = address_.rfind(':');
    options.shards = {{address_.substr(0, colon), live ? std::atoi(address_.c_str() + colon + 1) : kDeadPort}};
    options.timeout = std::chrono::milliseconds(200);  // generous: the machine is shared
    return options;
  }

  // Runs one call to completion on this thread's loop; nullopt (and a failure) when it errs.
  std::optional<std::vector<LimitDecision>> Call(RedisCounterStore& store, std::vector<LimitCheck> checks,
                                                 CheckOptions options = {}) {
    bool answered = false;
    std::optional<std::vector<LimitDecision>> decisions;
    store.CheckAndCharge(checks, kNow, options, [&](const Result<std::vector<LimitDecision>>& r) {
      answered = true;
      if (r) {
        decisions = *r;
      } else {
        ADD_FAILURE() << r.error().detail;
      }
    });
    RunUntil([&] { return answered; });
    EXPECT_TRUE(answered) << "no answer within 5 s";
    return decisions;
  }

  template <typename Done>
  void RunUntil(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      loop_.restart();
      loop_.run_for(std::chrono::milliseconds(5));
    }
  }

  long long EvalshaCalls() {
    const std::string stats = Text(client_->Run({"INFO", "commandstats"}).get());
    const auto at = stats.find("cmdstat_evalsha:calls=");
    return at == std::string::npos ? 0 : std::atoll(stats.c_str() + at + 22);
  }

  boost::asio::io_context loop_;
  ScopedEventLoop registered_{loop_};
  std::string address_;
  std::unique_ptr<RedisClient> client_;
};

LimitCheck Fixed(std::string key, std::int64_t limit, std::int64_t cost = 1) {
  return {std::move(key), LimitAlgorithm::kFixedWindow, limit, 60'000, cost};
}

TEST_F(RedisCounterStoreTest, DecidesInRedisAllOrNothing) {
  RedisCounterStore store(Options());
  for (int i = 0; i < 3; ++i) {
    auto decided = Call(store, {Fixed("{k:a}x", 3), Fixed("{k:a}y", 10)});
    ASSERT_TRUE(decided);
    EXPECT_TRUE((*decided)[0].allowed && (*decided)[1].allowed) << "call " << i;
  }
  auto denied = Call(store, {Fixed("{k:a}x", 3), Fixed("{k:a}y", 10)});
  ASSERT_TRUE(denied);
  EXPECT_FALSE((*denied)[0].allowed);
  EXPECT_TRUE((*denied)[1].allowed);
  EXPECT_EQ((*denied)[1].remaining, 7) << "the denied call charged nothing";
  // The state is in Redis, under the prefix, the routing tag and the algorithm.
  EXPECT_EQ(client_->Run({"EXISTS", "tg:{k:a}x#3"})->integer, 1);
}

TEST_F(RedisCounterStoreTest, CallsOfOneLoopTurnGoAsOneScriptCall) {
  RedisCounterStore store(Options());
  ASSERT_TRUE(Call(store, {Fixed("{k:warm}x", 5)}));  // connects and loads the script
  const long long before = EvalshaCalls();
  int admitted = 0, answered = 0;
  for (int i = 0; i < 50; ++i) {
    const std::vector<LimitCheck> checks = {Fixed("{k:b" + std::to_string(i % 5) + "}x", 7)};
    store.CheckAndCharge(checks, kNow, CheckOptions{}, [&](const Result<std::vector<LimitDecision>>& r) {
      ++answered;
      if (r && (*r)[0].allowed) ++admitted;
    });
  }
  EXPECT_EQ(answered, 0) << "Redis answers later, never inline";
  RunUntil([&] { return answered == 50; });
  EXPECT_EQ(answered, 50);
  EXPECT_EQ(admitted, 5 * 7) << "in order within the batch: each counter admits its limit";
  EXPECT_EQ(EvalshaCalls() - before, 1);
}

TEST_F(RedisCounterStoreTest, AnUnreachableShardGetsTheCallersPolicy) {
  RedisLimiterOptions options = Options(/*live=*/false);
  options.expected_nodes = 2;
  RedisCounterStore store(options);
  auto open = Call(store, {Fixed("{k:c}x", 4)}, {LimiterFailurePolicy::kFailOpen});
  ASSERT_TRUE(open);
  EXPECT_TRUE((*open)[0].allowed);
  auto closed = Call(store, {Fixed("{k:c}x", 4)}, {LimiterFailurePolicy::kFailClosed});
  ASSERT_TRUE(closed);
  EXPECT_FALSE((*closed)[0].allowed);
  // local: this node enforces 4 / 2 expected nodes.
  int admitted = 0;
  for (int i = 0; i < 5; ++i) {
    auto local = Call(store, {Fixed("{k:d}x", 4)}, {LimiterFailurePolicy::kLocal});
    ASSERT_TRUE(local);
    admitted += (*local)[0].allowed ? 1 : 0;
  }
  EXPECT_EQ(admitted, 2);
}

TEST_F(RedisCounterStoreTest, AnOpenBreakerAnswersAtOnce) {
  RedisLimiterOptions options = Options(/*live=*/false);
  options.breaker_failures = 2;
  options.breaker_open = std::chrono::seconds(30);
  RedisCounterStore store(options);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Call(store, {Fixed("{k:e}x", 4)}));
  bool inline_answer = false;
  const std::vector<LimitCheck> checks = {Fixed("{k:e}x", 4)};
  store.CheckAndCharge(checks, kNow, {LimiterFailurePolicy::kFailClosed},
                       [&](const Result<std::vector<LimitDecision>>& r) { inline_answer = r && !(*r)[0].allowed; });
  EXPECT_TRUE(inline_answer) << "with the breaker open, no batch waits for the shard";
}

TEST_F(RedisCounterStoreTest, CountsDecisionsRoundTripsFailuresAndBreakerState) {
  MetricsRegistry registry;
  LimiterMetrics metrics(registry);
  RedisLimiterOptions live = Options();
  live.metrics = &metrics;
  RedisCounterStore store(live);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Call(store, {Fixed("{k:m}x", 2)}));
  ASSERT_TRUE(Call(store, {Fixed("{k:m}x", 2, /*cost=*/0)}));  // a peek decides nothing
  EXPECT_TRUE(store.PingShard(0, std::chrono::milliseconds(200)));

  RedisLimiterOptions dead = Options(/*live=*/false);
  dead.metrics = &metrics;
  dead.breaker_failures = 2;
  dead.breaker_open = std::chrono::seconds(30);
  RedisCounterStore down(dead);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Call(down, {Fixed("{k:m}x", 2)}, {LimiterFailurePolicy::kFailOpen}));
  EXPECT_FALSE(down.PingShard(0, std::chrono::milliseconds(200)));

  const std::string text = registry.Render();
  const std::string live_shard = "shard=\"" + live.shards[0].name() + "\"";
  const std::string dead_shard = "shard=\"" + dead.shards[0].name() + "\"";
  EXPECT_NE(text.find("tollgate_limiter_decisions_total{backend=\"redis\",decision=\"allowed\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_limiter_decisions_total{backend=\"redis\",decision=\"limited\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_limiter_decisions_total{backend=\"redis\",decision=\"fail_open\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_redis_command_duration_seconds_count{" + live_shard + "} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_redis_errors_total{" + dead_shard + ",kind=\"error\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_redis_errors_total{" + dead_shard + ",kind=\"breaker_open\"} 1\n"), std::string::npos) << text;
}

TEST_F(RedisCounterStoreTest, LeaseModeTakesChunksAndDecidesLocally) {
  RedisLimiterOptions options = Options();
  options.mode = LimiterMode::kLease;
  options.lease_percent = 10;  // chunks of 10 of a limit of 100
  RedisCounterStore store(options);
  ASSERT_TRUE(Call(store, {Fixed("{k:f}x", 100)}));
  const long long after_first = EvalshaCalls();
  for (int i = 0; i < 9; ++i) {
    auto decided = Call(store, {Fixed("{k:f}x", 100)});
    ASSERT_TRUE(decided);
    EXPECT_TRUE((*decided)[0].allowed);
  }
  EXPECT_EQ(EvalshaCalls(), after_first) << "the other 9 came out of the first chunk";
  ASSERT_TRUE(Call(store, {Fixed("{k:f}x", 100)}));
  EXPECT_EQ(EvalshaCalls(), after_first + 1) << "the 11th takes a second chunk";
  // What Redis holds is what was leased: 20 of 100 charged.
  RedisLimiterOptions exact = Options();
  RedisCounterStore peek(exact);
  auto seen = Call(peek, {Fixed("{k:f}x", 100, 0)});
  ASSERT_TRUE(seen);
  EXPECT_EQ((*seen)[0].remaining, 80);
}

TEST_F(RedisCounterStoreTest, LeaseModeDeniesOnceRedisHasNothingLeft) {
  RedisLimiterOptions options = Options();
  options.mode = LimiterMode::kLease;
  options.lease_percent = 50;
  RedisCounterStore store(options);
  int admitted = 0;
  for (int i = 0; i < 6; ++i) {
    auto decided = Call(store, {Fixed("{k:g}x", 4)});
    ASSERT_TRUE(decided);
    admitted += (*decided)[0].allowed ? 1 : 0;
  }
  EXPECT_EQ(admitted, 4);
}

TEST_F(RedisCounterStoreTest, TwoNodesCountOneQuotaAndItBlocksThemBoth) {
  // Two stores stand for two nodes: the count they share lives in Redis.
  RedisCounterStore a(Options());
  RedisCounterStore b(Options());
  ASSERT_TRUE(a.CountsQuota());
  QuotaCount quota{"{i:acme}q:202611", /*seed=*/0, /*blocks_at=*/5,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count() + 86'400'000};
  int counted = 0, blocked = 0;
  std::int64_t last_used = 0;
  for (int i = 0; i < 8; ++i) {
    RedisCounterStore& node = i % 2 == 0 ? a : b;
    bool answered = false;
    const std::vector<LimitCheck> checks = {Fixed("{i:acme}k:key_1:requests", 100)};
    node.CheckChargeAndCount(checks, quota, kNow, {}, [&](const Result<std::vector<LimitDecision>>& decided, QuotaAnswer answer) {
      answered = true;
      ASSERT_TRUE(decided);
      EXPECT_TRUE(answer.counted);
      if (answer.blocked) {
        ++blocked;
      } else {
        ++counted;
      }
      last_used = answer.used;
    });
    RunUntil([&] { return answered; });
  }
  EXPECT_EQ(counted, 5);
  EXPECT_EQ(blocked, 3);
  EXPECT_EQ(last_used, 5);
  // The blocked calls charged nothing: the limit saw 5 of 100.
  auto seen = Call(a, {Fixed("{i:acme}k:key_1:requests", 100, 0)});
  ASSERT_TRUE(seen);
  EXPECT_EQ((*seen)[0].remaining, 95);
}

TEST_F(RedisCounterStoreTest, AnUnreachableShardLeavesTheQuotaToTheCaller) {
  RedisCounterStore store(Options(/*live=*/false));
  bool answered = false;
  const std::vector<LimitCheck> checks = {Fixed("{i:acme}x", 10)};
  store.CheckChargeAndCount(checks, QuotaCount{"{i:acme}q:202611", 0, 1, 0}, kNow, {LimiterFailurePolicy::kLocal},
                            [&](const Result<std::vector<LimitDecision>>& decided, QuotaAnswer answer) {
                              answered = true;
                              EXPECT_TRUE(decided);
                              EXPECT_FALSE(answer.counted);
                            });
  RunUntil([&] { return answered; });
  EXPECT_TRUE(answered);
}

}  // namespace
}  // namespace tollgate
