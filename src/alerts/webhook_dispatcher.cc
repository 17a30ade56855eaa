#include "alerts/webhook_dispatcher.h"

#include <map>
#include <random>
#include <utility>

#include <spdlog/spdlog.h>

#include "alerts/webhook_signature.h"

namespace tollgate {
namespace {

// TOLLGATE_VERSION is the project's version, defined by src/alerts/CMakeLists.txt.
constexpr const char* kUserAgent = "tollgate/" TOLLGATE_VERSION;

std::function<double()> DefaultRandom() {
  return [engine = std::mt19937_64(std::random_device{}()), unit = std::uniform_real_distribution<double>(0.0, 1.0)]() mutable {
    return unit(engine);
  };
}

}  // namespace

WebhookDispatcher::WebhookDispatcher(AlertStore& store, WebhookSender& sender, Clock& clock,
                                     WebhookDispatcherOptions options, std::function<double()> random)
    : store_(store), sender_(sender), clock_(clock), options_(std::move(options)),
      random_(random ? std::move(random) : DefaultRandom()) {}

void WebhookDispatcher::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void WebhookDispatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  sender_.Cancel();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookDispatcher::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

WebhookDeliveryCounters WebhookDispatcher::Counters() const {
  return {delivered_.load(std::memory_order_relaxed), retried_.load(std::memory_order_relaxed),
          failed_.load(std::memory_order_relaxed)};
}

void WebhookDispatcher::Loop() {
  bool failing = false;  // logged once per outage of the store
  while (true) {
    auto claimed = RunOnce();
    if (!claimed && !failing) spdlog::warn("webhooks: cannot read due deliveries: {}", claimed.error().detail);
    if (claimed && failing) spdlog::info("webhooks: reading due deliveries again");
    failing = !claimed;
    std::unique_lock lock(mu_);
    if (stopping_) return;
    // A full batch means more may be due: go on at once.
    if (claimed && *claimed >= options_.batch) continue;
    wake_.wait_for(lock, options_.poll_interval, [this] { return woken_ || stopping_; });
    if (stopping_) return;
    woken_ = false;
  }
}

Result<std::size_t> WebhookDispatcher::RunOnce() {
  const std::int64_t lease_ms = static_cast<std::int64_t>(options_.batch) * options_.attempt_budget.count();
  auto due = store_.ClaimDueDeliveries(options_.node, options_.batch, clock_.NowMillis(), lease_ms);
  if (!due) return Fail(std::move(due.error()));
  if (due->empty()) return std::size_t{0};
  auto webhooks = store_.ListWebhooks();
  if (!webhooks) return Fail(std::move(webhooks.error()));  // the claims lapse; tried again after the lease
  std::map<std::string, const Webhook*, std::less<>> by_id;
  for (const Webhook& webhook : *webhooks) by_id.emplace(webhook.id, &webhook);
  for (const WebhookDelivery& delivery : *due) {
    const UnixMillis until = clock_.NowMillis() + options_.attempt_budget.count();
    auto renewed = store_.RenewDeliveryClaim(options_.node, delivery.id, until);
    if (!renewed) {
      spdlog::warn("webhooks: the claim on delivery {} was not renewed: {}", delivery.id, renewed.error().detail);
      continue;  // not attempted: due again once the claim lapses
    }
    if (!*renewed) {
      spdlog::debug("webhooks: delivery {} was taken over by another node while waiting its turn", delivery.id);
      continue;
    }
    const auto it = by_id.find(delivery.webhook_id);
    if (auto recorded = Attempt(delivery, it == by_id.end() ? nullptr : it->second); !recorded) {
      spdlog::warn("webhooks: the outcome of delivery {} was not recorded: {}", delivery.id, recorded.error().detail);
    }
  }
  return due->size();
}

Status WebhookDispatcher::Attempt(const WebhookDelivery& delivery, const Webhook* webhook) {
  DeliveryAttempt attempt;
  attempt.delivery_id = delivery.id;
  attempt.attempts = delivery.attempts + 1;
  std::optional<WebhookUrl> url;
  if (webhook != nullptr) {
    auto parsed = ParseWebhookUrl(webhook->url);
    if (parsed) url = std::move(*parsed);
  }
  if (!url) {
    // Deleted meanwhile (its pending deliveries fail with it), or a URL no longer valid.
    attempt.status = DeliveryStatus::kFailed;
    attempt.attempts = delivery.attempts;
    attempt.error = webhook == nullptr ? "webhook deleted" : "the webhook's URL is not valid";
    failed_.fetch_add(1, std::memory_order_relaxed);
    return store_.RecordDeliveryAttempt(options_.node, attempt);
  }
  const UnixMillis started = clock_.NowMillis();
  const HeaderList headers = {
      {"Content-Type", "application/json"},
      {"User-Agent", kUserAgent},
      {"Tollgate-Event-Id", delivery.event_id},
      {"Tollgate-Event-Type", delivery.event_type},
      {"Tollgate-Signature", WebhookSignature(webhook->secret, started / 1000, delivery.payload)},
  };
  const SendResult sent = sender_.Post(*url, headers, delivery.payload);
  const UnixMillis now = clock_.NowMillis();
  attempt.status_code = sent.status;
  if (sent.cancelled) {
    // Shutdown: not an attempt. Due again at once, for whoever takes it next.
    attempt.attempts = delivery.attempts;
    attempt.status_code = delivery.last_status_code;
    attempt.error = delivery.last_error;
    attempt.next_attempt_at = now;
  } else if (sent.ok()) {
    attempt.status = DeliveryStatus::kDelivered;
    attempt.delivered_at = now;
    delivered_.fetch_add(1, std::memory_order_relaxed);
  } else if (attempt.attempts >= options_.retry.max_attempts) {
    attempt.status = DeliveryStatus::kFailed;
    attempt.error = sent.error;
    failed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("webhooks: delivery {} to webhook {} failed for good after {} attempts: {}", delivery.id,
                 delivery.webhook_id, attempt.attempts, sent.error);
  } else {
    attempt.error = sent.error;
    attempt.next_attempt_at = now + RetryDelayMs(options_.retry, attempt.attempts, random_());
    retried_.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("webhooks: delivery {} to webhook {}, attempt {}: {}", delivery.id, delivery.webhook_id,
                  attempt.attempts, sent.error);
  }
  return store_.RecordDeliveryAttempt(options_.node, attempt);
}

}  // namespace tollgate
