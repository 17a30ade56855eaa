#include "http/http_metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace tollgate {
namespace {

TEST(HttpMetricsTest, ObservesDurationsByRouteAndStatusInSeconds) {
  MetricsRegistry registry;
  HttpMetrics metrics(registry);
  static const std::string kVerify = "/v2/keys.verifyKey";
  metrics.Observe(kVerify, 200, std::chrono::microseconds(300));
  metrics.Observe(kVerify, 200, std::chrono::milliseconds(2));
  metrics.Observe(kVerify, 429, std::chrono::microseconds(80));
  metrics.Observe("", 404, std::chrono::microseconds(10));
  const std::string text = registry.Render();
  const std::string ok = "route=\"/v2/keys.verifyKey\",status=\"200\"";
  EXPECT_NE(text.find("tollgate_http_request_duration_seconds_bucket{" + ok + ",le=\"0.00025\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_http_request_duration_seconds_bucket{" + ok + ",le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("tollgate_http_request_duration_seconds_bucket{" + ok + ",le=\"0.0025\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("tollgate_http_request_duration_seconds_sum{" + ok + "} 0.0023\n"), std::string::npos);
  EXPECT_NE(text.find("tollgate_http_request_duration_seconds_count{route=\"/v2/keys.verifyKey\",status=\"429\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("tollgate_http_request_duration_seconds_count{route=\"other\",status=\"404\"} 1\n"),
            std::string::npos);
}

TEST(HttpMetricsTest, WorkersCountIntoTheSameSeries) {
  MetricsRegistry registry;
  HttpMetrics metrics(registry);
  static const std::string kRoute = "/livez";
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) metrics.Observe(kRoute, 200, std::chrono::microseconds(50));
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_NE(registry.Render().find("tollgate_http_request_duration_seconds_count{route=\"/livez\",status=\"200\"} 4000\n"),
            std::string::npos);
}

}  // namespace
}  // namespace tollgate
