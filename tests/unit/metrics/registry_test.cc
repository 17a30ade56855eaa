#include "metrics/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "metrics/process_metrics.h"

namespace tollgate {
namespace {

using ::testing::HasSubstr;

TEST(MetricsRegistryTest, RendersCountersAndGaugesWithHelpTypeAndSortedChildren) {
  MetricsRegistry registry;
  auto& verifications = registry.AddCounter("tollgate_verifications_total", "Verifications by outcome.", {"code", "tier"});
  verifications.With({"VALID", "pro"}).Inc(3);
  verifications.With({"RATE_LIMITED", "free"}).Inc();
  registry.AddGauge("tollgate_keys_cached", "Keys in the cache.").With().Set(42);

  EXPECT_EQ(registry.Render(),
            "# HELP tollgate_verifications_total Verifications by outcome.\n"
            "# TYPE tollgate_verifications_total counter\n"
            "tollgate_verifications_total{code=\"RATE_LIMITED\",tier=\"free\"} 1\n"
            "tollgate_verifications_total{code=\"VALID\",tier=\"pro\"} 3\n"
            "# HELP tollgate_keys_cached Keys in the cache.\n"
            "# TYPE tollgate_keys_cached gauge\n"
            "tollgate_keys_cached 42\n");
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithInfEqualToCount) {
  MetricsRegistry registry;
  auto& latency = registry.AddHistogram("t_seconds", "Latency.", {"route"}, {0.001, 0.01, 0.1});
  Histogram& h = latency.With({"/v2/keys.verifyKey"});
  h.Observe(0.0005);
  h.Observe(0.001);  // on a bound: counted in that bucket (le means <=)
  h.Observe(0.05);
  h.Observe(3);
  EXPECT_EQ(registry.Render(),
            "# HELP t_seconds Latency.\n"
            "# TYPE t_seconds histogram\n"
            "t_seconds_bucket{route=\"/v2/keys.verifyKey\",le=\"0.001\"} 2\n"
            "t_seconds_bucket{route=\"/v2/keys.verifyKey\",le=\"0.01\"} 2\n"
            "t_seconds_bucket{route=\"/v2/keys.verifyKey\",le=\"0.1\"} 3\n"
            "t_seconds_bucket{route=\"/v2/keys.verifyKey\",le=\"+Inf\"} 4\n"
            "t_seconds_sum{route=\"/v2/keys.verifyKey\"} 3.0515\n"
            "t_seconds_count{route=\"/v2/keys.verifyKey\"} 4\n");
}

TEST(MetricsRegistryTest, LatencyBucketBoundsPrintAsPrometheusClientsPrintThem) {
  MetricsRegistry registry;
  registry.AddHistogram("d_seconds", "d", {}, LatencyBuckets()).With().Observe(0.0003);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"0.0001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"0.00025\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"2.5\"} 1\n"));
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.AddGauge("g", "Back\\slash and\nnewline.", {"v"}).With({"a\"b\\c\nd"}).Set(1);
  EXPECT_EQ(registry.Render(),
            "# HELP g Back\\\\slash and\\nnewline.\n"
            "# TYPE g gauge\n"
            "g{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistryTest, FormatsValues) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(12345678), "12345678");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
  EXPECT_EQ(FormatMetricValue(1e-7), "1e-07");
  EXPECT_EQ(FormatMetricValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatMetricValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatMetricValue(NAN), "NaN");
}

TEST(MetricsRegistryTest, RefusesBadNamesTwiceRegisteredNamesAndWrongLabelCounts) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.AddGauge("1abc", "x"), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("a-b", "x"), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("requests", "a counter without _total"), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("g", "x", {"le"}), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("g", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("h", "x", {}, {1, 0.5}), std::invalid_argument);
  auto& family = registry.AddCounter("ok_total", "x", {"a"});
  EXPECT_THROW(registry.AddCounter("ok_total", "again"), std::invalid_argument);
  EXPECT_THROW(family.With({"1", "2"}), std::invalid_argument);
}

TEST(MetricsRegistryTest, CallbacksEmitAtRenderTime) {
  MetricsRegistry registry;
  int calls = 0;
  registry.AddCallback("c_shard_up", "Up per shard.", MetricType::kGauge, {"shard"},
                       [&calls](const MetricsRegistry::Emit& emit) {
                         ++calls;
                         emit({"10.0.0.1:6379"}, 1);
                         emit({"10.0.0.2:6379"}, 0);
                         emit({"too", "many"}, 5);  // dropped, never a broken exposition
                       });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(registry.Render(),
            "# HELP c_shard_up Up per shard.\n"
            "# TYPE c_shard_up gauge\n"
            "c_shard_up{shard=\"10.0.0.1:6379\"} 1\n"
            "c_shard_up{shard=\"10.0.0.2:6379\"} 0\n");
  EXPECT_EQ(calls, 1);
}

TEST(MetricsRegistryTest, CountsFromManyThreadsAddUp) {
  MetricsRegistry registry;
  Counter& counter = registry.AddCounter("n_total", "n").With();
  Histogram& histogram = registry.AddHistogram("h_seconds", "h", {}, {0.5}).With();
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {  // more threads than slots: slots are shared, still exact
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        counter.Inc();
        histogram.Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.Value(), 120'000u);
  const Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.cumulative[0], 60'000u);
  EXPECT_EQ(snapshot.cumulative[1], 120'000u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 60'000 * 0.25 + 60'000 * 1.0);
}

TEST(MetricsRegistryTest, ChildCacheFindsTheSameChildPerKeyWithoutRebuildingLabels) {
  MetricsRegistry registry;
  auto& family = registry.AddCounter("r_total", "r", {"route", "status"});
  ChildCache<Counter, unsigned> by_status(family);
  int built = 0;
  auto labels = [&](unsigned status) {
    return [&built, status] {
      ++built;
      return LabelValues{"/x", std::to_string(status)};
    };
  };
  by_status.Get(200, labels(200)).Inc();
  by_status.Get(200, labels(200)).Inc();
  by_status.Get(404, labels(404)).Inc();
  EXPECT_EQ(built, 2);
  EXPECT_EQ(family.With({"/x", "200"}).Value(), 2u);
  EXPECT_EQ(family.With({"/x", "404"}).Value(), 1u);
}

TEST(ProcessMetricsTest, ReportsThisProcess) {
  MetricsRegistry registry;
  AddProcessMetrics(registry);
  const std::string text = registry.Render();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_virtual_memory_bytes ",
                           "process_open_fds ", "process_max_fds ", "process_start_time_seconds "}) {
    const auto at = text.find(std::string("\n") + name);
    ASSERT_NE(at, std::string::npos) << name;
    const double value = std::stod(text.substr(at + 1 + std::string(name).size()));
    // A fresh test process may not have used one clock tick of CPU yet.
    if (std::string(name) == "process_cpu_seconds_total ") EXPECT_GE(value, 0);
    else EXPECT_GT(value, 0) << name;
  }
  // Started in the last day, not at the epoch or in the future.
  const auto at = text.find("\nprocess_start_time_seconds ");
  const double start = std::stod(text.substr(at + 28));
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 86'400);
}

}  // namespace
}  // namespace tollgate
