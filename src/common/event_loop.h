// The Asio event loop that runs on the current thread, for code that must do its I/O on the
// caller's loop rather than on a thread of its own (the Redis limiter drives its connections
// from the HTTP worker that asked, so an answer never crosses threads). Whoever runs a loop on a
// thread (the HTTP server's workers, a test) registers it with ScopedEventLoop.
#pragma once

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tollgate {

namespace internal {
inline thread_local boost::asio::io_context* current_event_loop = nullptr;
}  // namespace internal

// nullptr on a thread that runs no registered loop.
inline boost::asio::io_context* CurrentEventLoop() { return internal::current_event_loop; }

class ScopedEventLoop {
 public:
  explicit ScopedEventLoop(boost::asio::io_context& loop) : previous_(internal::current_event_loop) {
    internal::current_event_loop = &loop;
  }
  ~ScopedEventLoop() { internal::current_event_loop = previous_; }
  ScopedEventLoop(const ScopedEventLoop&) = delete;
  ScopedEventLoop& operator=(const ScopedEventLoop&) = delete;

 private:
  boost::asio::io_context* previous_;
};

}  // namespace tollgate
