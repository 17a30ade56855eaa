// A synchronous hiredis client for the tests that talk to the real redis-server of the `redis`
// CTest fixture (TOLLGATE_TEST_REDIS=<ip>:<port>).
#pragma once

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace tollgate::limiter_test {

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;
using Command = std::vector<std::string>;

// One synchronous connection (hiredis' blocking API).
class RedisClient {
 public:
  // `address` is "<ip>:<port>"; null when nothing answers there.
  static std::unique_ptr<RedisClient> Connect(const std::string& address) {
    const std::size_t colon = address.rfind(':');
    if (colon == std::string::npos) return nullptr;
    redisContext* context =
        redisConnectWithTimeout(address.substr(0, colon).c_str(), std::atoi(address.c_str() + colon + 1), {5, 0});
    if (context == nullptr || context->err != 0) {
      if (context != nullptr) redisFree(context);
      return nullptr;
    }
    return std::unique_ptr<RedisClient>(new RedisClient(context));
  }
  ~RedisClient() { redisFree(context_); }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends every command in one write and returns their replies in order (null on a lost connection).
  std::vector<ReplyPtr> Pipeline(const std::vector<Command>& commands) {
    for (const Command& command : commands) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      for (const std::string& arg : command) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data());
    }
    std::vector<ReplyPtr> replies;
    for (std::size_t i = 0; i < commands.size(); ++i) {
      void* reply = nullptr;
      if (redisGetReply(context_, &reply) != REDIS_OK) reply = nullptr;
      replies.emplace_back(static_cast<redisReply*>(reply));
    }
    return replies;
  }

  ReplyPtr Run(const Command& command) { return std::move(Pipeline({command}).front()); }

 private:
  explicit RedisClient(redisContext* context) : context_(context) {}
  redisContext* context_;
};

inline std::string Text(const redisReply* reply) {
  return reply != nullptr && reply->str != nullptr ? std::string(reply->str, reply->len) : "(no text)";
}

}  // namespace tollgate::limiter_test
