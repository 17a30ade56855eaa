#include "keys/key_cache.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/crypto.h"

namespace tollgate {
namespace {

// A cache entry whose hash is the SHA-256 of `secret`, as KeyService builds them.
CachedKeyPtr Entry(const std::string& id, const std::string& secret, const std::string& name = "") {
  auto entry = std::make_shared<CachedKey>();
  entry->key.id = id;
  entry->key.api_id = "api_1";
  entry->key.hash = Sha256Hex(secret);
  entry->key.name = name;
  entry->credits = std::make_shared<CreditState>();
  return entry;
}

TEST(KeyCacheTest, EmptyCacheFindsNothing) {
  KeyCache cache;
  EXPECT_EQ(cache.Size(), 0u);
  EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_missing")), nullptr);
  EXPECT_EQ(cache.FindById("key_missing"), nullptr);
  EXPECT_EQ(cache.FindByHash(""), nullptr);
}

TEST(KeyCacheTest, PutIsFoundByHashAndById) {
  KeyCache cache;
  CachedKeyPtr entry = Entry("key_1", "sk_one", "first");
  cache.Put(entry);

  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_one")), entry);
  EXPECT_EQ(cache.FindById("key_1"), entry);
  EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_two")), nullptr);
  EXPECT_EQ(cache.FindById("key_2"), nullptr);
}

TEST(KeyCacheTest, ManyKeysAreAllFoundWhateverShardTheyLandIn) {
  KeyCache cache;
  constexpr int kKeys = 1000;
  for (int i = 0; i < kKeys; ++i) cache.Put(Entry("key_" + std::to_string(i), "sk_" + std::to_string(i)));

  EXPECT_EQ(cache.Size(), static_cast<std::size_t>(kKeys));
  for (int i = 0; i < kKeys; ++i) {
    CachedKeyPtr by_hash = cache.FindByHash(Sha256Hex("sk_" + std::to_string(i)));
    ASSERT_NE(by_hash, nullptr) << i;
    EXPECT_EQ(by_hash->key.id, "key_" + std::to_string(i));
    EXPECT_EQ(cache.FindById("key_" + std::to_string(i)), by_hash);
  }
}

TEST(KeyCacheTest, PutWithSameIdAndHashReplacesTheEntry) {
  KeyCache cache;
  cache.Put(Entry("key_1", "sk_one", "before"));
  CachedKeyPtr replacement = Entry("key_1", "sk_one", "after");
  cache.Put(replacement);

  EXPECT_EQ(cache.Size(), 1u);
  ASSERT_NE(cache.FindByHash(Sha256Hex("sk_one")), nullptr);
  EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_one"))->key.name, "after");
  EXPECT_EQ(cache.FindById("key_1"), replacement);
}

TEST(KeyCacheTest, PutWithChangedHashRemovesTheOldHash) {
  KeyCache cache;
  cache.Put(Entry("key_1", "sk_old"));
  CachedKeyPtr replacement = Entry("key_1", "sk_new");
  cache.Put(replacement);

  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_old")), nullptr);
  EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_new")), replacement);
  EXPECT_EQ(cache.FindById("key_1"), replacement);
}

TEST(KeyCacheTest, RemoveForgetsBothHashAndIdAndLeavesOthers) {
  KeyCache cache;
  cache.Put(Entry("key_1", "sk_one"));
  CachedKeyPtr other = Entry("key_2", "sk_two");
  cache.Put(other);

  cache.Remove("key_1");

  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_one")), nullptr);
  EXPECT_EQ(cache.FindById("key_1"), nullptr);
  EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_two")), other);
  EXPECT_EQ(cache.FindById("key_2"), other);
}

TEST(KeyCacheTest, RemoveOfUnknownIdChangesNothing) {
  KeyCache cache;
  cache.Put(Entry("key_1", "sk_one"));
  cache.Remove("key_unknown");
  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_NE(cache.FindById("key_1"), nullptr);
}

TEST(KeyCacheTest, AnEntryAlreadyFoundStaysReadableAfterRemove) {
  KeyCache cache;
  cache.Put(Entry("key_1", "sk_one", "kept"));
  CachedKeyPtr held = cache.FindByHash(Sha256Hex("sk_one"));
  cache.Remove("key_1");
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->key.name, "kept");
  EXPECT_EQ(held->key.id, "key_1");
}

TEST(KeyCacheTest, ReputAfterRemoveIsFoundAgain) {
  KeyCache cache;
  cache.Put(Entry("key_1", "sk_one"));
  cache.Remove("key_1");
  cache.Put(Entry("key_1", "sk_one"));
  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_NE(cache.FindByHash(Sha256Hex("sk_one")), nullptr);
}

// Version n of key_1 carries n in three fields; a reader that ever sees fields from two
// different versions has read a torn entry.
CachedKeyPtr Version(int n) {
  auto entry = std::make_shared<CachedKey>();
  entry->key.id = "key_1";
  entry->key.hash = Sha256Hex("sk_swapped");
  entry->key.name = "v" + std::to_string(n);
  entry->key.meta_json = "{\"v\":" + std::to_string(n) + "}";
  entry->key.permissions.assign(static_cast<std::size_t>(n % 7), "p" + std::to_string(n));
  entry->credits = std::make_shared<CreditState>();
  return entry;
}

bool IsConsistent(const CachedKey& entry) {
  const std::string n = entry.key.name.substr(1);
  if (entry.key.meta_json != "{\"v\":" + n + "}") return false;
  if (entry.key.permissions.size() != static_cast<std::size_t>(std::stoi(n) % 7)) return false;
  for (const std::string& permission : entry.key.permissions) {
    if (permission != "p" + n) return false;
  }
  return true;
}

TEST(KeyCacheTest, ConcurrentReadersNeverSeeAMissingOrTornEntryWhileAWriterSwapsIt) {
  KeyCache cache;
  cache.Put(Version(0));
  const std::string hash = Sha256Hex("sk_swapped");
  constexpr int kWrites = 5'000;

  std::atomic<bool> done{false};
  std::atomic<int> missing{0};
  std::atomic<int> torn{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      while (!done.load(std::memory_order_acquire)) {
        CachedKeyPtr entry = r % 2 == 0 ? cache.FindByHash(hash) : cache.FindById("key_1");
        reads.fetch_add(1, std::memory_order_relaxed);
        if (!entry) {
          missing.fetch_add(1, std::memory_order_relaxed);
        } else if (!IsConsistent(*entry)) {
          torn.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  std::thread writer([&] {
    for (int n = 1; n <= kWrites; ++n) cache.Put(Version(n));
    done.store(true, std::memory_order_release);
  });
  writer.join();
  for (auto& reader : readers) reader.join();

  EXPECT_EQ(missing.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
  ASSERT_NE(cache.FindByHash(hash), nullptr);
  EXPECT_EQ(cache.FindByHash(hash)->key.name, "v" + std::to_string(kWrites));
  EXPECT_EQ(cache.Size(), 1u);
}

TEST(KeyCacheTest, ConcurrentWritersOfDifferentKeysAllLand) {
  KeyCache cache;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&cache, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string n = std::to_string(t) + "_" + std::to_string(i);
        cache.Put(Entry("key_" + n, "sk_" + n));
        if (i % 2 == 1) cache.Remove("key_" + n);
      }
    });
  }
  for (auto& writer : writers) writer.join();

  EXPECT_EQ(cache.Size(), static_cast<std::size_t>(kThreads * kPerThread / 2));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string n = std::to_string(t) + "_" + std::to_string(i);
      EXPECT_EQ(cache.FindByHash(Sha256Hex("sk_" + n)) != nullptr, i % 2 == 0) << n;
    }
  }
}

}  // namespace
}  // namespace tollgate
