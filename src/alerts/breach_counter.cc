#include "alerts/breach_counter.h"

namespace tollgate {
namespace {

constexpr std::string_view kRateLimited = "RATE_LIMITED";

std::int64_t SecondOf(UnixMillis t) { return t >= 0 ? t / 1000 : (t - 999) / 1000; }

}  // namespace

void BreachCounter::Add(std::span<const UsageEvent> events) {
  std::lock_guard lock(mu_);
  for (const UsageEvent& event : events) {
    if (event.code.view() != kRateLimited) continue;
    BreachSource source{std::string(event.external_id.view()), std::string(event.key_id.view())};
    const std::string name = source.Name();
    auto it = sources_.find(name);
    if (it == sources_.end()) it = sources_.emplace(name, Entry{std::move(source), {}}).first;
    ++it->second.per_second[SecondOf(event.at)];
  }
}

std::int64_t BreachCounter::Sum(const Entry& entry, UnixMillis since) {
  std::int64_t count = 0;
  for (auto it = entry.per_second.lower_bound(SecondOf(since)); it != entry.per_second.end(); ++it) count += it->second;
  return count;
}

std::vector<std::pair<BreachSource, std::int64_t>> BreachCounter::CountsSince(UnixMillis since) const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<BreachSource, std::int64_t>> counts;
  for (const auto& [name, entry] : sources_) {
    if (const std::int64_t count = Sum(entry, since); count > 0) counts.emplace_back(entry.source, count);
  }
  return counts;
}

std::int64_t BreachCounter::CountSince(const BreachSource& source, UnixMillis since) const {
  std::lock_guard lock(mu_);
  const auto it = sources_.find(source.Name());
  return it == sources_.end() ? 0 : Sum(it->second, since);
}

void BreachCounter::Forget(UnixMillis before) {
  std::lock_guard lock(mu_);
  for (auto it = sources_.begin(); it != sources_.end();) {
    auto& seconds = it->second.per_second;
    seconds.erase(seconds.begin(), seconds.lower_bound(SecondOf(before)));
    it = seconds.empty() ? sources_.erase(it) : std::next(it);
  }
}

}  // namespace tollgate
