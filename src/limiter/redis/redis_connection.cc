#include <utility>  // before Boost, see DESIGN.md

#include "limiter/redis/redis_connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

namespace tollgate {

namespace asio = boost::asio;

// hiredis calls add/del Read/Write to say what it waits for. Each add arms one Asio wait; when
// the socket is ready the wait calls hiredis, which re-adds what it still wants (hiredis' own
// libevent adapter works the same way, with one-shot events). hiredis closes the socket itself,
// so `cleanup` releases it from Asio without closing it. Pending waits hold a shared_ptr, so a
// wait that completes after the context is gone finds `context` null and does nothing.
struct RedisConnection::Watcher : std::enable_shared_from_this<Watcher> {
  Watcher(asio::io_context& loop, redisAsyncContext* c) : context(c), socket(loop, c->c.fd) {}

  redisAsyncContext* context;
  asio::posix::stream_descriptor socket;
  bool want_read = false, want_write = false;
  bool read_armed = false, write_armed = false;
  bool write_posted = false, writing = false;

  void Arm(bool reading) {
    bool& armed = reading ? read_armed : write_armed;
    if (armed || !context) return;
    armed = true;
    socket.async_wait(reading ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write,
                      [self = shared_from_this(), reading](const boost::system::error_code& ec) {
                        (reading ? self->read_armed : self->write_armed) = false;
                        bool& want = reading ? self->want_read : self->want_write;
                        if (ec || !self->context || !want) return;
                        want = false;
                        if (reading) {
                          redisAsyncHandleRead(self->context);
                        } else {
                          redisAsyncHandleWrite(self->context);
                        }
                      });
  }

  static Watcher& Of(void* data) { return *static_cast<Watcher*>(data); }
  static void AddRead(void* data) { Of(data).want_read = true; Of(data).Arm(true); }
  static void DelRead(void* data) { Of(data).want_read = false; }
  // A connected socket is nearly always writable, and waiting for writability first costs a turn
  // of the reactor (measured: ~270 us per command at one request in flight). So the first write
  // of a command is attempted right away, from a posted handler (hiredis must not be re-entered
  // from inside its own call); only if hiredis still has bytes left after it does an Asio wait.
  static void AddWrite(void* data) {
    Watcher& w = Of(data);
    w.want_write = true;
    const bool connected = w.context != nullptr && (w.context->c.flags & REDIS_CONNECTED) != 0;
    if (!connected || w.writing || w.write_posted) {
      w.Arm(false);
      return;
    }
    w.write_posted = true;
    asio::post(w.socket.get_executor(), [self = w.shared_from_this()] {
      self->write_posted = false;
      if (!self->context || !self->want_write) return;
      self->want_write = false;
      self->writing = true;  // an addWrite from inside this call means "still more": wait for real
      redisAsyncHandleWrite(self->context);
      self->writing = false;
    });
  }
  static void DelWrite(void* data) { Of(data).want_write = false; }
  static void Cleanup(void* data) {
    Watcher& w = Of(data);
    w.context = nullptr;
    boost::system::error_code ec;
    w.socket.cancel(ec);
    w.socket.release();  // hiredis closes the descriptor
  }
};

RedisConnection::RedisConnection(asio::io_context& loop, std::string ip, int port, std::string script,
                                 std::chrono::milliseconds reconnect_delay)
    : loop_(loop),
      ip_(std::move(ip)),
      port_(port),
      address_(ip_ + ":" + std::to_string(port)),
      script_(std::move(script)),
      reconnect_delay_(reconnect_delay),
      reconnect_timer_(loop) {
  Connect();
}

RedisConnection::~RedisConnection() {
  closing_ = true;
  reconnect_timer_.cancel();
  if (redisAsyncContext* c = std::exchange(context_, nullptr)) redisAsyncFree(c);
}

void RedisConnection::Connect() {
  if (closing_) return;
  redisAsyncContext* c = redisAsyncConnect(ip_.c_str(), port_);
  if (c == nullptr || c->err) {
    if (!logged_down_) spdlog::warn("redis {}: cannot connect: {}", address_, c ? c->errstr : "out of memory");
    logged_down_ = true;
    if (c) redisAsyncFree(c);
    ScheduleReconnect();
    return;
  }
  context_ = c;
  connected_ = false;
  c->data = this;
  watcher_ = std::make_shared<Watcher>(loop_, c);
  c->ev.data = watcher_.get();
  c->ev.addRead = &Watcher::AddRead;
  c->ev.delRead = &Watcher::DelRead;
  c->ev.addWrite = &Watcher::AddWrite;
  c->ev.delWrite = &Watcher::DelWrite;
  c->ev.cleanup = &Watcher::Cleanup;
  redisAsyncSetConnectCallback(c, &RedisConnection::ConnectCallback);
  redisAsyncSetDisconnectCallback(c, &RedisConnection::DisconnectCallback);
  Watcher::AddRead(c->ev.data);
  Watcher::AddWrite(c->ev.data);
  LoadScript();  // queued before anything else, so it runs first on this connection
}

void RedisConnection::LoadScript() {
  if (script_.empty() || context_ == nullptr) return;
  const std::string_view argv[] = {"SCRIPT", "LOAD", script_};
  Send({std::begin(argv), std::end(argv)}, [address = address_](const redisReply* reply) {
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
      spdlog::error("redis {}: cannot load the limiter script: {}", address, std::string_view(reply->str, reply->len));
    }
  });
}

void RedisConnection::Poll() {
  if (context_ != nullptr && connected_) redisAsyncHandleRead(context_);
}

void RedisConnection::ScheduleReconnect() {
  if (closing_) return;
  reconnect_timer_.expires_after(reconnect_delay_);
  reconnect_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (!ec && !alive.expired() && !context_) Connect();
  });
}

void RedisConnection::ConnectCallback(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || self->context_ != context) return;
  if (status == REDIS_OK) {
    self->connected_ = true;
    if (self->logged_down_) spdlog::info("redis {}: connected again", self->address_);
    self->logged_down_ = false;
    return;
  }
  // hiredis frees a context whose connect failed, without a disconnect callback.
  if (!self->logged_down_) spdlog::warn("redis {}: cannot connect: {}", self->address_, context->errstr);
  self->logged_down_ = true;
  self->OnDisconnected();
}

void RedisConnection::DisconnectCallback(const redisAsyncContext* context, int /*status*/) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || self->context_ != context) return;
  if (!self->logged_down_ && !self->closing_) {
    spdlog::warn("redis {}: connection lost: {}", self->address_, context->err ? context->errstr : "closed");
  }
  self->logged_down_ = true;
  self->OnDisconnected();
}

void RedisConnection::OnDisconnected() {
  context_ = nullptr;
  connected_ = false;
  ScheduleReconnect();
}

void RedisConnection::Reset() {
  redisAsyncContext* c = std::exchange(context_, nullptr);
  connected_ = false;
  if (c == nullptr) return;
  if (!logged_down_) spdlog::warn("redis {}: not answering; reconnecting", address_);
  logged_down_ = true;
  c->data = nullptr;  // its callbacks no longer concern this object
  redisAsyncFree(c);
  ScheduleReconnect();
}

void RedisConnection::ReplyCallback(redisAsyncContext* /*context*/, void* reply, void* privdata) {
  std::unique_ptr<ReplyHandler> handler(static_cast<ReplyHandler*>(privdata));
  if (handler && *handler) (*handler)(static_cast<const redisReply*>(reply));
}

bool RedisConnection::Send(const std::vector<std::string_view>& argv, ReplyHandler reply) {
  if (closing_ || context_ == nullptr) return false;
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  pointers.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const std::string_view arg : argv) {
    pointers.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto handler = std::make_unique<ReplyHandler>(std::move(reply));
  if (redisAsyncCommandArgv(context_, &RedisConnection::ReplyCallback, handler.get(), static_cast<int>(argv.size()),
                            pointers.data(), lengths.data()) != REDIS_OK) {
    return false;
  }
  handler.release();  // owned by hiredis until ReplyCallback
  return true;
}

}  // namespace tollgate
