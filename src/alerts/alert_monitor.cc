#include "alerts/alert_monitor.h"

#include <algorithm>
#include <limits>

#include <spdlog/spdlog.h>

#include "alerts/rule_policy.h"
#include "common/ids.h"
#include "verify/quota_tracker.h"

namespace tollgate {
namespace {

// used / included x 100, rounded down; included > 0. Saturates instead of overflowing.
std::int64_t Percent(std::int64_t used, std::int64_t included) {
  if (used > std::numeric_limits<std::int64_t>::max() / 100) return std::numeric_limits<std::int64_t>::max();
  return used * 100 / included;
}

bool NodeLocal(AlertKind kind) { return kind != AlertKind::kQuotaPercent; }

BreachSource SourceOf(const AlertSubject& subject) { return {subject.external_id, subject.key_id}; }

}  // namespace

AlertMonitor::AlertMonitor(AlertStore& store, Clock& clock, AlertMonitorOptions options)
    : store_(store), clock_(clock), options_(std::move(options)), started_at_(clock.NowMillis()) {}

void AlertMonitor::QuotaSaved(std::span<const QuotaRow> rows) {
  const int period = QuotaPeriodOf(clock_.NowMillis());
  std::lock_guard lock(signals_mu_);
  for (const QuotaRow& row : rows) {
    if (row.period != period) continue;  // a month that just ended: its alerts resolve with the new one
    auto [it, inserted] = signals_.quota.emplace(row.subject, row.used);
    if (!inserted) it->second = std::max(it->second, row.used);
  }
}

void AlertMonitor::UsageWritten(std::span<const UsageEvent> events) {
  if (watch_breaches_.load(std::memory_order_relaxed)) breaches_.Add(events);
  if (!watch_credits_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(signals_mu_);
  for (const UsageEvent& event : events) {
    if (!event.key_id.view().empty()) signals_.keys.emplace(event.key_id.view());
  }
}

void AlertMonitor::RulesChanged() {
  watch_credits_.store(true, std::memory_order_relaxed);
  watch_breaches_.store(true, std::memory_order_relaxed);
  rules_changed_.store(true, std::memory_order_relaxed);
}

AlertMonitor::Signals AlertMonitor::TakeSignals() {
  Signals taken;
  std::lock_guard lock(signals_mu_);
  std::swap(taken, signals_);
  return taken;
}

AlertMonitorCounters AlertMonitor::Counters() const {
  AlertMonitorCounters counters;
  for (std::size_t i = 0; i < fired_.size(); ++i) counters.fired[i] = fired_[i].load(std::memory_order_relaxed);
  counters.resolved = resolved_.load(std::memory_order_relaxed);
  return counters;
}

Result<bool> AlertMonitor::LoadRules() {
  auto rules = store_.ListAlertRules();
  if (!rules) return Fail(std::move(rules.error()));
  const bool changed = !std::equal(rules->begin(), rules->end(), rules_.begin(), rules_.end(),
                                   [](const AlertRule& a, const AlertRule& b) { return a.id == b.id; });
  rules_ = std::move(*rules);
  // A rule created while these were read is in the store but maybe not in `rules_`: keep watching
  // until the pass that reads it.
  const bool pending = rules_changed_.load(std::memory_order_relaxed);
  watch_credits_.store(pending || HasRules(AlertKind::kCreditsBelow), std::memory_order_relaxed);
  watch_breaches_.store(pending || HasRules(AlertKind::kRatelimitBreaches), std::memory_order_relaxed);
  return changed;
}

Result<bool> AlertMonitor::Evaluate(const AlertFacts& facts) {
  now_ = clock_.NowMillis();
  transitions_ = false;
  // Taken before the rules are read: a rule written before RulesChanged() is then in what is read.
  const bool told = rules_changed_.exchange(false, std::memory_order_relaxed);
  auto changed = LoadRules();
  if (!changed) {
    if (told) rules_changed_.store(true, std::memory_order_relaxed);
    return Fail(std::move(changed.error()));
  }
  Heartbeat();
  const bool sweep = told || *changed || now_ >= next_sweep_;
  const Signals signals = TakeSignals();
  if (rules_.empty()) {
    breaches_.Forget(now_);
    return false;
  }
  if (sweep) {
    if (auto read = ReadOpenAlerts(); !read) return Fail(std::move(read.error()));
    next_sweep_ = now_ + options_.sweep_interval.count();
  }
  EvaluateQuota(facts, signals.quota, sweep);
  EvaluateCredits(facts, signals.keys, sweep);
  EvaluateBreaches(facts);
  return transitions_;
}

void AlertMonitor::Heartbeat() {
  if (now_ < next_heartbeat_) return;
  if (auto touched = store_.TouchAlertNode(options_.node, now_); !touched) {
    spdlog::warn("alerts: node {} could not record that it is alive: {}", options_.node, touched.error().detail);
    return;  // tried again at the next pass
  }
  next_heartbeat_ = now_ + options_.heartbeat_interval.count();
}

Status AlertMonitor::ReadOpenAlerts() {
  const std::int64_t timeout = options_.node_timeout.count();
  if (now_ - started_at_ >= timeout) {
    auto adopted = store_.AdoptAlertsOfGoneNodes(options_.node, now_ - timeout);
    if (!adopted) {
      spdlog::warn("alerts: the alerts of gone nodes were not taken over: {}", adopted.error().detail);
    } else if (*adopted > 0) {
      spdlog::info("alerts: node {} took over {} open alerts of nodes not seen for {} s", options_.node, *adopted,
                   timeout / 1000);
    }
  }
  auto open = store_.ListOpenAlerts();
  if (!open) return Fail(std::move(open.error()));
  open_.clear();
  for (Alert& alert : *open) open_.emplace(OpenKey{alert.rule_id, alert.subject.key}, std::move(alert));
  return {};
}

const AlertRule* AlertMonitor::FindRule(const std::string& rule_id) const {
  const auto rule = std::find_if(rules_.begin(), rules_.end(), [&](const AlertRule& r) { return r.id == rule_id; });
  return rule == rules_.end() ? nullptr : &*rule;
}

bool AlertMonitor::HasRules(AlertKind kind) const {
  return std::any_of(rules_.begin(), rules_.end(), [kind](const AlertRule& rule) { return rule.kind == kind; });
}

void AlertMonitor::EvaluateQuota(const AlertFacts& facts,
                                 const std::map<std::string, std::int64_t, std::less<>>& changed, bool sweep) {
  if (!HasRules(AlertKind::kQuotaPercent)) return;
  const int period = QuotaPeriodOf(now_);
  // A node's own count of one second may only fire.
  QuotaCounts counts;
  for (const auto& [subject, used] : changed) counts[subject] = {used, false};
  bool stored_read = false;
  if (sweep) {
    if (auto stored = facts.StoredQuotaUsage(period)) {
      for (const QuotaRow& row : *stored) {
        counts[row.subject] = {std::max(row.used, facts.QuotaUsed(row.subject, period)), true};
      }
      stored_read = true;
    } else {
      spdlog::warn("alerts: stored quota counters not read: {}", stored.error().detail);
    }
  }
  ReviewQuotaAlerts(facts, counts, period, stored_read);
  for (const auto& [subject, entry] : counts) {
    const auto standing = facts.QuotaSubject(subject);
    if (!standing) continue;  // gone, or no included quota: nothing to measure against
    const std::int64_t percent = Percent(entry.first, standing->included);
    for (const AlertRule& rule : rules_) {
      if (rule.kind == AlertKind::kQuotaPercent && RuleWatches(rule, standing->subject)) {
        Observe(rule, standing->subject, percent, entry.second);
      }
    }
  }
}

void AlertMonitor::ReviewQuotaAlerts(const AlertFacts& facts, const QuotaCounts& counts, int period, bool review_all) {
  std::vector<std::pair<const AlertRule*, std::string>> review;
  for (const auto& [key, alert] : open_) {
    if (alert.kind != AlertKind::kQuotaPercent) continue;
    // Of a month that ended: the count started again at zero (a subject gone since counts 0).
    if (!review_all && QuotaPeriodOf(alert.fired_at) == period) continue;
    if (const AlertRule* rule = FindRule(key.first)) review.emplace_back(rule, key.second);
  }
  for (const auto& [rule, subject] : review) {
    const auto standing = facts.QuotaSubject(subject);
    const auto counted = counts.find(subject);
    const std::int64_t used =
        std::max(facts.QuotaUsed(subject, period), counted == counts.end() ? 0 : counted->second.first);
    if (standing && RuleWatches(*rule, standing->subject)) {
      Observe(*rule, standing->subject, Percent(used, standing->included), true);
    } else {
      // Gone, without a quota now, or out of the rule's scope (another tier): nothing to watch.
      Resolve(*rule, subject, standing ? Percent(used, standing->included) : 0);
    }
  }
}

void AlertMonitor::EvaluateCredits(const AlertFacts& facts, const std::set<std::string, std::less<>>& touched,
                                   bool sweep) {
  if (!HasRules(AlertKind::kCreditsBelow)) return;
  std::set<std::string, std::less<>> keys = touched;
  if (sweep) {
    for (std::string& id : facts.KeyIds()) keys.insert(std::move(id));
  }
  // This node's own open alerts: a balance an operator raised resolves them within a pass.
  for (const auto& [key, alert] : open_) {
    if (alert.kind == AlertKind::kCreditsBelow && alert.origin == options_.node) keys.insert(alert.subject.key_id);
  }
  for (const std::string& key_id : keys) {
    const auto credits = facts.Credits(key_id);
    for (const AlertRule& rule : rules_) {
      if (rule.kind != AlertKind::kCreditsBelow) continue;
      if (credits && RuleWatches(rule, credits->subject)) {
        Observe(rule, credits->subject, credits->remaining, true);
      } else {
        // Deleted, unlimited now, or out of the rule's scope: nothing to watch.
        ResolveOwn(rule, "k:" + key_id, credits ? credits->remaining : 0);
      }
    }
  }
}

void AlertMonitor::EvaluateBreaches(const AlertFacts& facts) {
  const UnixMillis now = now_;
  std::int64_t horizon_s = 0;
  for (const AlertRule& rule : rules_) {
    if (rule.kind == AlertKind::kRatelimitBreaches) horizon_s = std::max(horizon_s, rule.window_seconds);
  }
  breaches_.Forget(now - horizon_s * 1000);
  if (horizon_s == 0) return;
  for (const AlertRule& rule : rules_) {
    if (rule.kind != AlertKind::kRatelimitBreaches) continue;
    const UnixMillis since = now - rule.window_seconds * 1000;
    std::set<std::string, std::less<>> seen;
    for (const auto& [source, count] : breaches_.CountsSince(since)) {
      const AlertSubject subject = facts.BreachSubject(source.external_id, source.key_id);
      seen.insert(subject.key);
      if (RuleWatches(rule, subject)) Observe(rule, subject, count, true);
    }
    // Quiet subjects of this node's open alerts: resolved by absence, once this node has watched
    // a whole window (after a restart it has not).
    if (now - started_at_ < rule.window_seconds * 1000) continue;
    std::vector<AlertSubject> quiet;
    for (const auto& [key, alert] : open_) {
      if (key.first == rule.id && alert.origin == options_.node && !seen.contains(key.second)) quiet.push_back(alert.subject);
    }
    for (const AlertSubject& subject : quiet) Observe(rule, subject, breaches_.CountSince(SourceOf(subject), since), true);
  }
}

void AlertMonitor::Observe(const AlertRule& rule, const AlertSubject& subject, std::int64_t value, bool may_resolve) {
  const auto it = open_.find(OpenKey{rule.id, subject.key});
  const bool open = it != open_.end();
  switch (Decide(rule, value, open)) {
    case Transition::kNone: return;
    case Transition::kFire: Fire(rule, subject, value); return;
    case Transition::kResolve:
      if (!may_resolve || (NodeLocal(rule.kind) && it->second.origin != options_.node)) return;
      Resolve(rule, subject.key, value);
      return;
  }
}

void AlertMonitor::ResolveOwn(const AlertRule& rule, const std::string& subject, std::int64_t value) {
  const auto it = open_.find(OpenKey{rule.id, subject});
  if (it != open_.end() && it->second.origin == options_.node) Resolve(rule, subject, value);
}

void AlertMonitor::Fire(const AlertRule& rule, const AlertSubject& subject, std::int64_t value) {
  Alert alert;
  alert.id = NewId("alert");
  alert.rule_id = rule.id;
  alert.kind = rule.kind;
  alert.subject = subject;
  alert.value = value;
  alert.threshold = rule.threshold;
  alert.origin = options_.node;
  alert.fired_at = now_;
  auto opened = store_.OpenAlert(alert);
  if (!opened) {
    spdlog::warn("alerts: rule {} could not fire for {}: {}", rule.id, subject.key, opened.error().detail);
    return;  // not open here: the next pass tries again
  }
  if (*opened) {
    fired_[static_cast<std::size_t>(rule.kind)].fetch_add(1, std::memory_order_relaxed);
    transitions_ = true;
  } else {
    alert.origin.clear();  // another node's: the next sweep reads it back as it is
  }
  open_.insert_or_assign(OpenKey{rule.id, subject.key}, std::move(alert));
}

void AlertMonitor::Resolve(const AlertRule& rule, const std::string& subject, std::int64_t value) {
  auto resolved = store_.ResolveAlert(rule.id, subject, value, now_);
  if (!resolved) {
    spdlog::warn("alerts: rule {} could not resolve for {}: {}", rule.id, subject, resolved.error().detail);
    return;
  }
  if (*resolved) {
    resolved_.fetch_add(1, std::memory_order_relaxed);
    transitions_ = true;
  }
  open_.erase(OpenKey{rule.id, subject});
}

}  // namespace tollgate
