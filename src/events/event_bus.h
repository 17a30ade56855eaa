// Domain events (key.created, key.updated, key.deleted, ...): how one part of tollgate — or one
// node of many — learns of a change made elsewhere. The in-process bus is the embedded default;
// RabbitMQ replaces it for several nodes without changing publishers or subscribers.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"

namespace tollgate {

struct Event {
  std::string id;           // "evt_…": consumers are idempotent by this id
  std::string type;         // routing key, e.g. "key.updated"
  std::string payload_json; // JSON object text; never contains a secret
  UnixMillis at = 0;
};

class EventBus {
 public:
  using Handler = std::function<void(const Event&)>;
  virtual ~EventBus() = default;

  // Hands the event to the bus. Returns once the bus owns it (in-process: after the handlers
  // ran; a broker-backed bus: once it is in the outbox).
  virtual void Publish(const Event& event) = 0;

  // Calls handler for every event whose type matches pattern: an exact type, "prefix.*", or "#"
  // for all. Handlers must not throw and must be cheap; they run on the bus's delivery thread.
  virtual void Subscribe(const std::string& pattern, Handler handler) = 0;
};
using EventBusPtr = std::unique_ptr<EventBus>;

// True if an event type matches a subscription pattern (see EventBus::Subscribe).
bool EventTypeMatches(const std::string& pattern, const std::string& type);

}  // namespace tollgate
