// Evaluates the alert rules about once a second, off the verify path, from what the node already
// has: the quota counters the QuotaTracker wrote back (QuotaSaved), the usage events the
// UsageRecorder wrote (UsageWritten: RATE_LIMITED answers, and keys whose credits may have
// changed), the live credit balances of the KeyCache, and, every `sweep_interval` and whenever
// the rules change, every stored quota counter and every key: so a rule also finds the subjects
// that were past its threshold before it existed.
//
// For each (rule, subject) it asks rule_policy's Decide and writes a transition through the
// AlertStore, which arbitrates: one open alert per rule and subject, whichever node fires it.
// Each sweep also reviews every open alert, watched or not: one whose subject the rule no longer
// watches (a customer moved to another tier), or that has nothing left to measure (no quota or
// no credits any more, the customer or key deleted), is resolved.
// Which node may resolve:
//  * quota_percent: counts are shared (the stored counter is the highest view of any node), so
//    any node resolves, but only from the sweep's highest view or at a new month, never from its
//    own possibly lower view of one second: two nodes never toggle an alert back and forth.
//  * credits_below and ratelimit_breaches: balances and breach counts are per node, so only the
//    alert's origin node resolves it. After a restart, the node resolves its breach alerts by
//    absence only once it has watched a whole window.
//
// Gone nodes: every `heartbeat_interval` the monitor writes that its node is alive. At each
// sweep, a node that has run for `node_timeout` itself takes over (becomes the origin of) the
// open alerts whose origin was not seen for `node_timeout`, and from then on evaluates and
// resolves them with its own facts. So an alert of a node that never comes back (a container
// restarted under a new hostname, hence a new node name) is resolved, about a minute later,
// by a live node. Waiting `node_timeout` after its own start lets every live node write a
// heartbeat first (a node that just started has seen none of them).
//
// Threads: the signal methods run on the writers' threads (maintenance, usage flusher, HTTP
// workers for RulesChanged) and only queue; Evaluate runs on one evaluation thread and owns
// everything else.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "alerts/alert_facts.h"
#include "alerts/alert_store.h"
#include "alerts/breach_counter.h"
#include "common/clock.h"
#include "common/result.h"
#include "usage/usage_event.h"
#include "verify/quota_store.h"

namespace tollgate {

struct AlertMonitorOptions {
  std::string node;  // written as the origin of the alerts this node fires
  std::chrono::milliseconds sweep_interval{30'000};
  std::chrono::milliseconds heartbeat_interval{5'000};  // how often this node says it is alive
  std::chrono::milliseconds node_timeout{30'000};       // a node not seen for this long is gone
};

// Monotonic since start: transitions this node wrote (tollgate_alerts_fired_total{kind}).
struct AlertMonitorCounters {
  std::array<std::uint64_t, 3> fired{};  // by AlertKind
  std::uint64_t resolved = 0;
};

class AlertMonitor {
 public:
  AlertMonitor(AlertStore& store, Clock& clock, AlertMonitorOptions options);

  // Signals, from any thread.
  void QuotaSaved(std::span<const QuotaRow> rows);
  void UsageWritten(std::span<const UsageEvent> events);
  // A rule was created or deleted here: re-read the rules and sweep at the next pass, and until
  // then watch usage for every kind, so the events between now and that pass count.
  void RulesChanged();

  // One pass over `facts`; the evaluation thread only. True when it wrote a transition (new
  // deliveries are due: wake the dispatcher). Fails when the rules cannot be read; a transition
  // the store refuses is logged and tried again at the next pass.
  Result<bool> Evaluate(const AlertFacts& facts);

  AlertMonitorCounters Counters() const;

 private:
  using OpenKey = std::pair<std::string, std::string>;  // rule id, subject key

  struct Signals {
    std::map<std::string, std::int64_t, std::less<>> quota;  // subject -> count this month
    std::set<std::string, std::less<>> keys;                  // keys with usage since the last pass
  };
  Signals TakeSignals();
  // Reloads the rules; true when the set of rule ids differs from the last pass.
  Result<bool> LoadRules();

  // Writes that this node is alive, when due.
  void Heartbeat();
  // At a sweep: takes over the open alerts of gone nodes (once this node has run node_timeout),
  // then reads every open alert into open_.
  Status ReadOpenAlerts();
  const AlertRule* FindRule(const std::string& rule_id) const;
  bool HasRules(AlertKind kind) const;

  // subject -> (this month's count, whether that count may resolve an alert)
  using QuotaCounts = std::map<std::string, std::pair<std::int64_t, bool>, std::less<>>;
  void EvaluateQuota(const AlertFacts& facts, const std::map<std::string, std::int64_t, std::less<>>& changed,
                     bool sweep);
  // The open quota alerts, each under its rule: all of them when `review_all` (a sweep with the
  // stored counts), else those of a month that ended.
  void ReviewQuotaAlerts(const AlertFacts& facts, const QuotaCounts& counts, int period, bool review_all);
  void EvaluateCredits(const AlertFacts& facts, const std::set<std::string, std::less<>>& touched, bool sweep);
  void EvaluateBreaches(const AlertFacts& facts);
  // Decides one measured value of a subject under one rule and writes the transition, if any.
  // `may_resolve`: this value may resolve an open alert (see the file comment).
  void Observe(const AlertRule& rule, const AlertSubject& subject, std::int64_t value, bool may_resolve);
  void Fire(const AlertRule& rule, const AlertSubject& subject, std::int64_t value);
  void Resolve(const AlertRule& rule, const std::string& subject, std::int64_t value);
  // Resolves the open alert of (rule, subject) if this node answers for it.
  void ResolveOwn(const AlertRule& rule, const std::string& subject, std::int64_t value);

  AlertStore& store_;
  Clock& clock_;
  const AlertMonitorOptions options_;

  std::mutex signals_mu_;
  Signals signals_;  // guarded by signals_mu_
  std::atomic<bool> rules_changed_{false};
  // Set from the rules at each pass: whether usage events are worth looking at.
  std::atomic<bool> watch_credits_{false};
  std::atomic<bool> watch_breaches_{false};
  BreachCounter breaches_;

  // Evaluation thread only.
  std::vector<AlertRule> rules_;
  std::map<OpenKey, Alert> open_;  // firing alerts as of the last sweep, plus this node's transitions
  UnixMillis started_at_ = 0;
  UnixMillis next_sweep_ = 0;
  UnixMillis next_heartbeat_ = 0;
  UnixMillis now_ = 0;       // the current pass's time
  bool transitions_ = false;  // the current pass wrote one

  std::array<std::atomic<std::uint64_t>, 3> fired_{};
  std::atomic<std::uint64_t> resolved_{0};
};

}  // namespace tollgate
