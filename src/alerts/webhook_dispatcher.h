// Delivers webhook payloads: a thread of its own takes due deliveries from the store, signs and
// POSTs each, and records the outcome. Deliveries live in the store (written with the alert that
// caused them), so none is lost across a restart, and a claim with a lease lets one node of many
// send each one.
//
// At least once, with an idempotency id: a 2xx marks the delivery delivered; anything else
// (another status, no connection, a timeout) is retried with exponential backoff (RetryPolicy)
// until max_attempts, then the delivery fails for good. A receiver can see one event twice (its
// 2xx was lost, or a node lost its claim while sending), always with the same Tollgate-Event-Id,
// and deduplicates by it.
//
// Request: POST <url>, the stored JSON body, and the headers Content-Type: application/json,
// User-Agent: tollgate/<version>, Tollgate-Event-Id, Tollgate-Event-Type and Tollgate-Signature
// (alerts/webhook_signature.h), signed afresh at each attempt.
//
// Claims: a batch is claimed for batch x attempt_budget, so that other nodes leave it alone, and
// each delivery's claim is renewed for one attempt_budget just before its attempt. So an attempt
// keeps its claim even when the ones before it took longer than planned, and a delivery whose
// claim lapsed meanwhile and was taken over by another node is left to that node, not sent twice.
//
// Threads: Start() runs the loop on the dispatcher's own thread; Wake() and Stop() may be called
// from any thread. Deliveries are sent one at a time: a receiver that hangs holds the others up
// by at most the sender's timeouts per attempt. Stop() cuts off the attempt under way; it is not
// counted, and its delivery is due again at once (at the next start, or on another node), unless
// the receiver had already answered.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "alerts/alert_store.h"
#include "alerts/retry_policy.h"
#include "alerts/webhook_sender.h"
#include "common/clock.h"
#include "common/result.h"

namespace tollgate {

struct WebhookDispatcherOptions {
  std::string node;  // the claim's owner: this node's name
  RetryPolicy retry;
  std::chrono::milliseconds poll_interval{500};  // how often the store is asked for due deliveries
  std::size_t batch = 8;                          // deliveries claimed at a time
  // The longest one attempt can take (HttpWebhookSender: three 5 s phases, name lookup, connect
  // and exchange, and some slack): each attempt's claim is renewed for this long, and a batch is
  // claimed for batch x this.
  std::chrono::milliseconds attempt_budget{20'000};
};

// Monotonic since start (tollgate_webhook_deliveries_total{result}).
struct WebhookDeliveryCounters {
  std::uint64_t delivered = 0;  // attempts answered with a 2xx
  std::uint64_t retried = 0;    // failed attempts that will be tried again
  std::uint64_t failed = 0;     // failed attempts after which the delivery gave up
};

class WebhookDispatcher {
 public:
  // `random` draws the retry jitter from [0, 1) (tests pass a constant).
  WebhookDispatcher(AlertStore& store, WebhookSender& sender, Clock& clock, WebhookDispatcherOptions options,
                    std::function<double()> random = {});
  ~WebhookDispatcher() { Stop(); }
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  void Start();
  void Stop();
  // New deliveries were written: look now rather than at the next poll.
  void Wake();

  // One pass on the calling thread: claims up to `batch` due deliveries and attempts each.
  // Returns how many it claimed.
  Result<std::size_t> RunOnce();

  WebhookDeliveryCounters Counters() const;

 private:
  void Loop();
  // Attempts one claimed delivery and records the outcome.
  Status Attempt(const WebhookDelivery& delivery, const Webhook* webhook);

  AlertStore& store_;
  WebhookSender& sender_;
  Clock& clock_;
  const WebhookDispatcherOptions options_;
  std::function<double()> random_;  // dispatcher thread (or RunOnce's caller) only

  std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;

  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> retried_{0};
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace tollgate
