#include "events/event_inbox.h"

#include <spdlog/spdlog.h>

namespace tollgate {

void EventInbox::On(std::string pattern, Applier applier) { appliers_.emplace_back(std::move(pattern), std::move(applier)); }

Status EventInbox::Start(EventBus& bus, std::int64_t follow_from) {
  {
    std::lock_guard lock(mu_);
    cursor_ = follow_from;
  }
  // Only the types some applier wants reach this node's queue (not every node's usage.batch).
  // An event matching two patterns arrives twice and is applied once.
  for (const auto& [pattern, applier] : appliers_) {
    bus.Subscribe(pattern, [this](const Event& event) {
      if (auto delivered = Deliver(event); !delivered) {
        spdlog::warn("events: applying {} {} failed, the outbox follower retries it: {}", event.type, event.id,
                     delivered.error().detail);
      }
    });
  }
  follower_ = std::thread([this] {
    bool failing = false;
    for (;;) {
      {
        std::unique_lock lock(stop_mu_);
        if (stop_cv_.wait_for(lock, options_.follow_interval, [this] { return stopping_; })) return;
      }
      auto followed = FollowOnce();
      if (!followed && !failing) spdlog::warn("events: following the outbox failed: {}", followed.error().detail);
      if (followed && failing) spdlog::info("events: following the outbox again");
      failing = !followed;
    }
  });
  return {};
}

void EventInbox::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (follower_.joinable()) follower_.join();
}

bool EventInbox::Seen(const std::string& id) const { return seen_.contains(id); }

void EventInbox::Remember(const std::string& id) {
  if (!seen_.insert(id).second) return;
  seen_order_.push_back(id);
  if (seen_order_.size() > options_.remember) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
}

Result<bool> EventInbox::Deliver(const Event& event) {
  std::lock_guard lock(mu_);
  if (event.id.empty() || Seen(event.id)) return false;
  if (!options_.node.empty() && event.origin == options_.node) {
    Remember(event.id);
    return false;
  }
  bool matched = false;
  for (const auto& [pattern, applier] : appliers_) {
    if (!EventTypeMatches(pattern, event.type)) continue;
    matched = true;
    if (auto applied = applier(event); !applied) {
      if (applied.error().code == ErrorCode::kUnavailable) return Fail(std::move(applied.error()));
      // Not a passing outage: trying again would fail the same way and hold up every later event.
      spdlog::error("events: skipped {} {} from {}: {}", event.type, event.id, event.origin, applied.error().detail);
    }
  }
  if (!matched) return false;  // nothing here wants it: not remembered, so it pushes no id out
  Remember(event.id);
  ++applied_;
  spdlog::debug("events: applied {} {} from {}", event.type, event.id, event.origin);
  return true;
}

Result<std::size_t> EventInbox::FollowOnce() {
  std::int64_t cursor = 0;
  {
    std::lock_guard lock(mu_);
    cursor = cursor_;
  }
  std::size_t applied = 0;
  for (;;) {
    auto page = outbox_.OutboxEventsAfter(cursor, 500);
    if (!page) return Fail(std::move(page.error()));
    for (const auto& entry : *page) {
      auto delivered = Deliver(entry.event);
      if (!delivered) return Fail(std::move(delivered.error()));  // retried from here next round
      if (*delivered) ++applied;
      std::lock_guard lock(mu_);
      cursor = cursor_ = entry.seq;
    }
    if (page->size() < 500) return applied;
  }
}

std::uint64_t EventInbox::applied() const {
  std::lock_guard lock(mu_);
  return applied_;
}

}  // namespace tollgate
