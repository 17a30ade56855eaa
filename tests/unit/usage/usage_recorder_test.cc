// The recorder against a real SQLite store in a temporary directory. Outages use FailingStore: a
// UsageStore that forwards to the real store unless told to fail, so the tests can check what the
// recorder does with a batch the store refused.
#include "usage/usage_recorder.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "../storage/temp_dir.h"
#include "common/calendar.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

constexpr auto kNever = std::chrono::hours(1);  // tests drive flushes with Flush() and Stop()

// Refuses writes while failing_ is set, or once `allowed_writes` more writes went through.
class FailingStore final : public UsageStore {
 public:
  explicit FailingStore(UsageStore& real) : real_(real) {}
  void Fail(bool failing) { failing_ = failing; }
  void FailAfter(int writes) { allowed_writes_ = writes; }
  int writes() const { return writes_; }
  std::size_t largest_write() const { return largest_write_; }

  Status WriteUsage(std::span<const UsageEvent> events) override {
    if (failing_ || allowed_writes_ == 0) return tollgate::Fail(Error::Unavailable("store down (test)"));
    if (allowed_writes_ > 0) --allowed_writes_;
    ++writes_;
    largest_write_ = std::max<std::size_t>(largest_write_, events.size());
    return real_.WriteUsage(events);
  }
  Status PruneRawUsage(UnixMillis older_than) override { return real_.PruneRawUsage(older_than); }

 private:
  UsageStore& real_;
  std::atomic<bool> failing_{false};
  std::atomic<int> allowed_writes_{-1};  // -1: no limit
  std::atomic<int> writes_{0};
  std::atomic<std::size_t> largest_write_{0};
};

class UsageRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(DbPath());
    ASSERT_OK(store);
    store_ = std::move(*store);
    auto reader = SqliteConnection::Open(DbPath());
    ASSERT_OK(reader);
    reader_.emplace(std::move(*reader));
  }

  std::string DbPath() const { return (dir_.Path() / "tollgate.db").string(); }
  std::string SpillPath() const { return (dir_.Path() / "usage-spill.ndjson").string(); }

  UsageRecorderOptions Options(std::size_t batch = 10'000, std::size_t max_buffered = 1'000'000) const {
    UsageRecorderOptions options;
    options.flush_interval = kNever;
    options.flush_batch = batch;
    options.max_buffered = max_buffered;
    options.spill_path = SpillPath();
    return options;
  }

  std::int64_t Query(const std::string& sql) {
    auto value = reader_->QueryInt64(sql);
    EXPECT_TRUE(value.has_value()) << value.error().detail;
    return value.value_or(-1);
  }
  std::int64_t StoredEvents() { return Query("SELECT COUNT(*) FROM usage_events"); }
  // Distinct (key_id, credits_spent): each test gives every event its own pair.
  std::int64_t DistinctEvents() { return Query("SELECT COUNT(DISTINCT key_id || ':' || credits_spent) FROM usage_events"); }
  std::size_t SpillLines() {
    std::ifstream in(SpillPath());
    std::size_t lines = 0;
    for (std::string line; std::getline(in, line);) lines += line.empty() ? 0 : 1;
    return lines;
  }

  static UsageEvent Event(std::string key_id, std::int64_t sequence, UnixMillis at = 1'700'000'000'000,
                          std::string code = "VALID") {
    return UsageEvent{at, "api_1", std::move(key_id), "acme", std::move(code), sequence, {"tag"}, "", "verify"};
  }

  TempDir dir_;
  StorePtr store_;
  std::optional<SqliteConnection> reader_;
};

TEST_F(UsageRecorderTest, FlushWritesEventsAndRollups) {
  auto recorder = UsageRecorder::Start(*store_, Options());
  ASSERT_OK(recorder);
  for (int i = 0; i < 100; ++i) (*recorder)->Record(Event("key_a", i));
  ASSERT_OK((*recorder)->Flush());
  EXPECT_EQ(StoredEvents(), 100);
  EXPECT_EQ(Query("SELECT SUM(count) FROM usage_rollups WHERE granularity = 'minute'"), 100);
  EXPECT_EQ(Query("SELECT SUM(credits) FROM usage_rollups WHERE granularity = 'month'"), 99 * 100 / 2);
  const UsageCounters counters = (*recorder)->Counters();
  EXPECT_EQ(counters.recorded, 100u);
  EXPECT_EQ(counters.flushed, 100u);
  EXPECT_EQ(counters.buffered, 0u);
  EXPECT_EQ(counters.spilled, 0u);
}

TEST_F(UsageRecorderTest, RollupsCountEachGranularityByKeyIdentityAndCode) {
  auto recorder = UsageRecorder::Start(*store_, Options());
  ASSERT_OK(recorder);
  // 2024-01-31 23:59:30 UTC and 40 s later: another minute, hour, day and month.
  const UnixMillis before = FromCivil({2024, 1, 31}) + kMillisPerDay - 30'000;
  const UnixMillis after = before + 40'000;
  (*recorder)->Record(Event("key_a", 1, before));
  (*recorder)->Record(Event("key_a", 2, before + 1'000));
  (*recorder)->Record(Event("key_a", 4, after));
  (*recorder)->Record(Event("key_a", 0, after, "RATE_LIMITED"));
  ASSERT_OK((*recorder)->Stop());
  for (const char* granularity : {"minute", "hour", "day", "month"}) {
    SCOPED_TRACE(granularity);
    const std::string where = std::string(" FROM usage_rollups WHERE granularity = '") + granularity + "'";
    EXPECT_EQ(Query("SELECT count" + where + " AND code = 'VALID' AND bucket_start <= " + std::to_string(before)), 2);
    EXPECT_EQ(Query("SELECT credits" + where + " AND code = 'VALID' AND bucket_start <= " + std::to_string(before)), 3);
    EXPECT_EQ(Query("SELECT count" + where + " AND code = 'VALID' AND bucket_start > " + std::to_string(before)), 1);
    EXPECT_EQ(Query("SELECT count" + where + " AND code = 'RATE_LIMITED'"), 1);
    EXPECT_EQ(Query("SELECT COUNT(*)" + where + " AND key_id = 'key_a' AND external_id = 'acme'"), 3);
  }
  EXPECT_EQ(Query("SELECT bucket_start FROM usage_rollups WHERE granularity = 'month' AND bucket_start > " +
                  std::to_string(before) + " AND code = 'VALID'"),
            FromCivil({2024, 2, 1}));
}

TEST_F(UsageRecorderTest, StopFlushesEverythingRecorded) {
  auto recorder = UsageRecorder::Start(*store_, Options());
  ASSERT_OK(recorder);
  for (int i = 0; i < 1000; ++i) (*recorder)->Record(Event("key_a", i));
  ASSERT_OK((*recorder)->Stop());
  EXPECT_EQ(StoredEvents(), 1000);
  EXPECT_EQ((*recorder)->Counters().buffered, 0u);
  ASSERT_OK((*recorder)->Stop());  // idempotent
  EXPECT_EQ(StoredEvents(), 1000);
}

TEST_F(UsageRecorderTest, EventsOfManyThreadsLandExactlyOnce) {
  UsageRecorderOptions options = Options(/*batch=*/64);
  options.flush_interval = std::chrono::milliseconds(1);  // flush while the threads record
  auto recorder = UsageRecorder::Start(*store_, options);
  ASSERT_OK(recorder);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) (*recorder)->Record(Event("key_" + std::to_string(t), i));
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_OK((*recorder)->Stop());
  EXPECT_EQ(StoredEvents(), kThreads * kPerThread);
  EXPECT_EQ(DistinctEvents(), kThreads * kPerThread);
  EXPECT_EQ(Query("SELECT SUM(count) FROM usage_rollups WHERE granularity = 'day'"), kThreads * kPerThread);
  const UsageCounters counters = (*recorder)->Counters();
  EXPECT_EQ(counters.recorded, std::uint64_t{kThreads * kPerThread});
  EXPECT_EQ(counters.flushed, std::uint64_t{kThreads * kPerThread});
}

TEST_F(UsageRecorderTest, FullBufferWakesTheFlusherBeforeTheInterval) {
  auto recorder = UsageRecorder::Start(*store_, Options(/*batch=*/10));
  ASSERT_OK(recorder);
  for (int i = 0; i < 10; ++i) (*recorder)->Record(Event("key_a", i));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((*recorder)->Counters().flushed < 10 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ((*recorder)->Counters().flushed, 10u);
}

TEST_F(UsageRecorderTest, OutageKeepsThenSpillsThenReplaysWithoutLossOrDuplicates) {
  FailingStore store(*store_);
  auto recorder = UsageRecorder::Start(store, Options(/*batch=*/50, /*max_buffered=*/100));
  ASSERT_OK(recorder);
  store.Fail(true);
  for (int i = 0; i < 250; ++i) (*recorder)->Record(Event("key_a", i));
  EXPECT_FALSE((*recorder)->Flush().has_value());
  UsageCounters counters = (*recorder)->Counters();
  EXPECT_EQ(counters.buffered, 100u);  // the newest max_buffered stay in memory
  EXPECT_EQ(counters.spilled, 150u);   // the oldest went to disk
  EXPECT_EQ(SpillLines(), 150u);

  for (int i = 250; i < 300; ++i) (*recorder)->Record(Event("key_a", i));
  EXPECT_FALSE((*recorder)->Flush().has_value());
  EXPECT_EQ((*recorder)->Counters().spilled, 200u);
  EXPECT_EQ(SpillLines(), 200u);
  EXPECT_EQ(StoredEvents(), 0);

  store.Fail(false);
  ASSERT_OK((*recorder)->Flush());
  EXPECT_EQ(StoredEvents(), 300);
  EXPECT_EQ(DistinctEvents(), 300);
  EXPECT_EQ(SpillLines(), 0u);
  counters = (*recorder)->Counters();
  EXPECT_EQ(counters.replayed, 200u);
  EXPECT_EQ(counters.flushed, 300u);
  EXPECT_EQ(counters.buffered, 0u);
  EXPECT_GE(counters.store_failures, 2u);
}

// The backlog of an outage goes out as many batches of flush_batch, not as one huge statement; a
// batch that fails halfway through the backlog keeps only what is unwritten.
TEST_F(UsageRecorderTest, AnOutageBacklogIsWrittenInBatchesAndAPartialWriteKeepsOnlyTheRest) {
  FailingStore store(*store_);
  auto recorder = UsageRecorder::Start(store, Options(/*batch=*/50, /*max_buffered=*/1'000));
  ASSERT_OK(recorder);
  store.Fail(true);
  for (int i = 0; i < 230; ++i) (*recorder)->Record(Event("key_a", i));
  EXPECT_FALSE((*recorder)->Flush().has_value());
  EXPECT_EQ((*recorder)->Counters().buffered, 230u);

  store.Fail(false);
  store.FailAfter(2);  // two batches go through, then the store fails again
  EXPECT_FALSE((*recorder)->Flush().has_value());
  EXPECT_EQ(StoredEvents(), 100);
  EXPECT_EQ((*recorder)->Counters().buffered, 130u);

  store.FailAfter(-1);
  ASSERT_OK((*recorder)->Flush());
  EXPECT_EQ(StoredEvents(), 230);
  EXPECT_EQ(DistinctEvents(), 230);
  EXPECT_EQ(store.largest_write(), 50u);
  EXPECT_EQ(store.writes(), 5);  // 50 + 50, then 50 + 50 + 30
  EXPECT_EQ((*recorder)->Counters().flushed, 230u);
}

TEST_F(UsageRecorderTest, ReplayInterruptedMidwayKeepsOnlyTheUnwrittenLines) {
  FailingStore store(*store_);
  auto recorder = UsageRecorder::Start(store, Options(/*batch=*/50, /*max_buffered=*/0));
  ASSERT_OK(recorder);
  store.Fail(true);
  for (int i = 0; i < 250; ++i) (*recorder)->Record(Event("key_a", i));
  EXPECT_FALSE((*recorder)->Flush().has_value());
  EXPECT_EQ(SpillLines(), 250u);

  // The store comes back for two chunks of the replay (50 each), then fails again.
  store.Fail(false);
  store.FailAfter(2);
  EXPECT_FALSE((*recorder)->Flush().has_value());
  EXPECT_EQ(StoredEvents(), 100);
  EXPECT_EQ(SpillLines(), 150u);

  store.FailAfter(-1);
  ASSERT_OK((*recorder)->Flush());
  EXPECT_EQ(StoredEvents(), 250);
  EXPECT_EQ(DistinctEvents(), 250);
  EXPECT_EQ(SpillLines(), 0u);
}

TEST_F(UsageRecorderTest, StopWithTheStoreDownSpillsAndTheNextStartReplays) {
  {
    FailingStore store(*store_);
    store.Fail(true);
    auto recorder = UsageRecorder::Start(store, Options());
    ASSERT_OK(recorder);
    for (int i = 0; i < 30; ++i) (*recorder)->Record(Event("key_a", i));
    ASSERT_OK((*recorder)->Stop());  // nothing lost: all of it is on disk
    EXPECT_EQ((*recorder)->Counters().spilled, 30u);
  }
  EXPECT_EQ(SpillLines(), 30u);
  auto recorder = UsageRecorder::Start(*store_, Options());
  ASSERT_OK(recorder);
  (*recorder)->Record(Event("key_b", 0));
  ASSERT_OK((*recorder)->Stop());
  EXPECT_EQ(StoredEvents(), 31);
  EXPECT_EQ(DistinctEvents(), 31);
  EXPECT_EQ(SpillLines(), 0u);
}

TEST_F(UsageRecorderTest, TornLastLineOfACrashIsSkippedAndDoesNotSwallowTheNextEvent) {
  {
    std::ofstream spill(SpillPath());
    spill << UsageEventToJsonLine(Event("key_a", 1)) << "\n" << UsageEventToJsonLine(Event("key_a", 2)).substr(0, 20);
  }
  FailingStore store(*store_);
  store.Fail(true);
  auto recorder = UsageRecorder::Start(store, Options(/*batch=*/10, /*max_buffered=*/0));
  ASSERT_OK(recorder);
  (*recorder)->Record(Event("key_a", 3));
  EXPECT_FALSE((*recorder)->Flush().has_value());  // appended after the torn line
  store.Fail(false);
  ASSERT_OK((*recorder)->Stop());
  EXPECT_EQ(StoredEvents(), 2);
  EXPECT_EQ(Query("SELECT SUM(credits_spent) FROM usage_events"), 4);
  EXPECT_EQ((*recorder)->Counters().spill_lines_skipped, 1u);
}

TEST_F(UsageRecorderTest, StartFailsWithoutAWritableSpillFile) {
  UsageRecorderOptions options = Options();
  options.spill_path = (dir_.Path() / "missing" / "spill.ndjson").string();
  auto recorder = UsageRecorder::Start(*store_, options);
  ASSERT_FALSE(recorder.has_value());
  EXPECT_EQ(recorder.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace tollgate
