#include "http/http_metrics.h"

#include <string>

#include "http/router.h"

namespace tollgate {

HttpMetrics::HttpMetrics(MetricsRegistry& registry)
    : durations_(registry.AddHistogram("tollgate_http_request_duration_seconds",
                                       "Time from a parsed request to its answer, by route (\"other\": no route) "
                                       "and HTTP status.",
                                       {"route", "status"}, LatencyBuckets())),
      by_route_(durations_) {}

void HttpMetrics::Observe(std::string_view route, unsigned status, std::chrono::nanoseconds elapsed) {
  if (route.empty()) route = Router::kUnknownRoute;
  Histogram& histogram = by_route_.Get(Key{route.data(), route.size(), status}, [&] {
    return LabelValues{std::string(route), std::to_string(status)};
  });
  histogram.Observe(std::chrono::duration<double>(elapsed).count());
}

}  // namespace tollgate
