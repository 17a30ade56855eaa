// The in-process CounterStore: every limiter counter of one node in a sharded hash table in
// memory. The embedded default (`tollgate serve` with no flags) and the local fallback when a
// Redis shard is down. It completes inline: `done` runs before CheckAndCharge returns.
//
// Layout. 256 shards, each a std::mutex over an open-addressing table (linear probing,
// backward-shift deletion, no tombstones). A counter is a 48-byte slot: the 128-bit fingerprint
// of its counter_key (counter_fingerprint.h explains why a fingerprint and not the string), the
// instant it expires, and the algorithm's state (at most 24 bytes). No allocation per counter.
// Tables grow by doubling at 3/4 load, so a live counter costs between 64 and 192 bytes of table
// (~100 measured at 10^5 and 10^6 counters, by bytes_per_entry() and by malloc's own count in
// bench/limiter_bench.cc), on top of ~230 KB fixed (the shards and their 16-slot minimum tables).
//
// Cost. A single-check decision is ~80 ns of CPU (a third of it the SipHash fingerprint) plus,
// once the tables outgrow the caches (10^6 counters are ~100 MB), one cache miss for the slot:
// at scale memory latency dominates (bench/limiter_bench.cc). Not done: prefetching the slot
// before taking the lock (no measurable gain: the miss is mostly a page walk that the prefetch
// waits for too), and huge pages for the tables (would shorten that walk, ~30% of a miss on the
// development VM; needs one arena instead of a table per shard).
//
// Concurrency. Any method may be called from any thread. A call fingerprints its keys without
// locks, then locks the shards they fall in, in ascending shard order (deduplicated, so calls
// that share shards cannot deadlock), peeks every check, charges all of them only if all allow,
// and unlocks before calling `done`. A single-check decision holds one lock for tens of ns (plus
// the slot's cache miss at scale); plain mutexes, because every decision writes.
//
// Bounded state. A slot expires at its algorithm's IdleAt: from then on it decides exactly like a
// fresh counter, so dropping it changes no decision. Expired slots are reclaimed (1) a few at a
// time by every insert (8 slots at the shard's sweep cursor), (2) all at once before a shard's
// table would grow (a table grows only if at least half of it is still live, so dead counters
// never make it grow), and (3) by Sweep(now, budget), which the owner should call periodically
// (e.g. each second) to reclaim and shrink tables of shards that see no inserts.
//
// The hard cap. max_entries is split evenly over the shards, so the store never holds more than
// max_entries counters (a shard can be full while the store as a whole is a little below the cap;
// hashing spreads counters within a few percent). A new counter in a full shard first takes the
// place of an expired one; if none is found among 16 live slots sampled at the sweep cursor, it
// evicts the sampled counter that would have expired first (the one closest to being forgotten
// anyway) and counts an eviction. An evicted counter restarts from fresh: at the cap, a limit can
// over-admit by what its evicted counter had recorded. Size max_entries so evictions() stays 0.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>

#include "common/clock.h"
#include "limiter/counter_fingerprint.h"
#include "limiter/counter_store.h"
#include "limiter/limiter_metrics.h"
#include "limiter/fixed_window.h"
#include "limiter/gcra.h"
#include "limiter/limit_params.h"
#include "limiter/sliding_window.h"
#include "limiter/token_bucket.h"

namespace tollgate {

struct MemoryCounterStoreOptions {
  // The most counters held at once; at ~100 bytes each, the default 2^21 caps the store near
  // 200 MiB (256 MiB at worst, right after every table has doubled).
  std::size_t max_entries = std::size_t{1} << 21;
};

class MemoryCounterStore final : public CounterStore {
 public:
  static constexpr std::size_t kShards = 256;

  // Fingerprints keys under a random SipHash key.
  explicit MemoryCounterStore(MemoryCounterStoreOptions options = {});
  // Under a given key: for tests that need reproducible placement.
  MemoryCounterStore(MemoryCounterStoreOptions options, const SipHashKey& key);

  MemoryCounterStore(const MemoryCounterStore&) = delete;
  MemoryCounterStore& operator=(const MemoryCounterStore&) = delete;

  // All-or-nothing over `checks` (see CounterStore). Fails with InvalidInput, charging nothing,
  // if ValidateLimitChecks rejects the call. Calls `done` before returning, without locks held.
  void CheckAndCharge(std::span<const LimitCheck> checks, UnixMillis now, Done done) override;
  // Never fails to reach its state, so the options change nothing.
  void CheckAndCharge(std::span<const LimitCheck> checks, UnixMillis now, const CheckOptions& /*options*/,
                      Done done) override {
    CheckAndCharge(checks, now, std::move(done));
  }

  // Visits up to `budget` slots, shard after shard from where the previous call stopped, drops
  // the counters expired at `now` and shrinks tables left less than 1/8 full. Returns how many
  // counters it dropped. Holds one shard's lock at a time, for at most min(budget, that shard's
  // table size) slots; Sweep(now, SIZE_MAX) visits every slot once.
  std::size_t Sweep(UnixMillis now, std::size_t budget);
  // Counts this store's decisions from now on. Call before serving; borrowed.
  void SetMetrics(LimiterDecisions* decisions) { decisions_ = decisions; }

  // Counters held, including expired ones not yet swept.
  std::size_t entry_count() const;
  // Bytes held by the store: the object (shard array included) plus every table.
  std::size_t memory_bytes() const;
  // memory_bytes() / entry_count(), or 0 when empty.
  double bytes_per_entry() const;
  // Live counters dropped at the cap since construction.
  std::uint64_t evictions() const;

 private:
  LimiterDecisions* decisions_ = nullptr;
  // The state of whichever algorithm the slot's id names; value-initialised, any of them is fresh.
  union CounterState {
    CounterState() : sliding_window() {}
    SlidingWindow::State sliding_window;
    TokenBucket::State token_bucket;
    FixedWindow::State fixed_window;
    Gcra::State gcra;
  };

  // One counter. id_hi == 0 marks an empty slot; otherwise id_hi holds fingerprint bits 0..60,
  // the algorithm in bits 61..62 (a key under another algorithm is another counter) and 1 in
  // bit 63. id_lo is the other fingerprint word; its top 8 bits pick the shard and its low bits
  // the home slot.
  struct Slot {
    std::uint64_t id_lo = 0;
    std::uint64_t id_hi = 0;
    UnixMillis expires_at = 0;
    CounterState state;
  };
  static_assert(sizeof(Slot) == 48);

  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unique_ptr<Slot[]> slots;  // guarded by mu, like every field below
    std::size_t capacity = 0;       // 0 or a power of two
    std::size_t size = 0;
    std::size_t cursor = 0;         // where sweeping and eviction sampling continue
    std::uint64_t evictions = 0;
  };

  struct Pending {  // one check of a call, fingerprinted
    std::uint64_t id_lo;
    std::uint64_t id_hi;
    std::size_t shard;
  };
  class ShardLocks;

  MemoryCounterStore(MemoryCounterStoreOptions options, CounterFingerprinter fingerprinter);

  static LimitDecision PeekCounter(LimitAlgorithm algorithm, const CounterState& state,
                                   const LimitParams& params, UnixMillis now);
  static LimitDecision DecideCounter(LimitAlgorithm algorithm, CounterState& state,
                                     const LimitParams& params, UnixMillis now);
  static UnixMillis IdleAtCounter(LimitAlgorithm algorithm, const CounterState& state,
                                  const LimitParams& params);

  Pending FingerprintOf(const LimitCheck& check) const;
  // Peeks every check and charges all of them only if all allow, under the locks of their shards.
  void DecideAll(std::span<const LimitCheck> checks, std::span<const Pending> pending, UnixMillis now,
                 std::vector<LimitDecision>& decisions);

  // The helpers below require the shard's lock.
  LimitDecision DecideLocked(const LimitCheck& check, const Pending& pending, UnixMillis now);
  static Slot* Find(Shard& shard, std::uint64_t id_lo, std::uint64_t id_hi);
  void Insert(Shard& shard, const Slot& slot, UnixMillis now);
  // Puts a slot whose id is absent into a table with room for it.
  static void Place(Shard& shard, const Slot& slot);
  static void Erase(Shard& shard, std::size_t index);
  static std::size_t SweepSome(Shard& shard, UnixMillis now, std::size_t slots);
  void EvictOne(Shard& shard, UnixMillis now);
  // Moves every unexpired slot into a table of new_capacity (0 frees the table). Returns how
  // many expired slots it dropped.
  static std::size_t Rehash(Shard& shard, std::size_t new_capacity, UnixMillis now);
  static std::size_t MaybeShrink(Shard& shard, UnixMillis now);

  const CounterFingerprinter fingerprinter_;
  const std::size_t max_per_shard_;      // max_entries / kShards, at least 1
  const std::size_t max_capacity_;       // table size at which max_per_shard_ is <= 3/4 load
  std::atomic<std::size_t> sweep_next_shard_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace tollgate
