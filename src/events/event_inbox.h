// A node's inbox of changes made by other nodes: every event reaches it at least once, by the
// bus (fast: milliseconds) or by following the store's outbox (the safety net when the bus is
// down: within `follow_interval`), and it hands each one to the appliers exactly once.
//
// Exactly once: an event's id is remembered (the last `remember` ids) after its appliers ran;
// a repeat from the bus, a redelivery, or the same event found again in the outbox is dropped.
// Events this node caused (origin == node name) are dropped too: the node applied them when it
// made the change. An applier that fails because the store is unavailable leaves the event
// unapplied; the outbox follower stops before it and retries it on its next round. Any other
// failure (a payload it cannot read) is logged and the event skipped, so one bad event never
// stops the follower.
//
// Threads: Deliver() runs on the bus's delivery thread, the follower on its own thread; one
// mutex serialises application, so appliers run one at a time, in the order events arrive.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/result.h"
#include "events/event_bus.h"
#include "events/outbox_store.h"

namespace tollgate {

struct EventInboxOptions {
  std::string node;  // this node's name: events with this origin are its own
  std::chrono::milliseconds follow_interval{2000};
  std::size_t remember = 100'000;
};

class EventInbox {
 public:
  // Applies one event; an error leaves it unapplied, to be tried again.
  using Applier = std::function<Status(const Event&)>;

  EventInbox(OutboxStore& outbox, EventInboxOptions options) : outbox_(outbox), options_(std::move(options)) {}
  ~EventInbox() { Stop(); }
  EventInbox(const EventInbox&) = delete;
  EventInbox& operator=(const EventInbox&) = delete;

  // Registers an applier for the event types matching `pattern` (see EventBus::Subscribe).
  // Before Start() only.
  void On(std::string pattern, Applier applier);

  // Subscribes to `bus` (one subscription per applier pattern) and starts following the outbox
  // after seq `follow_from`: the outbox's end read before the node loaded its state.
  Status Start(EventBus& bus, std::int64_t follow_from);
  void Stop();

  // Applies `event` unless it was applied before or is this node's own. Returns whether it ran
  // the appliers, or their error.
  Result<bool> Deliver(const Event& event);
  // One round of following the outbox: applies what is new; returns how many it applied.
  Result<std::size_t> FollowOnce();

  std::uint64_t applied() const;

 private:
  bool Seen(const std::string& id) const;  // mu_ held
  void Remember(const std::string& id);    // mu_ held

  OutboxStore& outbox_;
  const EventInboxOptions options_;
  std::vector<std::pair<std::string, Applier>> appliers_;

  mutable std::mutex mu_;  // serialises application; guards everything below
  std::unordered_set<std::string> seen_;
  std::deque<std::string> seen_order_;  // oldest first, to forget beyond `remember`
  std::int64_t cursor_ = 0;             // the outbox seq followed up to
  std::uint64_t applied_ = 0;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread follower_;
};

}  // namespace tollgate
