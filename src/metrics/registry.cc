#include "metrics/registry.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <variant>

namespace tollgate {

std::size_t ThisThreadMetricSlot() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t slot = next.fetch_add(1, std::memory_order_relaxed) % kMetricSlots;
  return slot;
}

std::uint64_t Counter::Value() const {
  std::uint64_t total = 0;
  for (const Slot& slot : slots_) total += slot.value.load(std::memory_order_relaxed);
  return total;
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds) : bounds_(std::move(bounds)) {
  for (Slot& slot : slots_) {
    slot.lines = std::make_unique<BucketLine[]>((bounds_->size() + 1 + 7) / 8);
  }
}

void Histogram::Observe(double value) {
  const std::vector<double>& bounds = *bounds_;
  std::size_t bucket = 0;
  while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;  // le: value <= bound
  Slot& slot = slots_[ThisThreadMetricSlot()];
  slot.Bucket(bucket).fetch_add(1, std::memory_order_relaxed);
  slot.sum.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative.assign(bounds_->size() + 1, 0);
  for (const Slot& slot : slots_) {
    for (std::size_t i = 0; i <= bounds_->size(); ++i) {
      snapshot.cumulative[i] += slot.Bucket(i).load(std::memory_order_relaxed);
    }
    snapshot.sum += slot.sum.load(std::memory_order_relaxed);
  }
  // Counted per bucket and summed here, so the +Inf bucket and _count always agree.
  for (std::size_t i = 1; i < snapshot.cumulative.size(); ++i) snapshot.cumulative[i] += snapshot.cumulative[i - 1];
  return snapshot;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                           0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
  return buckets;
}

template <class T>
T& MetricFamily<T>::With(const LabelValues& values) {
  if (values.size() != label_count_) {
    throw std::invalid_argument("metric family takes " + std::to_string(label_count_) + " label values, got " +
                                std::to_string(values.size()));
  }
  std::lock_guard lock(mu_);
  auto& child = children_[values];
  if (!child) child = make_();
  return *child;
}
template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

namespace {

bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}`, or "" without labels; `extra` (already formatted, e.g. le="0.5") goes last.
void AppendLabels(std::string& out, const std::vector<std::string>& names, const LabelValues& values,
                  std::string_view extra = {}) {
  if (names.empty() && extra.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                  const LabelValues& values, double value, std::string_view extra = {}) {
  out += name;
  AppendLabels(out, label_names, values, extra);
  out += ' ';
  out += FormatMetricValue(value);
  out += '\n';
}

// A bucket bound as %g prints it ("0.00025", "2.5"): what Prometheus' own clients write.
std::string FormatBound(double bound) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", bound);
  return buffer;
}

}  // namespace

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  MetricType type;
  std::vector<std::string> label_names;
  std::shared_ptr<const std::vector<double>> bounds;  // histograms
  std::variant<std::monostate, std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
               std::unique_ptr<HistogramFamily>, std::function<void(const Emit&)>>
      metric;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::Add(std::string name, std::string help, MetricType type,
                                              std::vector<std::string> label_names) {
  if (!ValidName(name, true)) throw std::invalid_argument("invalid metric name: " + name);
  for (const std::string& label : label_names) {
    if (!ValidName(label, false) || label.starts_with("__") || label == "le") {
      throw std::invalid_argument("invalid label name " + label + " on " + name);
    }
  }
  std::lock_guard lock(mu_);
  for (const auto& family : families_) {
    if (family->name == name) throw std::invalid_argument("metric registered twice: " + name);
  }
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->help = std::move(help);
  family->type = type;
  family->label_names = std::move(label_names);
  families_.push_back(std::move(family));
  return *families_.back();
}


CounterFamily& MetricsRegistry::AddCounter(std::string name, std::string help, std::vector<std::string> label_names) {
  if (!name.ends_with("_total")) throw std::invalid_argument("a counter's name ends in _total: " + name);
  Family& family = Add(std::move(name), std::move(help), MetricType::kCounter, std::move(label_names));
  auto& typed = family.metric.emplace<std::unique_ptr<CounterFamily>>(
      std::make_unique<CounterFamily>(family.label_names.size(), [] { return std::make_unique<Counter>(); }));
  return *typed;
}

GaugeFamily& MetricsRegistry::AddGauge(std::string name, std::string help, std::vector<std::string> label_names) {
  Family& family = Add(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names));
  auto& typed = family.metric.emplace<std::unique_ptr<GaugeFamily>>(
      std::make_unique<GaugeFamily>(family.label_names.size(), [] { return std::make_unique<Gauge>(); }));
  return *typed;
}

HistogramFamily& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                               std::vector<std::string> label_names, std::vector<double> bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::invalid_argument("histogram bounds must be finite and increasing: " + name);
    }
  }
  Family& family = Add(std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names));
  family.bounds = std::make_shared<const std::vector<double>>(std::move(bounds));
  auto& typed = family.metric.emplace<std::unique_ptr<HistogramFamily>>(std::make_unique<HistogramFamily>(
      family.label_names.size(), [bounds = family.bounds] { return std::make_unique<Histogram>(bounds); }));
  return *typed;
}

void MetricsRegistry::AddCallback(std::string name, std::string help, MetricType type,
                                  std::vector<std::string> label_names, std::function<void(const Emit&)> collect) {
  if (type == MetricType::kHistogram) throw std::invalid_argument("histogram callbacks are not supported: " + name);
  if (type == MetricType::kCounter && !name.ends_with("_total")) {
    throw std::invalid_argument("a counter's name ends in _total: " + name);
  }
  Family& family = Add(std::move(name), std::move(help), type, std::move(label_names));
  family.metric = std::move(collect);
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& family : families_) {
    out += "# HELP " + family->name + ' ' + EscapeHelp(family->help) + '\n';
    out += "# TYPE " + family->name + ' ' + std::string(TypeName(family->type)) + '\n';
    const auto& names = family->label_names;
    if (auto* counters = std::get_if<std::unique_ptr<CounterFamily>>(&family->metric)) {
      (*counters)->ForEach([&](const LabelValues& values, const Counter& counter) {
        AppendSample(out, family->name, names, values, static_cast<double>(counter.Value()));
      });
    } else if (auto* gauges = std::get_if<std::unique_ptr<GaugeFamily>>(&family->metric)) {
      (*gauges)->ForEach([&](const LabelValues& values, const Gauge& gauge) {
        AppendSample(out, family->name, names, values, gauge.Value());
      });
    } else if (auto* histograms = std::get_if<std::unique_ptr<HistogramFamily>>(&family->metric)) {
      const std::string bucket = family->name + "_bucket";
      (*histograms)->ForEach([&](const LabelValues& values, const Histogram& histogram) {
        const Histogram::Snapshot snapshot = histogram.Read();
        const auto& bounds = *family->bounds;
        for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
          const std::string le = i < bounds.size() ? FormatBound(bounds[i]) : "+Inf";
          AppendSample(out, bucket, names, values, static_cast<double>(snapshot.cumulative[i]), "le=\"" + le + "\"");
        }
        AppendSample(out, family->name + "_sum", names, values, snapshot.sum);
        AppendSample(out, family->name + "_count", names, values, static_cast<double>(snapshot.cumulative.back()));
      });
    } else if (auto* collect = std::get_if<std::function<void(const Emit&)>>(&family->metric)) {
      (*collect)([&](const LabelValues& values, double value) {
        if (values.size() != names.size()) return;  // a collector bug; never a broken exposition
        AppendSample(out, family->name, names, values, value);
      });
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

}  // namespace tollgate
