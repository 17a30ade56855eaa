// UsageThreadLog: the usage events one thread has recorded that the flusher has not taken yet,
// encoded back to back in chunks of 64 KiB that are reused. This is what keeps recording cheap
// (see bench/verify_bench.cc): an event costs one copy of its bytes into memory that is likely in
// the cache already, and no heap allocation or free on the recording thread. (Events moved into a
// vector were 280+ bytes of fresh memory each, and any heap block in them — an id, the tags — was
// allocated on the worker and freed on the flusher, which throttles glibc's allocator.)
//
// Threads: one producer, the thread the log belongs to, calls Append; one consumer at a time (the
// recorder's flush cycle, under its flush mutex) calls Drain. Append takes no lock while the
// current chunk has room: it writes the event past the chunk's published end, then publishes the
// new end with a release store, which Drain reads with an acquire load. A full chunk is handed to
// the consumer under mutex_, once per chunk, and the producer takes an emptied one back from the
// spares (or allocates one). The consumer frees only retired chunks, so it may read the producer's
// current chunk without the lock, up to the end it loaded: bytes below the published end never
// change until the chunk has been retired and drained.
//
// The encoding lives only in memory, within one process: a fixed header (time, credits, the six
// text sizes, the tag count), the six texts, then each tag as a 32-bit size and its bytes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "usage/usage_event.h"

namespace tollgate {

class UsageThreadLog {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  static constexpr std::size_t kMaxSpareChunks = 64;  // 4 MiB per thread kept for reuse at most
  static constexpr std::size_t kPrefetchBytes = 256;   // a verification's event with a few tags

  UsageThreadLog();
  ~UsageThreadLog();
  UsageThreadLog(const UsageThreadLog&) = delete;
  UsageThreadLog& operator=(const UsageThreadLog&) = delete;

  // Producer only. Copies the event (its first kMaxUsageTags tags). An event larger than a chunk
  // gets a chunk of its own.
  void Append(const UsageEventView& event);

  // Consumer only. Appends to `out`, in order, every event whose Append returned before the call
  // (and maybe some later ones), and recycles the chunks it emptied. Returns how many it added.
  std::size_t Drain(std::vector<UsageEvent>& out);

  // Events appended so far; any thread. After Drain returned events, at least those.
  std::uint64_t appended() const { return appended_.load(std::memory_order_relaxed); }

 private:
  struct Chunk;

  // Producer: retires the current chunk and makes current a chunk with room for `bytes`.
  void StartChunk(std::size_t bytes);

  // Producer only (written under mutex_ when it changes, so the consumer may read it under mutex_).
  std::unique_ptr<Chunk> current_;
  std::size_t end_ = 0;  // current_'s published end, without the atomic load
  std::atomic<std::uint64_t> appended_{0};

  std::mutex mutex_;
  std::vector<std::unique_ptr<Chunk>> retired_;  // guarded by mutex_; full chunks, oldest first
  std::vector<std::unique_ptr<Chunk>> spares_;   // guarded by mutex_; drained, end reset to 0

  // Consumer only: how far the last Drain read into the chunk that was current then.
  const Chunk* partial_ = nullptr;
  std::size_t partial_read_ = 0;
};

}  // namespace tollgate
