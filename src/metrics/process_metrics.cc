#include "metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tollgate {
namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_seconds_after_boot = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

// /proc/self/stat: fields 14-15 utime/stime and 22 starttime in clock ticks, 23 vsize in bytes,
// 24 rss in pages (proc(5)). Field 2, the command name, may hold spaces: parse after its ')'.
bool ReadProcStat(ProcStat& stat) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  for (int index = 3; fields >> field; ++index) {
    if (index == 14 || index == 15) stat.cpu_seconds += std::stod(field) / ticks;
    if (index == 22) stat.start_seconds_after_boot = std::stod(field) / ticks;
    if (index == 23) stat.virtual_bytes = std::stod(field);
    if (index == 24) {
      stat.resident_bytes = std::stod(field) * page;
      return true;
    }
  }
  return false;
}

// The boot time in Unix seconds: /proc/stat's btime.
double BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

double OpenFds() {
  std::error_code error;
  double count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end; it.increment(error)) {
    ++count;
  }
  return count > 0 ? count - 1 : 0;  // less the directory's own descriptor, open while counting
}

}  // namespace

void AddProcessMetrics(MetricsRegistry& registry) {
  using Emit = MetricsRegistry::Emit;
  registry.AddCallback("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                       MetricType::kCounter, {}, [](const Emit& emit) {
                         ProcStat stat;
                         if (ReadProcStat(stat)) emit({}, stat.cpu_seconds);
                       });
  registry.AddCallback("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::kGauge, {},
                       [](const Emit& emit) {
                         ProcStat stat;
                         if (ReadProcStat(stat)) emit({}, stat.resident_bytes);
                       });
  registry.AddCallback("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::kGauge, {},
                       [](const Emit& emit) {
                         ProcStat stat;
                         if (ReadProcStat(stat)) emit({}, stat.virtual_bytes);
                       });
  registry.AddCallback("process_open_fds", "Number of open file descriptors.", MetricType::kGauge, {},
                       [](const Emit& emit) { emit({}, OpenFds()); });
  registry.AddCallback("process_max_fds", "Maximum number of open file descriptors.", MetricType::kGauge, {},
                       [](const Emit& emit) {
                         rlimit limit{};
                         if (getrlimit(RLIMIT_NOFILE, &limit) == 0) emit({}, static_cast<double>(limit.rlim_cur));
                       });
  // The start time does not change: read once.
  ProcStat stat;
  const double start = ReadProcStat(stat) ? BootTime() + stat.start_seconds_after_boot : 0;
  registry.AddCallback("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                       MetricType::kGauge, {}, [start](const Emit& emit) { emit({}, start); });
}

}  // namespace tollgate
