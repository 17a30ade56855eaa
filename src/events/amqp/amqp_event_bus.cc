#include "events/amqp/amqp_event_bus.h"

#include <algorithm>
#include <optional>
#include <string_view>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/text.h"

namespace tollgate {
namespace {

constexpr amqp_channel_t kChannel = 1;
constexpr const char* kExchange = "tollgate.events";
constexpr const char* kDeadLetterExchange = "tollgate.events.dlx";
constexpr const char* kParkedQueue = "tollgate.events.parked";
constexpr std::int64_t kNodeQueueExpiresMs = 24 * 3'600'000LL;

amqp_bytes_t Bytes(std::string_view text) { return {text.size(), const_cast<char*>(text.data())}; }
std::string Text(amqp_bytes_t bytes) { return {static_cast<const char*>(bytes.bytes), bytes.len}; }

timeval ToTimeval(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

// What went wrong in a synchronous AMQP call, in words.
std::string Describe(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "ok";
    case AMQP_RESPONSE_NONE: return "missing reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return "connection closed by the broker: " + Text(close->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return "channel closed by the broker: " + Text(close->reply_text);
      }
      return "broker error";
  }
  return "unknown error";
}

Error Unavailable(std::string_view what, std::string_view detail) {
  return Error::Unavailable("rabbitmq: " + std::string(what) + ": " + std::string(detail));
}

// A message is a tollgate event when it has an id, a type and a JSON object for a body.
std::optional<Event> ToEvent(const amqp_envelope_t& envelope) {
  const amqp_basic_properties_t& props = envelope.message.properties;
  if ((props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) == 0 || (props._flags & AMQP_BASIC_TYPE_FLAG) == 0) return std::nullopt;
  Event event;
  event.id = Text(props.message_id);
  event.type = Text(props.type);
  event.payload_json = Text(envelope.message.body);
  if (event.id.empty() || event.type.empty()) return std::nullopt;
  if (!nlohmann::json::parse(event.payload_json, nullptr, false).is_object()) return std::nullopt;
  if ((props._flags & AMQP_BASIC_APP_ID_FLAG) != 0) event.origin = Text(props.app_id);
  if ((props._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
    for (int i = 0; i < props.headers.num_entries; ++i) {
      const auto& entry = props.headers.entries[i];
      if (Text(entry.key) == "at" && entry.value.kind == AMQP_FIELD_KIND_I64) event.at = entry.value.value.i64;
    }
  }
  return event;
}

}  // namespace

// One AMQP connection with channel 1 open. Not thread-safe: one owner thread at a time.
class AmqpEventBus::Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& url, int heartbeat_seconds) {
    std::string buffer = url;  // amqp_parse_url writes into its argument
    amqp_connection_info info{};
    amqp_default_connection_info(&info);
    if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
      return Fail(Error::InvalidInput("--events '" + RedactUrlPassword(url) +
                                      "' is not an AMQP URL; use amqp://user:password@host:5672/vhost"));
    }
    // "amqp://host:5672/" leaves an empty vhost, which RabbitMQ refuses; people mean the default.
    static char kDefaultVhost[] = "/";
    if (info.vhost == nullptr || *info.vhost == '\0') info.vhost = kDefaultVhost;
    if (info.ssl) return Fail(Error::InvalidInput("--events: amqps:// is not supported; reach the broker through a local TLS tunnel (e.g. stunnel) with amqp://"));
    std::unique_ptr<Connection> connection(new Connection(amqp_new_connection()));
    amqp_socket_t* socket = amqp_tcp_socket_new(connection->state_);
    if (socket == nullptr) return Fail(Unavailable("connecting", "cannot create a socket"));
    timeval timeout = ToTimeval(std::chrono::seconds(2));
    if (int rc = amqp_socket_open_noblock(socket, info.host, info.port, &timeout); rc != AMQP_STATUS_OK) {
      return Fail(Unavailable("connecting to " + std::string(info.host) + ":" + std::to_string(info.port),
                              amqp_error_string2(rc)));
    }
    amqp_set_handshake_timeout(connection->state_, &timeout);
    amqp_set_rpc_timeout(connection->state_, &timeout);
    auto login = amqp_login(connection->state_, info.vhost, 0, 131072, heartbeat_seconds, AMQP_SASL_METHOD_PLAIN,
                            info.user, info.password);
    if (login.reply_type != AMQP_RESPONSE_NORMAL) return Fail(Unavailable("logging in", Describe(login)));
    amqp_channel_open(connection->state_, kChannel);
    if (auto status = connection->Check("opening a channel"); !status) return Fail(status.error());
    if (auto status = connection->DeclareTopology(); !status) return Fail(status.error());
    return connection;
  }

  ~Connection() {
    amqp_channel_close(state_, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  amqp_connection_state_t state() const { return state_; }

  // Declares a node's queue: durable, dead-lettering to the dlx, deleted after a day unused.
  Status DeclareNodeQueue(const std::string& queue) {
    amqp_table_entry_t args[2];
    args[0].key = Bytes("x-dead-letter-exchange");
    args[0].value.kind = AMQP_FIELD_KIND_UTF8;
    args[0].value.value.bytes = Bytes(kDeadLetterExchange);
    args[1].key = Bytes("x-expires");
    args[1].value.kind = AMQP_FIELD_KIND_I64;
    args[1].value.value.i64 = kNodeQueueExpiresMs;
    amqp_queue_declare(state_, kChannel, Bytes(queue), 0, 1, 0, 0, amqp_table_t{2, args});
    return Check("declaring the queue " + queue);
  }

  Status Bind(const std::string& queue, const std::string& pattern) {
    amqp_queue_bind(state_, kChannel, Bytes(queue), Bytes(kExchange), Bytes(pattern), amqp_empty_table);
    return Check("binding " + queue + " to " + pattern);
  }

  // The reply of the last synchronous call as a Status.
  Status Check(std::string_view what) {
    const auto reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return {};
    return Fail(Unavailable(what, Describe(reply)));
  }

 private:
  explicit Connection(amqp_connection_state_t state) : state_(state) {}

  Status DeclareTopology() {
    amqp_exchange_declare(state_, kChannel, Bytes(kExchange), Bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
    if (auto status = Check("declaring the exchange tollgate.events"); !status) return status;
    amqp_exchange_declare(state_, kChannel, Bytes(kDeadLetterExchange), Bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
    if (auto status = Check("declaring the exchange tollgate.events.dlx"); !status) return status;
    amqp_queue_declare(state_, kChannel, Bytes(kParkedQueue), 0, 1, 0, 0, amqp_empty_table);
    if (auto status = Check("declaring the queue tollgate.events.parked"); !status) return status;
    amqp_queue_bind(state_, kChannel, Bytes(kParkedQueue), Bytes(kDeadLetterExchange), Bytes(""), amqp_empty_table);
    return Check("binding the parked queue");
  }

  amqp_connection_state_t state_;
};

Result<std::unique_ptr<AmqpEventBus>> AmqpEventBus::Connect(AmqpOptions options) {
  if (options.node.empty()) return Fail(Error::InvalidInput("the AMQP event bus needs a node name"));
  std::unique_ptr<AmqpEventBus> bus(new AmqpEventBus(std::move(options)));
  std::lock_guard lock(bus->publisher_mu_);
  if (auto connected = bus->EnsurePublisher(); !connected) return Fail(connected.error());
  return bus;
}

AmqpEventBus::AmqpEventBus(AmqpOptions options) : options_(std::move(options)) {}

AmqpEventBus::~AmqpEventBus() {
  stopping_ = true;
  if (consumer_.joinable()) consumer_.join();
}

Status AmqpEventBus::EnsurePublisher() {
  if (publisher_) return {};
  // No heartbeats: the publisher may sit idle for hours, and librabbitmq answers heartbeats only
  // inside calls. A connection the broker dropped meanwhile fails the next publish, which
  // reconnects and tries once more.
  auto opened = Connection::Open(options_.url, 0);
  if (!opened) return Fail(opened.error());
  amqp_confirm_select((*opened)->state(), kChannel);
  if (auto status = (*opened)->Check("enabling publisher confirms"); !status) return status;
  publisher_ = std::move(*opened);
  next_tag_ = 1;  // a fresh channel counts delivery tags from 1
  publisher_up_ = true;
  return {};
}

Status AmqpEventBus::PublishBatch(std::span<const Event> events) {
  if (events.empty()) return {};
  std::lock_guard lock(publisher_mu_);
  auto published = PublishOnce(events);
  if (published || published.error().code != ErrorCode::kUnavailable) return published;
  // The connection may have died while idle: one fresh connection, one more try.
  publisher_.reset();
  publisher_up_ = false;
  published = PublishOnce(events);
  if (!published) {
    publisher_.reset();
    publisher_up_ = false;
  }
  return published;
}

Status AmqpEventBus::PublishOnce(std::span<const Event> events) {
  if (auto connected = EnsurePublisher(); !connected) return connected;
  amqp_connection_state_t state = publisher_->state();
  // Delivery tags count from 1 per channel and continue from one batch to the next.
  const std::uint64_t first_tag = next_tag_;
  for (const Event& event : events) {
    amqp_table_entry_t at{};
    at.key = Bytes("at");
    at.value.kind = AMQP_FIELD_KIND_I64;
    at.value.value.i64 = event.at;
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                   AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_APP_ID_FLAG;
    props.content_type = Bytes("application/json");
    props.delivery_mode = 2;  // persistent
    props.message_id = Bytes(event.id);
    props.type = Bytes(event.type);
    props.timestamp = static_cast<std::uint64_t>(event.at / 1000);
    props.app_id = Bytes(event.origin);
    props.headers.num_entries = 1;
    props.headers.entries = &at;
    const int rc = amqp_basic_publish(state, kChannel, Bytes(kExchange), Bytes(event.type), /*mandatory=*/1,
                                      /*immediate=*/0, &props, Bytes(event.payload_json));
    if (rc != AMQP_STATUS_OK) return Fail(Unavailable("publishing " + event.type, amqp_error_string2(rc)));
    ++next_tag_;
  }
  const std::uint64_t last_tag = next_tag_ - 1;

  // Wait until the broker confirmed every tag of this batch.
  std::uint64_t confirmed_through = first_tag - 1;
  const auto deadline = std::chrono::steady_clock::now() + options_.confirm_timeout;
  while (confirmed_through < last_tag) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Fail(Unavailable("publishing", "no confirm from the broker in time"));
    timeval timeout = ToTimeval(left);
    amqp_frame_t frame{};
    const int rc = amqp_simple_wait_frame_noblock(state, &frame, &timeout);
    if (rc == AMQP_STATUS_TIMEOUT) continue;
    if (rc != AMQP_STATUS_OK) return Fail(Unavailable("waiting for confirms", amqp_error_string2(rc)));
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        // `multiple` acks every tag up to this one; otherwise tags are acked in order in practice,
        // and counting the highest one seen is what the broker's guarantee allows.
        confirmed_through = std::max<std::uint64_t>(confirmed_through, ack->delivery_tag);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
        counters_.nacked.fetch_add(1, std::memory_order_relaxed);
        return Fail(Unavailable("publishing", "the broker refused message " + std::to_string(nack->delivery_tag) +
                                                  " (nack); the batch is sent again"));
      }
      case AMQP_BASIC_RETURN_METHOD: {
        // Unroutable (no queue bound to its type): the message's header and body follow.
        amqp_message_t message{};
        const auto read = amqp_read_message(state, kChannel, &message, 0);
        if (read.reply_type != AMQP_RESPONSE_NORMAL) return Fail(Unavailable("reading a returned message", Describe(read)));
        amqp_destroy_message(&message);
        counters_.returned.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD:
        return Fail(Unavailable("publishing", "the broker closed the connection"));
      default:
        break;
    }
  }
  counters_.acked.fetch_add(events.size(), std::memory_order_relaxed);
  return {};
}

void AmqpEventBus::Publish(const Event& event) {
  if (auto published = PublishBatch(std::span<const Event>(&event, 1)); !published) {
    spdlog::warn("events: publishing {} failed: {}", event.type, published.error().detail);
  }
}

void AmqpEventBus::Subscribe(const std::string& pattern, Handler handler) {
  BindNow(pattern);
  std::lock_guard lock(subscribers_mu_);
  subscribers_.emplace_back(pattern, std::move(handler));
  if (!consumer_.joinable()) {
    consumer_up_ = publisher_up_.load();  // until the consumer's first connect says otherwise
    consumer_started_ = true;
    consumer_ = std::thread([this] { Consume(); });
  }
}

std::string AmqpEventBus::NodeQueue() const { return "tollgate.node." + options_.node; }

void AmqpEventBus::BindNow(const std::string& pattern) {
  std::lock_guard lock(publisher_mu_);
  Status bound = EnsurePublisher();
  if (bound) bound = publisher_->DeclareNodeQueue(NodeQueue());
  if (bound) bound = publisher_->Bind(NodeQueue(), pattern);
  if (bound) return;
  publisher_.reset();  // a failed declaration closes the channel; the next publish reconnects
  publisher_up_ = false;
  spdlog::warn("events: binding {} to {} failed, the consumer binds it when it connects: {}", NodeQueue(), pattern,
               bound.error().detail);
}

void AmqpEventBus::Deliver(const Event& event) {
  std::vector<Handler> matching;
  {
    std::lock_guard lock(subscribers_mu_);
    for (const auto& [pattern, handler] : subscribers_)
      if (EventTypeMatches(pattern, event.type)) matching.push_back(handler);
  }
  for (const auto& handler : matching) handler(event);
}

void AmqpEventBus::Consume() {
  const std::string queue = NodeQueue();
  bool failing = false;
  while (!stopping_) {
    auto opened = Connection::Open(options_.url, 30);
    Status status = opened ? Status{} : Status(Fail(opened.error()));
    std::size_t bound = 0;
    if (status) {
      amqp_connection_state_t state = (*opened)->state();
      status = (*opened)->DeclareNodeQueue(queue);
      if (status) {
        amqp_basic_qos(state, kChannel, 0, 100, 0);
        status = (*opened)->Check("setting the prefetch");
      }
      if (status) {
        amqp_basic_consume(state, kChannel, Bytes(queue), amqp_empty_bytes, 0, /*no_ack=*/0, 0, amqp_empty_table);
        status = (*opened)->Check("consuming " + queue);
      }
      if (status && failing) spdlog::info("events: consuming {} again", queue);
      if (status) failing = false;
      consumer_up_ = static_cast<bool>(status);
      while (status && !stopping_) {
        // Patterns subscribed since the last round get their bindings now.
        std::vector<std::string> patterns;
        {
          std::lock_guard lock(subscribers_mu_);
          for (std::size_t i = bound; i < subscribers_.size(); ++i) patterns.push_back(subscribers_[i].first);
          bound = subscribers_.size();
        }
        for (const auto& pattern : patterns) {
          status = (*opened)->Bind(queue, pattern);
          if (!status) break;
        }
        if (!status) break;
        amqp_maybe_release_buffers(state);
        amqp_envelope_t envelope{};
        timeval timeout = ToTimeval(std::chrono::milliseconds(200));
        const auto reply = amqp_consume_message(state, &envelope, &timeout, 0);
        if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) continue;
        if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
          status = Fail(Unavailable("consuming " + queue, Describe(reply)));
          break;
        }
        counters_.consumed.fetch_add(1, std::memory_order_relaxed);
        if (auto event = ToEvent(envelope)) {
          Deliver(*event);
          amqp_basic_ack(state, kChannel, envelope.delivery_tag, 0);
        } else {
          counters_.parked.fetch_add(1, std::memory_order_relaxed);
          spdlog::warn("events: parked a message that is not a tollgate event (routing key '{}') in {}",
                       Text(envelope.routing_key), kParkedQueue);
          amqp_basic_reject(state, kChannel, envelope.delivery_tag, /*requeue=*/0);
        }
        amqp_destroy_envelope(&envelope);
      }
    }
    if (stopping_) break;
    if (!failing) spdlog::warn("events: consumer down, reconnecting every {} ms: {}", options_.reconnect_interval.count(),
                               status ? std::string("stopped") : status.error().detail);
    failing = true;
    consumer_up_ = false;
    opened = Fail(Error::Unavailable("closed"));  // closes the connection before waiting
    for (auto waited = std::chrono::milliseconds(0); waited < options_.reconnect_interval && !stopping_;
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace tollgate
