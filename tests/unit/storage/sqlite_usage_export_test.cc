// SqliteStore::ExportUsagePage: keyset paging over the raw usage events (no event lost or
// repeated at a page boundary, also when many events share a millisecond), the filters, and
// the round trip of every field.
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

constexpr UnixMillis kBase = 1'706'745'480'000;  // 2024-01-31 23:58:00 UTC

UsageEvent Event(UnixMillis at, std::string key_id, std::string code = "VALID") {
  UsageEvent event;
  event.at = at;
  event.api_id = "api_1";
  event.key_id = key_id;
  event.external_id = "acme";
  event.code = code;
  event.source = "verify";
  return event;
}

// Every event of `filter`, read `limit` at a time; also counts the pages.
std::vector<UsageEvent> ExportAll(UsageExportStore& store, const UsageExportFilter& filter, std::size_t limit,
                                  int* pages = nullptr) {
  std::vector<UsageEvent> events;
  std::optional<UsageExportCursor> cursor;
  for (int page_count = 1;; ++page_count) {
    auto page = store.ExportUsagePage(filter, cursor, limit);
    EXPECT_TRUE(page.has_value()) << page.error().detail;
    if (!page) return events;
    EXPECT_LE(page->events.size(), limit);
    events.insert(events.end(), page->events.begin(), page->events.end());
    if (!page->next) {
      if (pages != nullptr) *pages = page_count;
      return events;
    }
    EXPECT_EQ(page->events.size(), limit) << "only the last page may be short";
    cursor = page->next;
  }
}

// The key ids in order: the tests give every event a distinct key id to follow it.
std::vector<std::string> KeyIds(const std::vector<UsageEvent>& events) {
  std::vector<std::string> ids;
  for (const UsageEvent& event : events) ids.push_back(event.key_id.str());
  return ids;
}

class SqliteUsageExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
  }
  void Write(const std::vector<UsageEvent>& events) {
    auto written = store_->WriteUsage(events);
    ASSERT_TRUE(written.has_value()) << written.error().detail;
  }

  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteUsageExportTest, PagesByTimeThenInsertionWithoutLosingOrRepeatingEqualTimestamps) {
  // 30 events over three milliseconds, ten each, written in two batches whose times interleave:
  // the order is time first, then the order of writing.
  std::vector<UsageEvent> first;
  std::vector<UsageEvent> second;
  std::vector<std::string> ordered;  // time first; within a millisecond, the first batch's five
  for (int ms = 0; ms < 3; ++ms) {
    for (int i = 0; i < 10; ++i) {
      const std::string id = "k" + std::to_string(ms) + "_" + std::to_string(i);
      (i < 5 ? first : second).push_back(Event(kBase + ms, id));
      ordered.push_back(id);
    }
  }
  Write(first);
  Write(second);

  const UsageExportFilter all{.range = {.from = kBase, .to = kBase + 60'000}};
  for (std::size_t limit : {1u, 2u, 3u, 4u, 7u, 10u, 29u, 30u, 31u, 1000u}) {
    SCOPED_TRACE("page size " + std::to_string(limit));
    int pages = 0;
    EXPECT_EQ(KeyIds(ExportAll(*store_, all, limit, &pages)), ordered);
    EXPECT_EQ(pages, static_cast<int>((30 + limit - 1) / limit)) << "no empty page after a full last one";
  }
}

TEST_F(SqliteUsageExportTest, EmptyRangeIsOneEmptyLastPage) {
  Write({Event(kBase, "k1")});
  auto page = store_->ExportUsagePage({.range = {.from = kBase + 1, .to = kBase + 1000}}, std::nullopt, 10);
  ASSERT_TRUE(page.has_value()) << page.error().detail;
  EXPECT_TRUE(page->events.empty());
  EXPECT_FALSE(page->next.has_value());
}

TEST_F(SqliteUsageExportTest, FiltersByHalfOpenRangeKeyIdentityApiAndCode) {
  std::vector<UsageEvent> events = {
      Event(kBase - 1, "before"),
      Event(kBase, "at_start"),
      Event(kBase + 10, "limited", "RATE_LIMITED"),
      Event(kBase + 20, "other_identity"),
      Event(kBase + 30, "other_api"),
      Event(kBase + 999, "last"),
      Event(kBase + 1000, "at_end"),
  };
  events[3].external_id = "globex";
  events[4].api_id = "api_2";
  Write(events);
  const UsageFilter range{.from = kBase, .to = kBase + 1000};
  auto ids = [this](UsageExportFilter filter) { return KeyIds(ExportAll(*store_, filter, 2)); };

  EXPECT_EQ(ids({.range = range}),
            (std::vector<std::string>{"at_start", "limited", "other_identity", "other_api", "last"}));
  UsageFilter by_key = range;
  by_key.key_id = "limited";
  EXPECT_EQ(ids({.range = by_key}), (std::vector<std::string>{"limited"}));
  UsageFilter by_identity = range;
  by_identity.external_id = "globex";
  EXPECT_EQ(ids({.range = by_identity}), (std::vector<std::string>{"other_identity"}));
  UsageFilter by_api = range;
  by_api.api_id = "api_2";
  EXPECT_EQ(ids({.range = by_api}), (std::vector<std::string>{"other_api"}));
  EXPECT_EQ(ids({.range = range, .code = "VALID"}),
            (std::vector<std::string>{"at_start", "other_identity", "other_api", "last"}));
  EXPECT_EQ(ids({.range = range, .code = "RATE_LIMITED"}), (std::vector<std::string>{"limited"}));
  EXPECT_EQ(ids({.range = range, .code = "EXPIRED"}), (std::vector<std::string>{}));
  UsageFilter nothing = range;
  nothing.key_id = "limited";
  nothing.external_id = "globex";
  EXPECT_EQ(ids({.range = nothing}), (std::vector<std::string>{}));
}

TEST_F(SqliteUsageExportTest, RoundTripsEveryField) {
  UsageEvent event = Event(kBase + 5, "key_a", "RATE_LIMITED");
  event.external_id = "acme, \"inc\"\nline two";
  event.credits_spent = 7;
  event.tags = {"path=/a", "with,comma", "quote\"d", ""};
  event.denied_by = "per-minute";
  event.source = "authorize";
  UsageEvent ratelimit;
  ratelimit.at = kBase + 6;
  ratelimit.api_id = "email.send";
  ratelimit.external_id = "user_42";
  ratelimit.code = kRatelimitDenied;
  ratelimit.source = "ratelimit";
  Write({event, ratelimit});

  const auto got = ExportAll(*store_, {.range = {.from = kBase, .to = kBase + 10}}, 10);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].at, event.at);
  EXPECT_EQ(got[0].api_id, "api_1");
  EXPECT_EQ(got[0].key_id, "key_a");
  EXPECT_EQ(got[0].external_id, event.external_id.view());
  EXPECT_EQ(got[0].code, "RATE_LIMITED");
  EXPECT_EQ(got[0].credits_spent, 7);
  EXPECT_EQ(got[0].tags, event.tags);
  EXPECT_EQ(got[0].denied_by, "per-minute");
  EXPECT_EQ(got[0].source, "authorize");
  EXPECT_EQ(got[1].api_id, "email.send");
  EXPECT_EQ(got[1].key_id, "");
  EXPECT_EQ(got[1].external_id, "user_42");
  EXPECT_EQ(got[1].code, kRatelimitDenied);
  EXPECT_TRUE(got[1].tags.empty());
  EXPECT_EQ(got[1].source, "ratelimit");
}

}  // namespace
}  // namespace tollgate
