// Time is injected. Code that decides anything by time (expiry, credit refills, limiter windows)
// takes a Clock&, so tests drive a ManualClock instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace tollgate {

// Milliseconds since the Unix epoch, UTC. The unit of every timestamp in the API and the store.
using UnixMillis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time; may jump. Use for timestamps that are shown or stored.
  virtual UnixMillis NowMillis() const = 0;
};
using ClockPtr = std::unique_ptr<Clock>;

class SystemClock final : public Clock {
 public:
  UnixMillis NowMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to. Safe to read from several threads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixMillis start) : now_(start) {}
  UnixMillis NowMillis() const override { return now_.load(std::memory_order_relaxed); }
  void Set(UnixMillis t) { now_.store(t, std::memory_order_relaxed); }
  void Advance(UnixMillis delta) { now_.fetch_add(delta, std::memory_order_relaxed); }

 private:
  std::atomic<UnixMillis> now_;
};

}  // namespace tollgate
