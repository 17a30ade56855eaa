// The embedded event bus: delivers each event synchronously, on the publishing thread, to every
// matching subscriber. No persistence and no other nodes: enough for one process.
#pragma once

#include <mutex>
#include <utility>
#include <vector>

#include "events/event_bus.h"

namespace tollgate {

class InProcessEventBus final : public EventBus {
 public:
  void Publish(const Event& event) override;
  void Subscribe(const std::string& pattern, Handler handler) override;

 private:
  // Subscriptions are added at start-up and rarely after; the mutex only guards the vector.
  std::mutex mu_;
  std::vector<std::pair<std::string, Handler>> subscribers_;
};

}  // namespace tollgate
