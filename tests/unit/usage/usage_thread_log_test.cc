// UsageThreadLog on its own: events come back whole and in order across chunk boundaries, an
// event larger than a chunk, chunk reuse, and a consumer draining while the producer appends.
#include "usage/usage_thread_log.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tollgate {
namespace {

// An event whose every field says which one it is: sequence in `at` and credits_spent, texts of
// varied lengths (empty, inline, past UsageText's inline bytes), 0 to 11 tags.
UsageEvent Numbered(std::int64_t sequence) {
  UsageEvent event;
  event.at = 1'700'000'000'000 + sequence;
  event.credits_spent = sequence;
  event.api_id = "api_" + std::to_string(sequence);
  event.key_id = sequence % 3 == 0 ? std::string() : "key_" + std::string(sequence % 50, 'k');
  event.external_id = "6f1c2a7e-9b3d-4c8a-a1f0-" + std::to_string(sequence);
  event.code = sequence % 2 == 0 ? "VALID" : "RATE_LIMITED";
  for (std::int64_t t = 0; t < sequence % 12; ++t) event.tags.push_back("tag" + std::to_string(t) + "=" + std::string(t * 7, 'v'));
  event.denied_by = sequence % 5 == 0 ? "per-second" : "";
  event.source = "verify";
  return event;
}

void ExpectNumbered(const UsageEvent& got, std::int64_t sequence) {
  UsageEvent want = Numbered(sequence);
  if (want.tags.size() > kMaxUsageTags) want.tags.resize(kMaxUsageTags);  // the log keeps the first ten
  ASSERT_EQ(got.credits_spent, sequence);
  EXPECT_EQ(got.at, want.at);
  EXPECT_EQ(got.api_id, want.api_id);
  EXPECT_EQ(got.key_id, want.key_id);
  EXPECT_EQ(got.external_id, want.external_id);
  EXPECT_EQ(got.code, want.code);
  EXPECT_EQ(got.tags, want.tags);
  EXPECT_EQ(got.denied_by, want.denied_by);
  EXPECT_EQ(got.source, want.source);
}

TEST(UsageThreadLogTest, DrainReturnsEveryEventWholeAndInOrderAcrossChunks) {
  UsageThreadLog log;
  constexpr int kEvents = 5'000;  // ~150-400 bytes each: well over one 64 KiB chunk
  for (int i = 0; i < kEvents; ++i) log.Append(Numbered(i));
  EXPECT_EQ(log.appended(), std::uint64_t{kEvents});
  std::vector<UsageEvent> out;
  ASSERT_EQ(log.Drain(out), std::size_t{kEvents});
  for (int i = 0; i < kEvents; ++i) ExpectNumbered(out[i], i);
  EXPECT_EQ(log.Drain(out), 0u);  // nothing twice
}

TEST(UsageThreadLogTest, DrainsInPiecesAndReusesChunks) {
  UsageThreadLog log;
  std::vector<UsageEvent> out;
  int next = 0;
  // Drains in the middle of a chunk, right after one filled, and when nothing is new.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round * 37 % 400; ++i) log.Append(Numbered(next++));
    log.Drain(out);
  }
  ASSERT_EQ(out.size(), static_cast<std::size_t>(next));
  for (int i = 0; i < next; ++i) ExpectNumbered(out[i], i);
}

TEST(UsageThreadLogTest, EventLargerThanAChunkGetsOneOfItsOwn) {
  UsageThreadLog log;
  UsageEvent big = Numbered(7);
  big.denied_by = std::string(UsageThreadLog::kChunkBytes * 2, 'd');
  log.Append(Numbered(1));
  log.Append(big);
  log.Append(Numbered(2));
  std::vector<UsageEvent> out;
  ASSERT_EQ(log.Drain(out), 3u);
  ExpectNumbered(out[0], 1);
  EXPECT_EQ(out[1].denied_by, big.denied_by);
  EXPECT_EQ(out[1].credits_spent, 7);
  ExpectNumbered(out[2], 2);
}

TEST(UsageThreadLogTest, ViewsOfBorrowedDataAreCopied) {
  UsageThreadLog log;
  {
    std::string key = "key_" + std::string(30, 'x');
    std::vector<std::string> tags = {"a=1", std::string(100, 't')};
    UsageEventView view;
    view.key_id = key;
    view.tags = tags;
    view.source = "authorize";
    log.Append(view);
    key.assign(key.size(), '?');  // the log holds its own copy
    tags[1] = "gone";
  }
  std::vector<UsageEvent> out;
  ASSERT_EQ(log.Drain(out), 1u);
  EXPECT_EQ(out[0].key_id, "key_" + std::string(30, 'x'));
  EXPECT_EQ(out[0].tags, (std::vector<std::string>{"a=1", std::string(100, 't')}));
  EXPECT_EQ(out[0].source, "authorize");
  EXPECT_TRUE(out[0].api_id.empty());
}

// One producer appends as fast as it can while a consumer drains: every event arrives exactly
// once and in order (the order of one thread's events is the log's promise).
TEST(UsageThreadLogTest, ConsumerDrainingWhileTheProducerAppendsMissesAndRepeatsNothing) {
  UsageThreadLog log;
  constexpr int kEvents = 200'000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 0; i < kEvents; ++i) log.Append(Numbered(i));
    done = true;
  });
  std::vector<UsageEvent> out;
  out.reserve(kEvents);
  std::int64_t expected = 0;
  bool in_order = true;
  auto check = [&](std::size_t from) {
    for (std::size_t i = from; i < out.size(); ++i) in_order = in_order && out[i].credits_spent == expected++;
  };
  while (!done) {
    const std::size_t from = out.size();
    log.Drain(out);
    check(from);
  }
  producer.join();
  const std::size_t from = out.size();
  log.Drain(out);
  check(from);
  EXPECT_TRUE(in_order);
  ASSERT_EQ(out.size(), std::size_t{kEvents});
  for (int i = 0; i < kEvents; i += 997) ExpectNumbered(out[i], i);
  EXPECT_EQ(log.appended(), std::uint64_t{kEvents});
}

}  // namespace
}  // namespace tollgate
