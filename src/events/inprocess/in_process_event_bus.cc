#include "events/inprocess/in_process_event_bus.h"

namespace tollgate {

bool EventTypeMatches(const std::string& pattern, const std::string& type) {
  if (pattern == "#" || pattern == type) return true;
  if (pattern.size() >= 2 && pattern.ends_with(".*")) {
    const std::string_view prefix(pattern.data(), pattern.size() - 1);  // keeps the dot
    return type.starts_with(prefix) && type.find('.', prefix.size()) == std::string::npos;
  }
  return false;
}

void InProcessEventBus::Publish(const Event& event) {
  std::vector<Handler> matching;
  {
    std::lock_guard lock(mu_);
    for (const auto& [pattern, handler] : subscribers_)
      if (EventTypeMatches(pattern, event.type)) matching.push_back(handler);
  }
  // Outside the lock, so a handler may publish or subscribe in turn.
  for (const auto& handler : matching) handler(event);
}

void InProcessEventBus::Subscribe(const std::string& pattern, Handler handler) {
  std::lock_guard lock(mu_);
  subscribers_.emplace_back(pattern, std::move(handler));
}

}  // namespace tollgate
