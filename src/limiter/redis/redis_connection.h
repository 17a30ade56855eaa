// One connection to one Redis server, driven by one Asio event loop (hiredis' async API with a
// small adapter: hiredis says when it wants to read or write, the adapter waits for the socket
// with Asio and calls hiredis back). Commands are written as soon as they are queued and many
// may be in flight at once (pipelining); their replies come back in order.
//
// The connection reconnects by itself: after a failed connect or a lost connection it waits
// `reconnect_delay` and tries again, for ever; commands queued while there is no connection
// fail at once. After every (re)connect it loads `script` first, so the commands that follow on
// the same connection can call it by its SHA-1 (Redis runs a connection's commands in order).
//
// Threading: everything, including the reply callbacks, runs on the loop's thread; the object
// must be created, used and destroyed there (or after the loop stopped).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

struct redisAsyncContext;
struct redisReply;

namespace tollgate {

class RedisConnection {
 public:
  // `reply` is null when the command failed without an answer (connection lost or closed).
  using ReplyHandler = std::function<void(const redisReply* reply)>;

  RedisConnection(boost::asio::io_context& loop, std::string ip, int port, std::string script,
                  std::chrono::milliseconds reconnect_delay);
  ~RedisConnection();  // pending commands' handlers run with nullptr
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Queues one command. False (and `reply` is dropped) when there is no connection right now.
  bool Send(const std::vector<std::string_view>& argv, ReplyHandler reply);
  bool connected() const { return context_ != nullptr && connected_; }
  // Drops the connection (a server that stopped answering), failing what is in flight, and
  // reconnects after the delay.
  void Reset();
  // Queues SCRIPT LOAD of the script (again: the server lost it); a failure is logged.
  void LoadScript();
  // Reads whatever replies already wait in the socket, now, without waiting for the loop.
  void Poll();
  const std::string& address() const { return address_; }

 private:
  struct Watcher;  // the Asio side of the adapter; outlives the context while waits are pending
  void Connect();
  void ScheduleReconnect();
  void OnConnected(int status);
  void OnDisconnected();
  static void ConnectCallback(const redisAsyncContext* context, int status);
  static void DisconnectCallback(const redisAsyncContext* context, int status);
  static void ReplyCallback(redisAsyncContext* context, void* reply, void* privdata);

  boost::asio::io_context& loop_;
  std::string ip_;
  int port_;
  std::string address_;
  std::string script_;
  std::chrono::milliseconds reconnect_delay_;
  redisAsyncContext* context_ = nullptr;
  std::shared_ptr<Watcher> watcher_;
  bool connected_ = false;
  bool closing_ = false;
  boost::asio::steady_timer reconnect_timer_;
  bool logged_down_ = false;  // one log line per outage
  // Held by this object; the reconnect timer's handler holds a weak_ptr and does nothing once
  // the connection is gone (destroyed while its loop still ran).
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace tollgate
