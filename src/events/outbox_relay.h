// The outbox relay: moves events from the store's outbox (written with the changes that caused
// them) to the EventBus, and marks them sent only once the bus has confirmed them. Delivery is at
// least once: a crash between the bus's confirm and the mark, or a batch that failed half-way,
// publishes some events again, and consumers drop repeats by event id (events/event_inbox.h).
//
// Threads: Start() runs one thread that claims a batch every `poll_interval` (sooner after
// Wake()), publishes it, marks it, and repeats while batches come back full. When the bus or the
// store fails it keeps the batch and its claim (other nodes' relays skip it until the lease runs
// out), logs once per outage, and retries that same batch after `retry_interval`: the oldest
// events go out first, as soon as the bus is back, not when their lease runs out. Every node runs
// a relay; claims keep two from publishing the same events, and take over a dead node's events
// after the lease. RunOnce() does one round on the caller's thread (tests, and the final drain at
// shutdown); never while the thread runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "events/event_bus.h"
#include "events/outbox_store.h"

namespace tollgate {

struct OutboxRelayOptions {
  std::string relay_name = "relay";  // this node's name in the outbox's claims
  std::size_t batch_size = 200;
  std::chrono::milliseconds poll_interval{100};
  std::chrono::milliseconds retry_interval{1000};
  std::int64_t lease_ms = 30'000;
  // Sent events are kept this long (for nodes catching up through the outbox), then pruned.
  std::int64_t keep_sent_ms = 24 * 3'600'000LL;
};

class OutboxRelay {
 public:
  OutboxRelay(OutboxStore& store, EventBus& bus, Clock& clock, OutboxRelayOptions options)
      : store_(store), bus_(bus), clock_(clock), options_(std::move(options)) {}
  ~OutboxRelay() { Stop(); }
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  void Start();
  // Publishes what is pending one last time (best effort), then stops the thread.
  void Stop();
  // Asks the thread to look at the outbox now instead of at the next poll.
  void Wake();

  // One claim-publish-mark round: how many events were published and marked (0 when none were
  // pending). Fails with the store's or the bus's error; the batch then stays pending, and the
  // next round tries it again (or claims afresh once its lease has run out).
  Result<std::size_t> RunOnce();

  // Events published and marked since start.
  std::uint64_t published() const { return published_.load(std::memory_order_relaxed); }

 private:
  void Loop();
  void PruneIfDue();

  OutboxStore& store_;
  EventBus& bus_;
  Clock& clock_;
  const OutboxRelayOptions options_;
  std::atomic<std::uint64_t> published_{0};
  UnixMillis next_prune_at_ = 0;  // relay thread only

  // The claimed batch not yet published and marked (a round failed), until its lease runs out.
  // Relay thread only.
  std::vector<Event> unsent_;
  std::vector<std::int64_t> unsent_seqs_;
  UnixMillis unsent_claimed_until_ = 0;
  bool unsent_published_ = false;  // the bus confirmed unsent_; only marking it sent failed

  std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace tollgate
