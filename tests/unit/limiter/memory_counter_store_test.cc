#include "limiter/memory_counter_store.h"

#include <atomic>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "algorithm_properties.h"

namespace tollgate {
namespace {

constexpr UnixMillis kT0 = 1'700'000'040'000;  // aligned to 1 s and to 1 min
using limiter_test::AlgorithmName;
using limiter_test::kAllAlgorithms;

SipHashKey TestKey() {
  SipHashKey key{};
  key[0] = 42;
  return key;
}

LimitCheck Check(std::string key, std::int64_t limit, std::int64_t window_ms = 1000, std::int64_t cost = 1,
                 LimitAlgorithm algorithm = LimitAlgorithm::kSlidingWindow) {
  return {std::move(key), algorithm, limit, window_ms, cost};
}

Result<std::vector<LimitDecision>> CallStore(MemoryCounterStore& store, const std::vector<LimitCheck>& checks,
                                             UnixMillis now) {
  std::optional<Result<std::vector<LimitDecision>>> answer;
  store.CheckAndCharge(checks, now, [&answer](Result<std::vector<LimitDecision>> result) {
    answer = std::move(result);
  });
  EXPECT_TRUE(answer.has_value()) << "done was not called before CheckAndCharge returned";
  return answer.has_value() ? std::move(*answer) : Fail(Error::Internal("no answer"));
}

LimitDecision RunOne(MemoryCounterStore& store, const LimitCheck& check, UnixMillis now) {
  auto result = CallStore(store, {check}, now);
  EXPECT_TRUE(result.has_value()) << result.error().detail;
  EXPECT_EQ(result->size(), 1u);
  return result.has_value() && !result->empty() ? result->front() : LimitDecision{};
}

// What a counter would still admit, asked with cost 0 (which charges and stores nothing).
std::int64_t Remaining(MemoryCounterStore& store, LimitCheck check, UnixMillis now) {
  check.cost = 0;
  return RunOne(store, check, now).remaining;
}

TEST(MemoryCounterStoreTest, ChargesOneCheckAndCompletesInline) {
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    MemoryCounterStore store({}, TestKey());
    const LimitCheck check = Check("k:key_1:requests", 3, 1000, 1, algorithm);
    for (std::int64_t expected_remaining : {2, 1, 0}) {
      const LimitDecision d = RunOne(store, check, kT0 + 10);
      EXPECT_TRUE(d.allowed);
      EXPECT_EQ(d.remaining, expected_remaining);
    }
    const LimitDecision denied = RunOne(store, check, kT0 + 10);
    EXPECT_FALSE(denied.allowed);
    EXPECT_GT(denied.reset_at, kT0 + 10);
    EXPECT_EQ(store.entry_count(), 1u);
  }
}

template <typename Algorithm>
void ExpectStoreDecidesLike(LimitAlgorithm algorithm) {
  SCOPED_TRACE(AlgorithmName(algorithm));
  for (const LimitParams& shape : limiter_test::PropertyShapes()) {
    MemoryCounterStore store({}, TestKey());
    typename Algorithm::State state{};
    for (const limiter_test::Arrival& a : limiter_test::RandomArrivals(11, 1500, shape)) {
      const LimitParams params{shape.limit, shape.window_ms, a.cost};
      const LimitDecision expected = Algorithm::Decide(state, params, a.at);
      const LimitDecision got =
          RunOne(store, Check("i:ident_9:burst", shape.limit, shape.window_ms, a.cost, algorithm), a.at);
      ASSERT_EQ(got.allowed, expected.allowed) << a.at;
      ASSERT_EQ(got.remaining, expected.remaining) << a.at;
      ASSERT_EQ(got.reset_at, expected.reset_at) << a.at;
    }
  }
}

TEST(MemoryCounterStoreTest, DecidesExactlyLikeEachAlgorithmsStateMachine) {
  ExpectStoreDecidesLike<SlidingWindow>(LimitAlgorithm::kSlidingWindow);
  ExpectStoreDecidesLike<TokenBucket>(LimitAlgorithm::kTokenBucket);
  ExpectStoreDecidesLike<FixedWindow>(LimitAlgorithm::kFixedWindow);
  ExpectStoreDecidesLike<Gcra>(LimitAlgorithm::kGcra);
}

TEST(MemoryCounterStoreTest, WhenOneLimitDeniesNoneIsCharged) {
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    MemoryCounterStore store({}, TestKey());
    const LimitCheck per_key = Check("k:key_1:rps", 10, 1000, 1, algorithm);
    const LimitCheck tight = Check("k:key_1:burst", 2, 1000, 1, algorithm);
    const LimitCheck per_identity = Check("i:ident_1:rps", 10, 60'000, 1, algorithm);
    ASSERT_TRUE(RunOne(store, tight, kT0).allowed);
    ASSERT_TRUE(RunOne(store, tight, kT0).allowed);

    auto result = CallStore(store, {per_key, tight, per_identity}, kT0 + 1);
    ASSERT_TRUE(result.has_value());
    ASSERT_EQ(result->size(), 3u);
    EXPECT_TRUE((*result)[0].allowed);  // this limit alone would admit ...
    EXPECT_FALSE((*result)[1].allowed);  // ... but this one denies, so nothing is charged
    EXPECT_TRUE((*result)[2].allowed);
    EXPECT_EQ((*result)[0].remaining, 10);  // the decisions describe the uncharged counters
    EXPECT_EQ((*result)[2].remaining, 10);
    EXPECT_EQ(Remaining(store, per_key, kT0 + 1), 10);
    EXPECT_EQ(Remaining(store, per_identity, kT0 + 1), 10);
    EXPECT_EQ(Remaining(store, tight, kT0 + 1), 0);
    EXPECT_EQ(store.entry_count(), 1u);  // the denied call stored nothing
  }
}

TEST(MemoryCounterStoreTest, WhenAllLimitsAllowAllAreCharged) {
  MemoryCounterStore store({}, TestKey());
  const std::vector<LimitCheck> checks = {Check("k:key_1:rps", 10, 1000, 2),
                                          Check("k:key_1:rpm", 100, 60'000, 2),
                                          Check("i:ident_1:rps", 20, 1000, 2, LimitAlgorithm::kTokenBucket)};
  auto result = CallStore(store, checks, kT0);
  ASSERT_TRUE(result.has_value());
  for (const LimitDecision& d : *result) EXPECT_TRUE(d.allowed);
  EXPECT_EQ((*result)[0].remaining, 8);
  EXPECT_EQ((*result)[1].remaining, 98);
  EXPECT_EQ((*result)[2].remaining, 18);
  EXPECT_EQ(store.entry_count(), 3u);
}

TEST(MemoryCounterStoreTest, CostAboveALimitDeniesTheWholeCall) {
  MemoryCounterStore store({}, TestKey());
  auto result = CallStore(store, {Check("a", 10), Check("b", 3, 1000, 4)}, kT0);
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE((*result)[1].allowed);
  EXPECT_EQ((*result)[1].reset_at, kNeverAdmitted);
  EXPECT_EQ(store.entry_count(), 0u);
}

TEST(MemoryCounterStoreTest, AnEmptyCallAnswersNothing) {
  MemoryCounterStore store({}, TestKey());
  auto result = CallStore(store, {}, kT0);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->empty());
}

TEST(MemoryCounterStoreTest, InvalidInputFailsTheCallAndChargesNothing) {
  MemoryCounterStore store({}, TestKey());
  auto result = CallStore(store, {Check("a", 10), Check("b", 0)}, kT0);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidInput);
  ASSERT_FALSE(result.error().fields.empty());
  EXPECT_EQ(result.error().fields[0].location, "checks[1].limit");
  EXPECT_EQ(Remaining(store, Check("a", 10), kT0), 10);

  auto repeated = CallStore(store, {Check("a", 10), Check("a", 10)}, kT0);
  ASSERT_FALSE(repeated.has_value());
  EXPECT_EQ(repeated.error().fields[0].location, "checks[1].counterKey");
  EXPECT_EQ(store.entry_count(), 0u);
}

TEST(MemoryCounterStoreTest, AKeyUnderAnotherAlgorithmIsAnotherCounter) {
  MemoryCounterStore store({}, TestKey());
  EXPECT_TRUE(RunOne(store, Check("a", 1), kT0).allowed);
  EXPECT_FALSE(RunOne(store, Check("a", 1), kT0).allowed);
  EXPECT_TRUE(RunOne(store, Check("a", 1, 1000, 1, LimitAlgorithm::kGcra), kT0).allowed);
  EXPECT_EQ(store.entry_count(), 2u);
}

TEST(MemoryCounterStoreTest, AskingWithCostZeroStoresNothing) {
  MemoryCounterStore store({}, TestKey());
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    EXPECT_EQ(RunOne(store, Check("fresh", 5, 1000, 0, algorithm), kT0).remaining, 5) << AlgorithmName(algorithm);
  }
  EXPECT_EQ(store.entry_count(), 0u);
}

// At the edges of ValidateLimitChecks every algorithm's arithmetic stays inside int64 (the
// sanitizer build turns any signed overflow into a failure), time running forwards or back.
TEST(MemoryCounterStoreTest, DecidesWithoutOverflowAtTheBounds) {
  const std::vector<LimitParams> shapes = {{kMaxLimitTimesWindow, 1, 1},
                                           {kMaxLimitTimesWindow / kMaxWindowMs, kMaxWindowMs, 1},
                                           {1, kMaxWindowMs, 1},
                                           {std::int64_t{1} << 31, std::int64_t{1} << 31, 1}};
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    for (const LimitParams& shape : shapes) {
      MemoryCounterStore store({}, TestKey());
      const std::int64_t costs[] = {shape.limit, 1, 0, shape.limit - 1,
                                    std::numeric_limits<std::int64_t>::max()};
      const UnixMillis times[] = {0, kMaxNow, kMaxNow - 1, 1, kMaxNow / 2, kMaxNow};
      for (UnixMillis now : times) {
        for (std::int64_t cost : costs) {
          const LimitCheck check = Check("edge", shape.limit, shape.window_ms, cost, algorithm);
          const LimitDecision d = RunOne(store, check, now);
          EXPECT_GE(d.remaining, 0);
          EXPECT_LE(d.remaining, shape.limit);
          EXPECT_GE(d.reset_at, now);
          EXPECT_EQ(d.allowed && cost > shape.limit, false);
        }
      }
    }
  }
}

TEST(MemoryCounterStoreTest, IdleEntriesVanishOnSweepAndTablesAreFreed) {
  MemoryCounterStore store({}, TestKey());
  const std::size_t empty_bytes = store.memory_bytes();
  for (int i = 0; i < 5000; ++i) RunOne(store, Check("k:" + std::to_string(i), 10, 1000), kT0 + 100);
  // A token bucket with one of 10 tokens spent is full again after 100 ms.
  for (int i = 0; i < 1000; ++i) {
    RunOne(store, Check("t:" + std::to_string(i), 10, 1000, 1, LimitAlgorithm::kTokenBucket), kT0 + 100);
  }
  EXPECT_EQ(store.entry_count(), 6000u);
  EXPECT_GT(store.memory_bytes(), empty_bytes);

  EXPECT_EQ(store.Sweep(kT0 + 200, SIZE_MAX), 1000u);  // only the token buckets are idle
  EXPECT_EQ(store.entry_count(), 5000u);
  EXPECT_EQ(store.Sweep(kT0 + 1999, SIZE_MAX), 0u);  // the sliding windows still matter ...
  EXPECT_EQ(store.Sweep(kT0 + 2000, SIZE_MAX), 5000u);  // ... until two windows have passed
  EXPECT_EQ(store.entry_count(), 0u);
  EXPECT_EQ(store.memory_bytes(), empty_bytes);
}

TEST(MemoryCounterStoreTest, ASmallSweepBudgetMakesProgressAcrossCalls) {
  MemoryCounterStore store({}, TestKey());
  for (int i = 0; i < 3000; ++i) {
    RunOne(store, Check("k:" + std::to_string(i), 10, 100, 1, LimitAlgorithm::kFixedWindow), kT0);
  }
  std::size_t removed = 0;
  for (int call = 0; call < 10'000 && store.entry_count() > 0; ++call) removed += store.Sweep(kT0 + 100, 64);
  EXPECT_EQ(removed, 3000u);
  EXPECT_EQ(store.entry_count(), 0u);
}

TEST(MemoryCounterStoreTest, InsertsSweepExpiredEntriesAsTheyGo) {
  MemoryCounterStore store({}, TestKey());
  for (int i = 0; i < 10'000; ++i) {
    RunOne(store, Check("old:" + std::to_string(i), 10, 10, 1, LimitAlgorithm::kFixedWindow), kT0);
  }
  const std::size_t bytes_after_first = store.memory_bytes();
  // Every old counter is idle at kT0 + 10; a second generation of keys replaces them without any
  // explicit Sweep and without the tables growing for the dead.
  for (int i = 0; i < 10'000; ++i) {
    RunOne(store, Check("new:" + std::to_string(i), 10, 10, 1, LimitAlgorithm::kFixedWindow), kT0 + 1000);
  }
  EXPECT_LE(store.entry_count(), 10'100u);
  EXPECT_LE(store.memory_bytes(), bytes_after_first * 5 / 4);
}

TEST(MemoryCounterStoreTest, TheCountNeverExceedsTheCap) {
  MemoryCounterStore store({.max_entries = 1024}, TestKey());
  for (int i = 0; i < 20'000; ++i) {
    const LimitCheck check = Check("k:" + std::to_string(i), 10, 60'000);
    EXPECT_TRUE(RunOne(store, check, kT0 + i).allowed);
    EXPECT_EQ(Remaining(store, check, kT0 + i), 9) << "the counter just charged is kept";
    ASSERT_LE(store.entry_count(), 1024u);
  }
  EXPECT_GE(store.entry_count(), 900u);
  EXPECT_EQ(store.evictions(), 20'000u - store.entry_count());
}

TEST(MemoryCounterStoreTest, AtTheCapExpiredEntriesMakeRoomBeforeLiveOnesAreEvicted) {
  // 16 per shard; the 500 long-lived counters average 2 per shard, so none has to evict.
  MemoryCounterStore store({.max_entries = 4096}, TestKey());
  for (int i = 0; i < 20'000; ++i) RunOne(store, Check("short:" + std::to_string(i), 10, 10), kT0);
  const std::size_t full = store.entry_count();
  const std::uint64_t evicted_while_filling = store.evictions();
  for (int i = 0; i < 500; ++i) RunOne(store, Check("long:" + std::to_string(i), 10, 60'000), kT0 + 1000);
  EXPECT_EQ(store.evictions(), evicted_while_filling);
  EXPECT_LE(store.entry_count(), full);
}

TEST(MemoryCounterStoreTest, MemoryPerEntryStaysWithinBudget) {
  MemoryCounterStore store({}, TestKey());
  for (int i = 0; i < 100'000; ++i) {
    RunOne(store, Check("k:key_" + std::to_string(i) + ":requests", 100, 60'000), kT0);
  }
  EXPECT_EQ(store.entry_count(), 100'000u);
  EXPECT_GE(store.bytes_per_entry(), 48.0);
  EXPECT_LE(store.bytes_per_entry(), 256.0);
}

// Frozen time, one counter of limit L, several threads: exactly L admitted in total.
TEST(MemoryCounterStoreTest, ThreadsHammeringOneKeyAdmitExactlyTheLimit) {
  constexpr int kThreads = 4;
  constexpr std::int64_t kLimit = 1000;
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    MemoryCounterStore store;
    std::atomic<std::int64_t> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        const std::vector<LimitCheck> checks = {Check("k:hot", kLimit, 60'000, 1, algorithm)};
        for (std::int64_t i = 0; i < kLimit; ++i) {
          store.CheckAndCharge(checks, kT0, [&](Result<std::vector<LimitDecision>> result) {
            if (result.has_value() && (*result)[0].allowed) admitted.fetch_add(1, std::memory_order_relaxed);
          });
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(admitted.load(), kLimit);
  }
}

// Multi-limit calls naming the same counters in different orders, from several threads: no
// deadlock, and every admitted call charged all three (each admits exactly L calls in total).
TEST(MemoryCounterStoreTest, ConcurrentMultiLimitCallsAreAtomicAndDoNotDeadlock) {
  constexpr std::int64_t kLimit = 500;
  MemoryCounterStore store;
  const LimitCheck a = Check("a", kLimit, 60'000);
  const LimitCheck b = Check("b", kLimit, 60'000, 1, LimitAlgorithm::kGcra);
  const LimitCheck c = Check("c", kLimit, 60'000, 1, LimitAlgorithm::kFixedWindow);
  const std::vector<std::vector<LimitCheck>> orders = {{a, b, c}, {c, b, a}, {b, c, a}, {c, a, b}};
  std::atomic<std::int64_t> admitted{0};
  std::vector<std::thread> threads;
  for (const auto& checks : orders) {
    threads.emplace_back([&store, &admitted, checks] {
      for (int i = 0; i < 400; ++i) {
        store.CheckAndCharge(checks, kT0, [&](Result<std::vector<LimitDecision>> result) {
          ASSERT_TRUE(result.has_value());
          const bool all = (*result)[0].allowed && (*result)[1].allowed && (*result)[2].allowed;
          if (all) admitted.fetch_add(1, std::memory_order_relaxed);
        });
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), kLimit);
  for (const LimitCheck& check : {a, b, c}) EXPECT_EQ(Remaining(store, check, kT0), 0) << check.counter_key;
}

}  // namespace
}  // namespace tollgate
