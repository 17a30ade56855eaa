#include "verify/quota_tracker.h"

#include <functional>

#include "common/calendar.h"

namespace tollgate {

int QuotaPeriodOf(UnixMillis t) {
  const CivilDate date = ToCivil(t);
  return date.year * 100 + static_cast<int>(date.month);
}

UnixMillis QuotaPeriodEnd(int period) {
  int year = period / 100;
  unsigned month = static_cast<unsigned>(period % 100) + 1;
  if (month == 13) {
    month = 1;
    ++year;
  }
  return FromCivil({year, month, 1});
}

QuotaTracker::Shard& QuotaTracker::ShardFor(std::string_view subject) const {
  return shards_[std::hash<std::string_view>{}(subject) % shards_.size()];
}

Status QuotaTracker::Load(int period) {
  auto rows = store_.LoadQuotaUsage(period);
  if (!rows) return Fail(rows.error());
  for (QuotaRow& row : *rows) {
    Shard& shard = ShardFor(row.subject);
    std::lock_guard lock(shard.mu);
    shard.entries[std::move(row.subject)] = Entry{row.period, row.used, false};
  }
  return {};
}

std::int64_t QuotaTracker::Used(std::string_view subject, int period) const {
  Shard& shard = ShardFor(subject);
  std::lock_guard lock(shard.mu);
  const auto it = shard.entries.find(subject);
  if (it == shard.entries.end() || it->second.period != period) return 0;
  return it->second.used;
}

QuotaTracker::Entry& QuotaTracker::EntryFor(Shard& shard, std::string_view subject, int period) {
  auto it = shard.entries.find(subject);
  if (it == shard.entries.end()) it = shard.entries.emplace(std::string(subject), Entry{}).first;
  Entry& entry = it->second;
  if (entry.period != period) {
    // A new month starts from zero; the old month's unsaved count is kept aside for the next
    // flush, so the last verifies before midnight are billed to the month they belong to.
    if (entry.dirty) shard.closed_months.push_back({std::string(subject), entry.period, entry.used});
    entry.period = period;
    entry.used = 0;
  }
  return entry;
}

void QuotaTracker::Observe(std::string_view subject, int period, std::int64_t used) {
  Shard& shard = ShardFor(subject);
  std::lock_guard lock(shard.mu);
  if (const auto it = shard.entries.find(subject); it != shard.entries.end() && period < it->second.period) {
    // A late answer about the month that just ended (its verification began before midnight):
    // saved to that month, without turning this subject's view back to it.
    shard.closed_months.push_back({std::string(subject), period, used});
    return;
  }
  Entry& entry = EntryFor(shard, subject, period);
  if (used <= entry.used) return;
  entry.used = used;
  entry.dirty = true;
}

std::int64_t QuotaTracker::Add(std::string_view subject, int period, std::int64_t n) {
  Shard& shard = ShardFor(subject);
  std::lock_guard lock(shard.mu);
  Entry& entry = EntryFor(shard, subject, period);
  entry.used += n;
  entry.dirty = true;
  return entry.used;
}

Status QuotaTracker::Flush() {
  std::lock_guard flush_lock(flush_mu_);
  std::vector<QuotaRow> rows;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (QuotaRow& row : shard.closed_months) rows.push_back(std::move(row));
    shard.closed_months.clear();
    for (auto& [subject, entry] : shard.entries) {
      if (!entry.dirty) continue;
      rows.push_back({subject, entry.period, entry.used});
      entry.dirty = false;
    }
  }
  if (rows.empty()) return {};
  if (auto status = store_.SaveQuotaUsage(rows); !status) {
    // Put everything back for the next flush: a live month is marked dirty again (its count can
    // only have grown since), a closed month goes back to the side list.
    for (QuotaRow& row : rows) {
      Shard& shard = ShardFor(row.subject);
      std::lock_guard lock(shard.mu);
      auto it = shard.entries.find(row.subject);
      if (it != shard.entries.end() && it->second.period == row.period) {
        it->second.dirty = true;
      } else {
        shard.closed_months.push_back(std::move(row));
      }
    }
    return status;
  }
  return {};
}

}  // namespace tollgate
