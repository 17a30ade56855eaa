// UsageRecorder: takes usage events from the verify path without waiting on the store, and writes
// them in batches from one background thread.
//
// Threads and ownership:
//  * Any thread calls Record(). Each thread appends to its own ThreadBuffer, found through a
//    thread_local pointer (registered with this recorder on the thread's first Record), which
//    holds a UsageThreadLog: the event's bytes are copied into a reused chunk, with no lock and no
//    heap allocation while the chunk has room (a lock once per 64 KiB chunk).
//  * The flusher thread owns everything after a drain: the events decoded from the logs (pending
//    batch) and the spill file. It wakes every flush_interval, or when a thread has recorded
//    another flush_batch events (that thread signals it). Flush() runs the same cycle on the
//    caller's thread; the two are serialised by flush_mutex_.
//
// Failure policy (nothing is dropped): when the store fails, the batch stays in memory and is
// retried next cycle; events beyond max_buffered are appended (oldest first) to the spill file as
// NDJSON lines, fsynced per batch. After a successful write, the spill file is replayed in chunks
// and then truncated; a chunk that fails leaves exactly the lines not yet written in the file.
// The first cycle runs at start, so a spill left by an earlier run is replayed then. Stop() writes
// everything to the store or, if the store is down, to the spill file.
//
// Loss bound: a hard kill (SIGKILL, power loss) loses what was in memory, i.e. everything recorded
// after the last completed write: while the store answers, at most one flush_interval plus the
// duration of two writes (the one under way and the one before it), or flush_batch per thread,
// whichever comes first; while it does not, up to max_buffered events. Spilled events are on disk.
// tests/integration/usage_durability.test.mjs measures it.
//
// Cost: measured by bench/verify_bench.cc (BM_RecordingCost: what recording adds to a
// verification). Record encodes the event (~200 bytes for a verification with two tags) into the
// thread's log; decoding into UsageEvents, with their allocations, happens on the flusher. Each
// recording thread keeps up to 4 MiB of emptied chunks for reuse. A thread's first Record takes
// the registry mutex once. ThreadBuffers are kept for the recorder's
// life (threads that come and go leave an empty buffer each; tollgate's workers are fixed).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "metrics/registry.h"
#include "usage/usage_event.h"
#include "usage/usage_store.h"

namespace tollgate {

struct UsageRecorderOptions {
  std::chrono::milliseconds flush_interval{100};
  std::size_t flush_batch = 10'000;     // every this many events of a thread wake the flusher
  std::size_t max_buffered = 1'000'000;  // events held in memory while the store fails
  std::string spill_path;                // NDJSON file; required
  Histogram* flush_duration = nullptr;   // observes every cycle that wrote anything; borrowed
};

// Monotonic since start, for metrics.
struct UsageCounters {
  std::uint64_t recorded = 0;        // Record calls
  std::uint64_t flushed = 0;         // events written to the store (replayed ones included)
  std::uint64_t spilled = 0;         // events appended to the spill file
  std::uint64_t replayed = 0;        // events read back from the spill file into the store
  std::uint64_t store_failures = 0;  // failed WriteUsage calls
  std::uint64_t spill_lines_skipped = 0;  // unreadable spill lines (a torn last line after a crash)
  std::uint64_t buffered = 0;        // events in memory, recorded but neither flushed nor spilled
  std::int64_t last_flush_micros = 0;  // duration of the last cycle that wrote anything
  // When the oldest event not yet in the store happened (the first of the pending batch, or of
  // the spill file), as of the last cycle; 0 when everything was written.
  UnixMillis oldest_unwritten_at = 0;
  std::uint64_t spill_bytes = 0;  // size of the spill file now
};

class UsageRecorder {
 public:
  // Starts the flusher thread. Fails when the spill file cannot be opened for appending.
  // `store` must outlive the recorder.
  static Result<std::unique_ptr<UsageRecorder>> Start(UsageStore& store, UsageRecorderOptions options);

  // Stops if still running; see Stop().
  ~UsageRecorder();
  UsageRecorder(const UsageRecorder&) = delete;
  UsageRecorder& operator=(const UsageRecorder&) = delete;

  // Copies the event into this thread's buffer. Never blocks on the store. Callable after Stop():
  // the event is then written by the destructor.
  void Record(const UsageEventView& event);

  // One flush cycle on the calling thread: everything recorded before the call is written to the
  // store (then the spill file is replayed), or kept/spilled by the policy above. Fails with the
  // store's error when the store did not take the batch.
  Status Flush();

  // Stops the flusher and writes everything recorded so far: to the store, or else to the spill
  // file. Fails only when events could be written to neither (they are then lost; the error says
  // how many). Idempotent.
  Status Stop();

  UsageCounters Counters() const;

 private:
  struct ThreadBuffer;

  UsageRecorder(UsageStore& store, UsageRecorderOptions options);
  ThreadBuffer& RegisterThisThread();
  void RunFlusher();
  // Decodes every thread's events into pending_. flush_mutex_ held.
  void DrainBuffers();
  // flush_mutex_ held. `final`: spill whatever the store does not take.
  Status FlushLocked(bool final);
  // Writes pending_ to the store oldest first, in transactions of at most flush_batch events (a
  // backlog after an outage is many batches, not one huge statement); what was written leaves
  // pending_ even when a later batch fails. flush_mutex_ held.
  Status WritePending();
  // Appends the first `count` events of pending_ to the spill file and removes them.
  Status SpillPending(std::size_t count);
  // Writes the spill file to the store in chunks, then truncates it.
  Status ReplaySpill();

  UsageStore& store_;
  const UsageRecorderOptions options_;
  const std::uint64_t id_;  // tells this recorder's thread_local slot from another recorder's

  mutable std::mutex registry_mutex_;
  std::vector<std::unique_ptr<ThreadBuffer>> buffers_;  // guarded by registry_mutex_

  std::mutex flush_mutex_;
  std::vector<UsageEvent> pending_;  // guarded by flush_mutex_
  bool spill_has_events_ = false;    // guarded by flush_mutex_

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool wake_requested_ = false;  // guarded by wake_mutex_
  bool stopping_ = false;        // guarded by wake_mutex_
  std::thread flusher_;
  std::once_flag stop_once_;
  Status stop_status_;

  std::atomic<std::uint64_t> flushed_{0};
  std::atomic<std::uint64_t> flushed_from_memory_{0};
  std::atomic<std::uint64_t> spilled_{0};
  std::atomic<std::uint64_t> replayed_{0};
  std::atomic<std::uint64_t> store_failures_{0};
  std::atomic<std::uint64_t> spill_lines_skipped_{0};
  std::atomic<UnixMillis> oldest_unwritten_at_{0};
  UnixMillis spill_oldest_at_ = 0;  // guarded by flush_mutex_; while spill_has_events_
  std::atomic<std::int64_t> last_flush_micros_{0};
};
using UsageRecorderPtr = std::unique_ptr<UsageRecorder>;

}  // namespace tollgate
