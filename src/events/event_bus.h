// Domain events (key.created, key.updated, key.deleted, ...): how one part of tollgate — or one
// node of many — learns of a change made elsewhere. The stores write them into the outbox with the
// change (events/outbox_store.h); the OutboxRelay publishes them here. The in-process bus is the
// embedded default; RabbitMQ (events/amqp) carries them between nodes.
#pragma once

#include <functional>
#include <span>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

struct Event {
  std::string id;           // "evt_…": consumers are idempotent by this id
  std::string type;         // routing key, e.g. "key.updated"
  std::string payload_json; // JSON object text; never contains a secret
  UnixMillis at = 0;
  std::string origin;       // the node whose change caused it ("" when unknown)
};

class EventBus {
 public:
  using Handler = std::function<void(const Event&)>;
  virtual ~EventBus() = default;

  // Hands the event to the bus: in-process, runs the matching handlers before returning.
  virtual void Publish(const Event& event) = 0;

  // Publishes a batch and returns success once the bus has every event (RabbitMQ: the broker
  // confirmed each one). On failure some may have gone out already: the caller (the outbox
  // relay) retries the whole batch, and consumers drop repeats by event id.
  virtual Status PublishBatch(std::span<const Event> events) {
    for (const auto& event : events) Publish(event);
    return {};
  }

  // Calls handler for every event whose type matches pattern: an exact type, "prefix.*", or "#"
  // for all. Handlers must not throw and must be cheap; they run on the bus's delivery thread.
  virtual void Subscribe(const std::string& pattern, Handler handler) = 0;
};
using EventBusPtr = std::unique_ptr<EventBus>;

// The string field `name` of the event's JSON payload; InvalidInput when it is missing or the
// payload is not a JSON object.
Result<std::string> EventPayloadField(const Event& event, const char* name);

// True if an event type matches a subscription pattern (see EventBus::Subscribe).
bool EventTypeMatches(const std::string& pattern, const std::string& type);

}  // namespace tollgate
