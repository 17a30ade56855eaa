// Runs a function every `period` on a thread of its own until stopped: tollgate's background
// maintenance (quota write-back, limiter sweeps). Stop() wakes the thread at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace tollgate {

class PeriodicTask {
 public:
  PeriodicTask(std::chrono::milliseconds period, std::function<void()> run)
      : period_(period), run_(std::move(run)), thread_([this] { Loop(); }) {}
  ~PeriodicTask() { Stop(); }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, period_, [this] { return stopped_; })) {
      lock.unlock();
      run_();
      lock.lock();
    }
  }

  std::chrono::milliseconds period_;
  std::function<void()> run_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace tollgate
