// The event bus between nodes: RabbitMQ over librabbitmq (--events amqp://user:pass@host:port/vhost).
//
// Topology (declared by every node at connect, idempotently):
//   exchange tollgate.events        topic, durable: every event, routing key = its type
//   exchange tollgate.events.dlx    fanout, durable: where a node parks messages it cannot read
//   queue    tollgate.events.parked durable, bound to the dlx: poison messages, for a person
//   queue    tollgate.node.<node>   durable, one per node, bound to the patterns subscribed;
//                                   dead-letters to the dlx; deleted after a day unused
//
// Publishing (PublishBatch, called by the OutboxRelay's thread only): persistent messages
// (delivery mode 2) with message_id = event id, type = event type, app_id = origin and header
// "at" (ms), published `mandatory` on a channel in confirm mode. Returns success once the broker
// acked every message (acks may cover several delivery tags with `multiple`); a nack, a timeout
// or a broken connection fails the batch, and the relay publishes it again. A message no queue
// takes (no node bound to its type) comes back as basic.return before its ack: counted, not an
// error — the other nodes catch up through the outbox anyway.
//
// Consuming (Subscribe): one thread with its own connection consumes the node's queue with
// manual acks (prefetch 100). A message that is not a tollgate event (no message id or type, a
// body that is not a JSON object) is rejected without requeue, so it lands in the parked queue;
// every other message is handed to the subscribers, then acked. Duplicates are dropped above
// this layer, by event id (events/event_inbox.h).
//
// Both connections reconnect by themselves when the broker goes away, the consumer every
// second, the publisher at its next batch; neither ever blocks a request: only the relay and the
// consumer threads talk to the broker (and Subscribe, at start, binds on the publisher's).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"
#include "events/event_bus.h"

namespace tollgate {

struct AmqpOptions {
  std::string url;   // amqp://user:password@host:port/vhost
  std::string node;  // names this node's queue: tollgate.node.<node>
  std::chrono::milliseconds confirm_timeout{5000};
  std::chrono::milliseconds reconnect_interval{1000};
};

struct AmqpCounters {
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> nacked{0};
  std::atomic<std::uint64_t> returned{0};
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<std::uint64_t> parked{0};
};

class AmqpEventBus final : public EventBus {
 public:
  // Checks the URL and connects the publisher once, so a wrong URL or an unreachable broker is
  // reported at start; later outages are ridden out.
  static Result<std::unique_ptr<AmqpEventBus>> Connect(AmqpOptions options);
  ~AmqpEventBus() override;

  // Publishes one event with confirms; a failure is logged (the outbox path uses PublishBatch).
  void Publish(const Event& event) override;
  Status PublishBatch(std::span<const Event> events) override;
  // Binds the node's queue to `pattern` ("#", "key.*" or an exact type) before it returns, so
  // that every event published from then on is queued for this node even while its consumer is
  // still connecting, and starts the consumer thread on the first call.
  void Subscribe(const std::string& pattern, Handler handler) override;

  // Answers whether the broker is reachable (for /readyz): the consumer's connection once it runs
  // (it reconnects every second by itself, so its state is current), else the publisher's.
  bool Connected() const {
    return consumer_started_.load(std::memory_order_relaxed) ? consumer_up_.load(std::memory_order_relaxed)
                                                             : publisher_up_.load(std::memory_order_relaxed);
  }
  const AmqpCounters& counters() const { return counters_; }

 private:
  class Connection;
  explicit AmqpEventBus(AmqpOptions options);

  Status EnsurePublisher();  // publisher_mu_ held
  Status PublishOnce(std::span<const Event> events);  // publisher_mu_ held
  // Declares the node's queue and binds it to `pattern` on the publisher's connection (the
  // consumer does it again at every connect, so a failure here is only logged).
  void BindNow(const std::string& pattern);
  std::string NodeQueue() const;  // tollgate.node.<node>
  void Consume();
  void Deliver(const Event& event);

  const AmqpOptions options_;
  AmqpCounters counters_;

  std::mutex publisher_mu_;
  std::unique_ptr<Connection> publisher_;  // guarded by publisher_mu_
  std::uint64_t next_tag_ = 1;             // the next publish's delivery tag; guarded by publisher_mu_
  std::atomic<bool> publisher_up_{false};
  std::atomic<bool> consumer_started_{false};
  std::atomic<bool> consumer_up_{false};

  std::mutex subscribers_mu_;
  std::vector<std::pair<std::string, Handler>> subscribers_;  // guarded by subscribers_mu_
  std::atomic<bool> stopping_{false};
  std::thread consumer_;
};

}  // namespace tollgate
