// QuotaTracker over a real SqliteStore(":memory:"): monthly periods, counting, the rollover to a
// new month, and Flush writing only what changed so that a new tracker over the same store (a
// restart) sees the counts.
#include "verify/quota_tracker.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "common/calendar.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

constexpr int kJanuary = 202601;
constexpr int kFebruary = 202602;
constexpr int kDecember2025 = 202512;

class QuotaTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    tracker_ = std::make_unique<QuotaTracker>(*store_);
  }

  // The count the store holds for subject in period; nullopt when it has no row.
  std::optional<std::int64_t> Stored(const std::string& subject, int period) {
    auto rows = store_->LoadQuotaUsage(period);
    EXPECT_TRUE(rows.has_value()) << rows.error().detail;
    if (!rows) return std::nullopt;
    for (const QuotaRow& row : *rows) {
      if (row.subject == subject) {
        EXPECT_EQ(row.period, period);
        return row.used;
      }
    }
    return std::nullopt;
  }

  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<QuotaTracker> tracker_;
};

TEST(QuotaPeriodTest, APeriodIsTheUtcCalendarMonth) {
  const UnixMillis january = FromCivil({2026, 1, 1});
  const UnixMillis february = FromCivil({2026, 2, 1});
  EXPECT_EQ(QuotaPeriodOf(january), kJanuary);
  EXPECT_EQ(QuotaPeriodOf(FromCivil({2026, 1, 15}) + 12 * 3'600'000), kJanuary);
  EXPECT_EQ(QuotaPeriodOf(february - 1), kJanuary);
  EXPECT_EQ(QuotaPeriodOf(february), kFebruary);
  EXPECT_EQ(QuotaPeriodEnd(kJanuary), february);
  EXPECT_EQ(QuotaPeriodEnd(kFebruary), FromCivil({2026, 3, 1}));
  EXPECT_EQ(QuotaPeriodOf(FromCivil({2025, 12, 31})), 202512);
  EXPECT_EQ(QuotaPeriodEnd(202512), FromCivil({2026, 1, 1})) << "December ends at the next year's January";
  EXPECT_EQ(QuotaPeriodOf(FromCivil({2028, 2, 29})), 202802);
  EXPECT_EQ(QuotaPeriodEnd(202802), FromCivil({2028, 3, 1}));
}

TEST_F(QuotaTrackerTest, AddCountsPerSubjectAndPeriod) {
  EXPECT_EQ(tracker_->Used("i:a", kJanuary), 0);
  EXPECT_EQ(tracker_->Add("i:a", kJanuary, 1), 1);
  EXPECT_EQ(tracker_->Add("i:a", kJanuary, 1), 2);
  EXPECT_EQ(tracker_->Add("i:a", kJanuary, 5), 7);
  EXPECT_EQ(tracker_->Add("k:b", kJanuary, 1), 1);
  EXPECT_EQ(tracker_->Used("i:a", kJanuary), 7);
  EXPECT_EQ(tracker_->Used("k:b", kJanuary), 1);
  EXPECT_EQ(tracker_->Used("i:c", kJanuary), 0);
  EXPECT_EQ(tracker_->Used("i:a", kFebruary), 0) << "another month has its own count";
}

TEST_F(QuotaTrackerTest, ANewMonthStartsFromZero) {
  tracker_->Add("i:a", kJanuary, 9);
  EXPECT_EQ(tracker_->Add("i:a", kFebruary, 1), 1);
  EXPECT_EQ(tracker_->Used("i:a", kFebruary), 1);
  EXPECT_EQ(tracker_->Add("i:a", kFebruary, 1), 2);
}

TEST_F(QuotaTrackerTest, FlushWritesOnlyTheCountersChangedSinceTheLastFlush) {
  tracker_->Add("i:a", kJanuary, 3);
  tracker_->Add("i:b", kJanuary, 1);
  ASSERT_OK(tracker_->Flush());
  EXPECT_EQ(Stored("i:a", kJanuary), 3);
  EXPECT_EQ(Stored("i:b", kJanuary), 1);

  // Someone else writes a's row; a flush that rewrote clean counters would overwrite it.
  const QuotaRow other{"i:a", kJanuary, 100};
  ASSERT_OK(store_->SaveQuotaUsage(std::span<const QuotaRow>(&other, 1)));
  tracker_->Add("i:b", kJanuary, 1);
  ASSERT_OK(tracker_->Flush());
  EXPECT_EQ(Stored("i:a", kJanuary), 100) << "a clean counter was written again";
  EXPECT_EQ(Stored("i:b", kJanuary), 2);

  // Nothing changed: nothing written.
  const QuotaRow b_other{"i:b", kJanuary, 50};
  ASSERT_OK(store_->SaveQuotaUsage(std::span<const QuotaRow>(&b_other, 1)));
  ASSERT_OK(tracker_->Flush());
  EXPECT_EQ(Stored("i:b", kJanuary), 50);
}

TEST_F(QuotaTrackerTest, FlushedCountsSurviveAReloadFromTheStore) {
  tracker_->Add("i:a", kJanuary, 3);
  tracker_->Add("k:b", kJanuary, 2);
  tracker_->Add("i:old", kDecember2025, 4);
  tracker_->Add("i:unflushed", kJanuary, 1);
  ASSERT_OK(tracker_->Flush());
  tracker_->Add("i:unflushed", kJanuary, 1);  // after the flush: lost with the process

  QuotaTracker reloaded(*store_);
  ASSERT_OK(reloaded.Load(kJanuary));
  EXPECT_EQ(reloaded.Used("i:a", kJanuary), 3);
  EXPECT_EQ(reloaded.Used("k:b", kJanuary), 2);
  EXPECT_EQ(reloaded.Used("i:unflushed", kJanuary), 1);
  EXPECT_EQ(reloaded.Used("i:old", kDecember2025), 0) << "only the period asked for is loaded";
  EXPECT_EQ(reloaded.Add("i:a", kJanuary, 1), 4) << "counting goes on from the stored count";
  ASSERT_OK(reloaded.Flush());
  EXPECT_EQ(Stored("i:a", kJanuary), 4);
  EXPECT_EQ(Stored("k:b", kJanuary), 2);
  EXPECT_EQ(Stored("i:old", kDecember2025), 4);
}

TEST_F(QuotaTrackerTest, ConcurrentAddsAreAllCounted) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        tracker_->Add("i:shared", kJanuary, 1);
        tracker_->Add("i:own" + std::to_string(t), kJanuary, 1);
        if (i % 1000 == 0) (void)tracker_->Flush();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(tracker_->Used("i:shared", kJanuary), kThreads * kPerThread);
  ASSERT_OK(tracker_->Flush());
  EXPECT_EQ(Stored("i:shared", kJanuary), kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(Stored("i:own" + std::to_string(t), kJanuary), kPerThread);
}

TEST_F(QuotaTrackerTest, AnUnsavedCountOfAMonthThatEndedIsSavedToThatMonth) {
  tracker_->Add("i:acme", kJanuary, 5);   // the last verifies of January, not flushed yet
  tracker_->Add("i:acme", kFebruary, 1);  // the first of February
  ASSERT_OK(tracker_->Flush());
  EXPECT_EQ(Stored("i:acme", kJanuary), 5);
  EXPECT_EQ(Stored("i:acme", kFebruary), 1);
}

}  // namespace
}  // namespace tollgate

namespace tollgate {
namespace {

TEST_F(QuotaTrackerTest, ObserveKeepsTheHighestViewOfASharedCount) {
  tracker_->Observe("i:a", kJanuary, 5);
  tracker_->Observe("i:a", kJanuary, 3);  // an answer that crossed a later one
  EXPECT_EQ(tracker_->Used("i:a", kJanuary), 5);
  ASSERT_OK(tracker_->Flush());
  EXPECT_EQ(Stored("i:a", kJanuary), 5);
}

TEST_F(QuotaTrackerTest, ALateObservationOfTheEndedMonthDoesNotTurnTheViewBack) {
  tracker_->Observe("i:a", kFebruary, 1);
  tracker_->Observe("i:a", kJanuary, 40);  // a verification that began before midnight
  EXPECT_EQ(tracker_->Used("i:a", kFebruary), 1);
  ASSERT_OK(tracker_->Flush());
  EXPECT_EQ(Stored("i:a", kJanuary), 40) << "saved to the month it belongs to";
}

}  // namespace
}  // namespace tollgate
