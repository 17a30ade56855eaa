// tollgate's Prometheus metrics: counters, gauges and histograms in families with fixed label
// names, rendered in the text exposition format 0.0.4 (HELP and TYPE lines, label values escaped,
// histogram buckets cumulative and ending in le="+Inf", `_sum` and `_count`). prometheus-cpp is
// not packaged on Debian 12; this is the part of it tollgate needs.
//
// Cost on the hot path: a counter or histogram keeps one cache-line-aligned slot per thread
// group (kMetricSlots), and a thread always writes its own slot with one relaxed atomic add, so
// two workers counting the same outcome never bounce a cache line between cores. Reading sums
// the slots; it runs only when /metrics is scraped. Finding a family's child by label values
// takes the family's mutex: callers on the hot path look a child up once and keep the reference
// (children live as long as the registry), or keep a per-thread cache (see ChildCache).
//
// Values computed at scrape time (process CPU, open connections, the outbox's oldest age) are
// callbacks: AddCallback registers a function that emits samples while the registry renders.
// Callbacks run on the thread serving /metrics and must be thread-safe.
//
// Names are validated at registration; a bad name is a programming error and throws.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tollgate {

inline constexpr std::size_t kMetricSlots = 8;
// The slot this thread writes: threads are numbered in order of first use, modulo kMetricSlots.
std::size_t ThisThreadMetricSlot();

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void Inc(std::uint64_t n = 1) { slots_[ThisThreadMetricSlot()].value.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Value() const;

 private:
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Slot, kMetricSlots> slots_;
};

// A value that goes up and down, set by whoever owns it (not meant for per-request writes from
// several threads: one atomic, no slots).
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, strictly increasing, without +Inf.
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot Read() const;

 private:
  // A slot's bucket counts live in whole cache lines of their own: two slots' arrays, allocated
  // one after the other, would otherwise share a line and bounce it between the threads.
  struct alignas(64) BucketLine {
    std::array<std::atomic<std::uint64_t>, 8> counts{};
  };
  struct alignas(64) Slot {
    std::unique_ptr<BucketLine[]> lines;  // bounds + 1 counts (the last is +Inf)
    std::atomic<double> sum{0};
    std::atomic<std::uint64_t>& Bucket(std::size_t i) { return lines[i / 8].counts[i % 8]; }
    const std::atomic<std::uint64_t>& Bucket(std::size_t i) const { return lines[i / 8].counts[i % 8]; }
  };
  std::shared_ptr<const std::vector<double>> bounds_;
  std::array<Slot, kMetricSlots> slots_;
};

// The default buckets of request durations, in seconds: 100 µs to 2.5 s.
const std::vector<double>& LatencyBuckets();

// One metric name with its label names, and a child per set of label values.
template <class T>
class MetricFamily {
 public:
  MetricFamily(std::size_t label_count, std::function<std::unique_ptr<T>()> make)
      : make_(std::move(make)), label_count_(label_count) {}
  // The child of these label values (as many as the family has label names), created on first use.
  T& With(const LabelValues& values);
  T& With() { return With(LabelValues{}); }

 private:
  friend class MetricsRegistry;
  template <class F>
  void ForEach(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& [values, child] : children_) f(values, *child);
  }
  std::function<std::unique_ptr<T>()> make_;
  std::size_t label_count_ = 0;
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<T>> children_;  // sorted: a stable exposition order
};
using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

// Per-thread lookup of a family's children by a key the caller builds cheaply (for the hot path:
// no mutex and no allocation once a thread has seen a key). The key must determine the labels.
template <class T, class Key, class Hash = std::hash<Key>>
class ChildCache {
 public:
  explicit ChildCache(MetricFamily<T>& family) : family_(family), id_(NextId()) {}
  // `labels` is called on a miss only.
  template <class MakeLabels>
  T& Get(const Key& key, MakeLabels&& labels) {
    // By id, not address: a cache destroyed and another built at its address start afresh.
    thread_local std::unordered_map<std::uint64_t, std::unordered_map<Key, T*, Hash>> caches;
    auto& cache = caches[id_];
    auto it = cache.find(key);
    if (it != cache.end()) return *it->second;
    T& child = family_.With(labels());
    cache.emplace(key, &child);
    return child;
  }

 private:
  static std::uint64_t NextId() {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  MetricFamily<T>& family_;
  const std::uint64_t id_;
};

enum class MetricType { kCounter, kGauge, kHistogram };

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  CounterFamily& AddCounter(std::string name, std::string help, std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                                std::vector<double> bounds);

  // A metric computed when rendered: `collect` calls `emit(label values, value)` once per sample.
  using Emit = std::function<void(const LabelValues& values, double value)>;
  void AddCallback(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
                   std::function<void(const Emit& emit)> collect);

  // The text exposition format, every family in the order it was added.
  std::string Render() const;
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Family;
  Family& Add(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);
  mutable std::mutex mu_;  // guards families_ (added to at start, read by every scrape)
  std::vector<std::unique_ptr<Family>> families_;
};
using MetricsRegistryPtr = std::unique_ptr<MetricsRegistry>;

// For the exposition format: `\` `"` and newline escaped in label values; `\` and newline in HELP.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// A sample value: integers without a fraction, +Inf / -Inf / NaN by name, else the shortest
// text that reads back as the same double.
std::string FormatMetricValue(double value);

}  // namespace tollgate
