#include "events/outbox_relay.h"

#include <vector>

#include <spdlog/spdlog.h>

namespace tollgate {

Result<std::size_t> OutboxRelay::RunOnce() {
  const UnixMillis now = clock_.NowMillis();
  // A batch kept past its lease may be another relay's by now: claim again rather than publish it twice.
  if (!unsent_.empty() && now >= unsent_claimed_until_) {
    unsent_.clear();
    unsent_seqs_.clear();
    unsent_published_ = false;
  }
  if (unsent_.empty()) {
    auto claimed = store_.ClaimOutboxEvents(options_.relay_name, options_.batch_size, now, options_.lease_ms);
    if (!claimed) return Fail(std::move(claimed.error()));
    for (auto& entry : *claimed) {
      unsent_seqs_.push_back(entry.seq);
      unsent_.push_back(std::move(entry.event));
    }
    unsent_claimed_until_ = now + options_.lease_ms;
  }
  if (unsent_.empty()) return std::size_t{0};
  // Confirmed but not yet marked (the store failed after the broker acked): only the mark is
  // retried, so the bus does not get the batch again every round of a store outage.
  if (!unsent_published_) {
    if (auto published = bus_.PublishBatch(unsent_); !published) return Fail(std::move(published.error()));
    unsent_published_ = true;
  }
  if (auto marked = store_.MarkOutboxSent(unsent_seqs_, clock_.NowMillis()); !marked) {
    return Fail(std::move(marked.error()));
  }
  const std::size_t count = unsent_.size();
  unsent_.clear();
  unsent_seqs_.clear();
  unsent_published_ = false;
  published_.fetch_add(count, std::memory_order_relaxed);
  return count;
}

void OutboxRelay::Start() { thread_ = std::thread([this] { Loop(); }); }

void OutboxRelay::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void OutboxRelay::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

void OutboxRelay::PruneIfDue() {
  const UnixMillis now = clock_.NowMillis();
  if (now < next_prune_at_) return;
  next_prune_at_ = now + 3'600'000;
  if (auto pruned = store_.PruneOutbox(now - options_.keep_sent_ms); !pruned) {
    spdlog::warn("outbox: pruning sent events failed: {}", pruned.error().detail);
  }
}

void OutboxRelay::Loop() {
  bool failing = false;
  for (;;) {
    auto round = RunOnce();
    if (!round) {
      if (!failing) spdlog::warn("outbox: publishing events failed, retrying: {}", round.error().detail);
      failing = true;
    } else {
      if (failing) spdlog::info("outbox: publishing events again");
      failing = false;
      PruneIfDue();
    }
    const bool more = round && *round == options_.batch_size;
    std::unique_lock lock(mu_);
    if (stopping_) break;
    if (more) continue;
    wake_.wait_for(lock, failing ? options_.retry_interval : options_.poll_interval,
                   [this] { return woken_ || stopping_; });
    woken_ = false;
    if (stopping_) break;
  }
  // The last changes before shutdown: one more round so they do not wait for the next start.
  if (auto last = RunOnce(); !last) spdlog::warn("outbox: events left pending at shutdown: {}", last.error().detail);
}

}  // namespace tollgate
