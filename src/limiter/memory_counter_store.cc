#include "limiter/memory_counter_store.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <utility>
#include <vector>

namespace tollgate {
namespace {

constexpr std::size_t kMinCapacity = 16;
// Slots an insert sweeps at its shard's cursor: with tables at least 3/8 full, a full pass costs
// fewer inserts than the table holds counters, so dead counters stay a fraction of the live ones.
constexpr std::size_t kSweepSlotsPerInsert = 8;
constexpr std::size_t kEvictionSample = 16;

constexpr std::uint64_t kOccupied = std::uint64_t{1} << 63;
constexpr int kAlgorithmShift = 61;
constexpr std::uint64_t kFingerprintHiMask = (std::uint64_t{1} << kAlgorithmShift) - 1;

static_assert(MemoryCounterStore::kShards == 256, "ShardOf takes the top 8 bits");
std::size_t ShardOf(std::uint64_t id_lo) { return static_cast<std::size_t>(id_lo >> 56); }

bool OverThreeQuarters(std::size_t size, std::size_t capacity) { return size * 4 > capacity * 3; }

}  // namespace

// Locks the shards of one call in ascending index order, each once, and unlocks them on exit.
// The set is a 256-bit mask walked a word at a time, so the cost follows the shards locked.
class MemoryCounterStore::ShardLocks {
 public:
  ShardLocks(std::array<Shard, kShards>& shards, std::span<const Pending> pending) : shards_(shards) {
    for (const Pending& p : pending) needed_[p.shard / 64] |= std::uint64_t{1} << (p.shard % 64);
    ForEach([this](std::size_t shard) { shards_[shard].mu.lock(); });
  }
  ~ShardLocks() {
    ForEach([this](std::size_t shard) { shards_[shard].mu.unlock(); });
  }
  ShardLocks(const ShardLocks&) = delete;
  ShardLocks& operator=(const ShardLocks&) = delete;

 private:
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (std::size_t word = 0; word < needed_.size(); ++word) {
      for (std::uint64_t bits = needed_[word]; bits != 0; bits &= bits - 1) {
        fn(word * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
      }
    }
  }

  std::array<Shard, kShards>& shards_;
  std::array<std::uint64_t, kShards / 64> needed_{};
};

MemoryCounterStore::MemoryCounterStore(MemoryCounterStoreOptions options)
    : MemoryCounterStore(options, CounterFingerprinter::WithRandomKey()) {}

MemoryCounterStore::MemoryCounterStore(MemoryCounterStoreOptions options, const SipHashKey& key)
    : MemoryCounterStore(options, CounterFingerprinter(key)) {}

MemoryCounterStore::MemoryCounterStore(MemoryCounterStoreOptions options, CounterFingerprinter fingerprinter)
    : fingerprinter_(fingerprinter),
      max_per_shard_(std::max<std::size_t>(1, options.max_entries / kShards)),
      // The smallest power of two at which max_per_shard_ is at most 3/4 load.
      max_capacity_(std::max(kMinCapacity, std::bit_ceil((max_per_shard_ * 4 + 2) / 3))) {}

void MemoryCounterStore::CheckAndCharge(std::span<const LimitCheck> checks, UnixMillis now, Done done) {
  if (Status valid = ValidateLimitChecks(checks, now); !valid) {
    done(Fail(std::move(valid.error())));
    return;
  }
  std::vector<LimitDecision> decisions(checks.size());
  if (checks.size() == 1) {
    // One check: peeking and charging is one Decide.
    const Pending pending = FingerprintOf(checks[0]);
    std::lock_guard lock(shards_[pending.shard].mu);
    decisions[0] = DecideLocked(checks[0], pending, now);
  } else if (!checks.empty()) {
    constexpr std::size_t kInline = 8;
    std::array<Pending, kInline> inline_pending;
    std::vector<Pending> heap_pending;
    std::span<Pending> pending(inline_pending.data(), std::min(checks.size(), kInline));
    if (checks.size() > kInline) {
      heap_pending.resize(checks.size());
      pending = heap_pending;
    }
    for (std::size_t i = 0; i < checks.size(); ++i) pending[i] = FingerprintOf(checks[i]);
    DecideAll(checks, pending, now, decisions);
  }
  if (decisions_ != nullptr && ChargesAnything(checks)) decisions_->Decided(decisions);
  done(std::move(decisions));
}

MemoryCounterStore::Pending MemoryCounterStore::FingerprintOf(const LimitCheck& check) const {
  const CounterFingerprint fp = fingerprinter_.Of(check.counter_key);
  const std::uint64_t id_hi = (fp.hi & kFingerprintHiMask) |
                              (static_cast<std::uint64_t>(check.algorithm) << kAlgorithmShift) | kOccupied;
  return {fp.lo, id_hi, ShardOf(fp.lo)};
}

void MemoryCounterStore::DecideAll(std::span<const LimitCheck> checks, std::span<const Pending> pending,
                                   UnixMillis now, std::vector<LimitDecision>& decisions) {
  ShardLocks locks(shards_, pending);
  bool all_allow = true;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const Slot* slot = Find(shards_[pending[i].shard], pending[i].id_lo, pending[i].id_hi);
    const CounterState state = slot != nullptr ? slot->state : CounterState{};
    decisions[i] = PeekCounter(checks[i].algorithm, state, ParamsOf(checks[i]), now);
    all_allow = all_allow && decisions[i].allowed;
  }
  if (!all_allow) return;  // nothing charged; the peeks describe the unchanged counters
  // Nothing changed since the peeks (the locks are held and no counter appears twice), so each
  // Decide allows again. Slots are looked up afresh: an insert may move them.
  for (std::size_t i = 0; i < checks.size(); ++i) decisions[i] = DecideLocked(checks[i], pending[i], now);
}

LimitDecision MemoryCounterStore::DecideLocked(const LimitCheck& check, const Pending& pending,
                                               UnixMillis now) {
  Shard& shard = shards_[pending.shard];
  const LimitParams params = ParamsOf(check);
  if (Slot* slot = Find(shard, pending.id_lo, pending.id_hi)) {
    const LimitDecision decision = DecideCounter(check.algorithm, slot->state, params, now);
    if (decision.allowed) slot->expires_at = IdleAtCounter(check.algorithm, slot->state, params);
    return decision;
  }
  Slot slot{pending.id_lo, pending.id_hi, 0, {}};
  const LimitDecision decision = DecideCounter(check.algorithm, slot.state, params, now);
  slot.expires_at = IdleAtCounter(check.algorithm, slot.state, params);
  if (slot.expires_at > now) Insert(shard, slot, now);  // else it is as good as fresh: keep nothing
  return decision;
}

LimitDecision MemoryCounterStore::PeekCounter(LimitAlgorithm algorithm, const CounterState& state,
                                              const LimitParams& params, UnixMillis now) {
  switch (algorithm) {
    case LimitAlgorithm::kSlidingWindow: return SlidingWindow::Peek(state.sliding_window, params, now);
    case LimitAlgorithm::kTokenBucket: return TokenBucket::Peek(state.token_bucket, params, now);
    case LimitAlgorithm::kFixedWindow: return FixedWindow::Peek(state.fixed_window, params, now);
    case LimitAlgorithm::kGcra: return Gcra::Peek(state.gcra, params, now);
  }
  std::abort();  // ValidateLimitChecks admits only the four algorithms
}

LimitDecision MemoryCounterStore::DecideCounter(LimitAlgorithm algorithm, CounterState& state,
                                                const LimitParams& params, UnixMillis now) {
  switch (algorithm) {
    case LimitAlgorithm::kSlidingWindow: return SlidingWindow::Decide(state.sliding_window, params, now);
    case LimitAlgorithm::kTokenBucket: return TokenBucket::Decide(state.token_bucket, params, now);
    case LimitAlgorithm::kFixedWindow: return FixedWindow::Decide(state.fixed_window, params, now);
    case LimitAlgorithm::kGcra: return Gcra::Decide(state.gcra, params, now);
  }
  std::abort();
}

UnixMillis MemoryCounterStore::IdleAtCounter(LimitAlgorithm algorithm, const CounterState& state,
                                             const LimitParams& params) {
  switch (algorithm) {
    case LimitAlgorithm::kSlidingWindow: return SlidingWindow::IdleAt(state.sliding_window, params);
    case LimitAlgorithm::kTokenBucket: return TokenBucket::IdleAt(state.token_bucket, params);
    case LimitAlgorithm::kFixedWindow: return FixedWindow::IdleAt(state.fixed_window, params);
    case LimitAlgorithm::kGcra: return Gcra::IdleAt(state.gcra, params);
  }
  std::abort();
}

MemoryCounterStore::Slot* MemoryCounterStore::Find(Shard& shard, std::uint64_t id_lo, std::uint64_t id_hi) {
  if (shard.capacity == 0) return nullptr;
  const std::size_t mask = shard.capacity - 1;
  for (std::size_t i = id_lo & mask;; i = (i + 1) & mask) {
    Slot& slot = shard.slots[i];
    if (slot.id_hi == id_hi && slot.id_lo == id_lo) return &slot;
    if (slot.id_hi == 0) return nullptr;  // load <= 3/4: every probe run ends at an empty slot
  }
}

void MemoryCounterStore::Insert(Shard& shard, const Slot& slot, UnixMillis now) {
  SweepSome(shard, now, kSweepSlotsPerInsert);
  if (shard.size >= max_per_shard_) EvictOne(shard, now);
  if (shard.capacity == 0) {
    Rehash(shard, kMinCapacity, now);
  } else if (OverThreeQuarters(shard.size + 1, shard.capacity)) {
    // Reclaim the expired first; grow only if at least half the table is still live, so dead
    // counters never make a table grow, and a purge is paid for by capacity/4 inserts.
    std::size_t live = 0;
    for (std::size_t i = 0; i < shard.capacity; ++i) {
      live += shard.slots[i].id_hi != 0 && shard.slots[i].expires_at > now ? 1 : 0;
    }
    const bool grow = (live + 1) * 2 > shard.capacity;
    Rehash(shard, grow ? std::min(shard.capacity * 2, max_capacity_) : shard.capacity, now);
  }
  Place(shard, slot);
}

void MemoryCounterStore::Place(Shard& shard, const Slot& slot) {
  const std::size_t mask = shard.capacity - 1;
  std::size_t i = slot.id_lo & mask;
  while (shard.slots[i].id_hi != 0) i = (i + 1) & mask;
  shard.slots[i] = slot;
  ++shard.size;
}

// Backward-shift deletion: pull later members of the probe run into the hole while that keeps
// them reachable from their home slot, so lookups never need tombstones.
void MemoryCounterStore::Erase(Shard& shard, std::size_t hole) {
  const std::size_t mask = shard.capacity - 1;
  for (std::size_t i = (hole + 1) & mask; shard.slots[i].id_hi != 0; i = (i + 1) & mask) {
    const std::size_t home = shard.slots[i].id_lo & mask;
    if (((i - home) & mask) >= ((i - hole) & mask)) {  // home is at or before the hole
      shard.slots[hole] = shard.slots[i];
      hole = i;
    }
  }
  shard.slots[hole] = Slot{};
  --shard.size;
}

// Advances the cursor over `slots` positions, erasing expired slots on the way. An erase can
// only pull not-yet-visited slots back into the cursor's position, so it re-examines it; a pass
// of `capacity` positions therefore sees every slot.
std::size_t MemoryCounterStore::SweepSome(Shard& shard, UnixMillis now, std::size_t slots) {
  if (shard.capacity == 0) return 0;
  const std::size_t mask = shard.capacity - 1;
  std::size_t removed = 0;
  for (std::size_t advanced = 0; advanced < slots;) {
    const std::size_t i = shard.cursor & mask;
    const Slot& slot = shard.slots[i];
    if (slot.id_hi != 0 && slot.expires_at <= now) {
      Erase(shard, i);
      ++removed;
    } else {
      shard.cursor = (i + 1) & mask;
      ++advanced;
    }
  }
  return removed;
}

void MemoryCounterStore::EvictOne(Shard& shard, UnixMillis now) {
  const std::size_t mask = shard.capacity - 1;
  std::size_t best = shard.capacity;  // none yet
  std::size_t sampled = 0;
  std::size_t i = shard.cursor & mask;
  for (std::size_t visited = 0; visited < shard.capacity && sampled < kEvictionSample;
       ++visited, i = (i + 1) & mask) {
    const Slot& slot = shard.slots[i];
    if (slot.id_hi == 0) continue;
    if (slot.expires_at <= now) {  // an expired slot makes room without forgetting anything
      shard.cursor = i;
      Erase(shard, i);
      return;
    }
    ++sampled;
    if (best == shard.capacity || slot.expires_at < shard.slots[best].expires_at) best = i;
  }
  shard.cursor = i;
  Erase(shard, best);  // the shard is full, so something was sampled
  ++shard.evictions;
}

std::size_t MemoryCounterStore::Rehash(Shard& shard, std::size_t new_capacity, UnixMillis now) {
  const std::unique_ptr<Slot[]> old = std::move(shard.slots);
  const std::size_t old_capacity = shard.capacity;
  shard.slots = new_capacity == 0 ? nullptr : std::make_unique<Slot[]>(new_capacity);
  shard.capacity = new_capacity;
  shard.size = 0;
  shard.cursor = 0;
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    const Slot& slot = old[i];
    if (slot.id_hi == 0) continue;
    if (slot.expires_at <= now || new_capacity == 0) {
      ++dropped;
    } else {
      Place(shard, slot);
    }
  }
  return dropped;
}

std::size_t MemoryCounterStore::MaybeShrink(Shard& shard, UnixMillis now) {
  if (shard.capacity == 0) return 0;
  std::size_t target = shard.capacity;
  while (target > kMinCapacity && shard.size * 8 < target) target /= 2;  // ends at <= 1/4 load
  if (shard.size == 0) target = 0;
  return target == shard.capacity ? 0 : Rehash(shard, target, now);
}

std::size_t MemoryCounterStore::Sweep(UnixMillis now, std::size_t budget) {
  std::size_t removed = 0;
  std::size_t visited = 0;
  for (std::size_t n = 0; n < kShards && visited < budget; ++n) {
    Shard& shard = shards_[sweep_next_shard_.fetch_add(1, std::memory_order_relaxed) % kShards];
    std::lock_guard lock(shard.mu);
    const std::size_t slots = std::min(budget - visited, shard.capacity);
    removed += SweepSome(shard, now, slots);
    visited += slots;
    removed += MaybeShrink(shard, now);
  }
  return removed;
}

std::size_t MemoryCounterStore::entry_count() const {
  std::size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    total += shard.size;
  }
  return total;
}

std::size_t MemoryCounterStore::memory_bytes() const {
  std::size_t total = sizeof(*this);
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    total += shard.capacity * sizeof(Slot);
  }
  return total;
}

double MemoryCounterStore::bytes_per_entry() const {
  const std::size_t entries = entry_count();
  return entries == 0 ? 0.0 : static_cast<double>(memory_bytes()) / static_cast<double>(entries);
}

std::uint64_t MemoryCounterStore::evictions() const {
  std::uint64_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    total += shard.evictions;
  }
  return total;
}

}  // namespace tollgate
