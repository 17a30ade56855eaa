// tollgate_http_request_duration_seconds{route, status}: fed by the server's on_answer hook.
// Children are cached per worker thread by the route's address (the Router's stable label) and
// the status, so an answer costs a hash lookup and two relaxed atomic adds, no lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string_view>

#include "metrics/registry.h"

namespace tollgate {

class HttpMetrics {
 public:
  explicit HttpMetrics(MetricsRegistry& registry);
  // `route` must stay valid for the registry's life (the Router's labels do); empty is "other".
  void Observe(std::string_view route, unsigned status, std::chrono::nanoseconds elapsed);

 private:
  struct Key {
    const char* route;
    std::size_t size;
    unsigned status;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const {
      return std::hash<const void*>{}(key.route) * 31 + key.status;
    }
  };
  HistogramFamily& durations_;
  ChildCache<Histogram, Key, KeyHash> by_route_;
};

}  // namespace tollgate
