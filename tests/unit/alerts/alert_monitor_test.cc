// The AlertMonitor on a real in-memory SQLite store, with made-up facts and a ManualClock: each kind
// fires once per crossing and resolves with hysteresis, a new month resolves quota alerts, the
// store arbitrates between two nodes and across a restart, node-local facts are resolved only by
// the node that fired (or, once that node is gone, by a live node that took its alerts over), a
// sweep resolves the alerts whose subject left the rule's scope or has nothing left to measure,
// and a rule created late finds the subjects already past it.
#include "alerts/alert_monitor.h"

#include <map>
#include <memory>

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "alerts/rule_policy.h"
#include "common/calendar.h"
#include "storage/sqlite/sqlite_store.h"
#include "verify/quota_tracker.h"

namespace tollgate {
namespace {

constexpr UnixMillis kSecond = 1000;
const UnixMillis kJanuary = FromCivil({2026, 1, 15});
const UnixMillis kFebruary = FromCivil({2026, 2, 1}) + 10 * kSecond;

const AlertSubject kAcme{.key = "i:id_a", .identity_id = "id_a", .external_id = "acme", .key_id = "", .tier = "pro"};
const AlertSubject kGlobex{.key = "i:id_g", .identity_id = "id_g", .external_id = "globex", .key_id = "", .tier = "free"};

// Facts set by the test: quota subjects with their included quota and this node's counts, the
// stored counters, credit balances, breach subjects.
class FakeFacts final : public AlertFacts {
 public:
  std::map<std::string, QuotaSubjectFacts, std::less<>> quota;
  std::map<std::pair<std::string, int>, std::int64_t> node_counts;
  std::vector<QuotaRow> stored;
  std::map<std::string, CreditFacts> credits;

  std::optional<QuotaSubjectFacts> QuotaSubject(std::string_view subject) const override {
    const auto it = quota.find(subject);
    return it == quota.end() ? std::nullopt : std::optional(it->second);
  }
  std::int64_t QuotaUsed(std::string_view subject, int period) const override {
    const auto it = node_counts.find({std::string(subject), period});
    return it == node_counts.end() ? 0 : it->second;
  }
  Result<std::vector<QuotaRow>> StoredQuotaUsage(int period) const override {
    std::vector<QuotaRow> rows;
    for (const QuotaRow& row : stored) {
      if (row.period == period) rows.push_back(row);
    }
    return rows;
  }
  std::optional<CreditFacts> Credits(const std::string& key_id) const override {
    const auto it = credits.find(key_id);
    return it == credits.end() ? std::nullopt : std::optional(it->second);
  }
  std::vector<std::string> KeyIds() const override {
    std::vector<std::string> ids;
    for (const auto& [id, facts] : credits) ids.push_back(id);
    return ids;
  }
  AlertSubject BreachSubject(std::string_view external_id, std::string_view key_id) const override {
    if (external_id == "acme") return kAcme;
    return {.key = "k:" + std::string(key_id), .key_id = std::string(key_id)};
  }
};

class AlertMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
    Webhook webhook;
    webhook.id = "wh_1";
    webhook.url = "https://example.com/hook";
    webhook.events = {"alert.firing", "alert.resolved"};
    webhook.secret = "whsec_1";
    ASSERT_OK(store_->InsertWebhook(webhook));
    facts_.quota["i:id_a"] = {kAcme, 10};
    facts_.quota["i:id_g"] = {kGlobex, 100};
  }

  AlertRule AddRule(AlertKind kind, std::int64_t threshold, std::string tier = "", std::int64_t window = 0) {
    AlertRule rule;
    rule.id = "arule_" + std::to_string(++rules_);
    rule.kind = kind;
    rule.threshold = threshold;
    rule.resolve_threshold = DefaultResolveThreshold(kind, threshold);
    rule.window_seconds = window;
    rule.tier = std::move(tier);
    rule.created_at = clock_.NowMillis();
    EXPECT_TRUE(store_->InsertAlertRule(rule).has_value());
    return rule;
  }

  // This node saved `used` for the subject this month (what the QuotaTracker's flush reports).
  void Count(AlertMonitor& monitor, const std::string& subject, std::int64_t used) {
    const int period = QuotaPeriodOf(clock_.NowMillis());
    facts_.node_counts[{subject, period}] = used;
    const QuotaRow row{subject, period, used};
    monitor.QuotaSaved(std::span<const QuotaRow>(&row, 1));
  }

  bool Evaluate(AlertMonitor& monitor) {
    auto evaluated = monitor.Evaluate(facts_);
    EXPECT_TRUE(evaluated.has_value()) << evaluated.error().detail;
    return evaluated.value_or(false);
  }

  // Every alert, oldest first, as "<rule> <subject> <state> <value>[/<resolved value>]".
  std::vector<std::string> History() {
    auto page = store_->ListAlerts({}, std::nullopt, 100);
    EXPECT_TRUE(page.has_value());
    std::vector<std::string> lines;
    for (auto it = page->items.rbegin(); it != page->items.rend(); ++it) {
      std::string line = it->rule_id + " " + it->subject.key + " " + std::string(AlertStateName(it->state)) + " " +
                         std::to_string(it->value);
      if (it->resolved_value) line += "/" + std::to_string(*it->resolved_value);
      lines.push_back(line);
    }
    return lines;
  }

  std::vector<std::string> EventTypes() {
    auto events = store_->OutboxEventsAfter(0, 100);
    EXPECT_TRUE(events.has_value());
    std::vector<std::string> types;
    for (const OutboxEvent& e : *events) types.push_back(e.event.type);
    return types;
  }

  UsageEvent Usage(std::string code, std::string key_id, std::string external_id = "") {
    UsageEvent event;
    event.at = clock_.NowMillis();
    event.code = code;
    event.key_id = key_id;
    event.external_id = external_id;
    return event;
  }

  ManualClock clock_{kJanuary};
  std::unique_ptr<SqliteStore> store_;
  FakeFacts facts_;
  int rules_ = 0;
};

TEST_F(AlertMonitorTest, QuotaRulesFireOncePerCrossingWithAnEventAndADeliveryEach) {
  const AlertRule at80 = AddRule(AlertKind::kQuotaPercent, 80, "pro");
  const AlertRule at100 = AddRule(AlertKind::kQuotaPercent, 100, "pro");
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  Count(monitor, "i:id_a", 7);
  EXPECT_FALSE(Evaluate(monitor));
  Count(monitor, "i:id_a", 8);
  EXPECT_TRUE(Evaluate(monitor));
  Count(monitor, "i:id_a", 9);
  EXPECT_FALSE(Evaluate(monitor));
  Count(monitor, "i:id_a", 10);
  EXPECT_TRUE(Evaluate(monitor));
  Count(monitor, "i:id_a", 12);
  EXPECT_FALSE(Evaluate(monitor));
  EXPECT_EQ(History(), (std::vector<std::string>{at80.id + " i:id_a firing 80", at100.id + " i:id_a firing 100"}));
  EXPECT_EQ(EventTypes(), (std::vector<std::string>{"alert.firing", "alert.firing"}));
  auto deliveries = store_->ListDeliveries({}, std::nullopt, 10);
  ASSERT_TRUE(deliveries.has_value());
  EXPECT_EQ(deliveries->items.size(), 2u);
  EXPECT_EQ(monitor.Counters().fired[static_cast<std::size_t>(AlertKind::kQuotaPercent)], 2u);
}

TEST_F(AlertMonitorTest, ATierRuleIgnoresOtherTiersAndSubjectsWithoutQuota) {
  AddRule(AlertKind::kQuotaPercent, 80, "pro");
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  Count(monitor, "i:id_g", 100);  // free: 100 %
  Count(monitor, "k:key_unknown", 1'000);  // no facts: gone, or its tier has no included quota
  EXPECT_FALSE(Evaluate(monitor));
  EXPECT_TRUE(History().empty());
}

TEST_F(AlertMonitorTest, ANewMonthResolvesAndTheNextCrossingFiresAgain) {
  const AlertRule rule = AddRule(AlertKind::kQuotaPercent, 80);
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  Count(monitor, "i:id_a", 9);
  EXPECT_TRUE(Evaluate(monitor));
  clock_.Set(kFebruary);
  EXPECT_TRUE(Evaluate(monitor));  // no count yet this month: 0 %
  Count(monitor, "i:id_a", 8);
  EXPECT_TRUE(Evaluate(monitor));
  EXPECT_EQ(History(), (std::vector<std::string>{rule.id + " i:id_a resolved 90/0", rule.id + " i:id_a firing 80"}));
  EXPECT_EQ(EventTypes(), (std::vector<std::string>{"alert.firing", "alert.resolved", "alert.firing"}));
}

TEST_F(AlertMonitorTest, ANewMonthResolvesTheAlertsOfACustomerGoneSince) {
  const AlertRule rule = AddRule(AlertKind::kQuotaPercent, 80);
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  Count(monitor, "i:id_a", 8);
  EXPECT_TRUE(Evaluate(monitor));
  facts_.quota.erase("i:id_a");  // the identity was deleted
  EXPECT_FALSE(Evaluate(monitor));
  clock_.Set(kFebruary);
  EXPECT_TRUE(Evaluate(monitor));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a resolved 80/0"});
}

TEST_F(AlertMonitorTest, ANodesOwnLowerCountNeverResolvesOnlyTheSweepOfTheHighestCountsDoes) {
  const AlertRule rule = AddRule(AlertKind::kQuotaPercent, 80);
  AlertMonitor a(*store_, clock_, {.node = "node-a", .sweep_interval = std::chrono::seconds(30)});
  AlertMonitor b(*store_, clock_, {.node = "node-b", .sweep_interval = std::chrono::seconds(30)});
  const int period = QuotaPeriodOf(kJanuary);
  facts_.stored = {{"i:id_a", period, 9}};
  Count(a, "i:id_a", 9);
  EXPECT_TRUE(Evaluate(a));
  EXPECT_FALSE(Evaluate(b));  // b's first pass sweeps: 90 % fires nothing new (open already)
  // b serves the customer too and saves its own, lower view: that may fire, never resolve.
  const QuotaRow low{"i:id_a", period, 2};
  b.QuotaSaved(std::span<const QuotaRow>(&low, 1));
  EXPECT_FALSE(Evaluate(b));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a firing 90"});
  // The customer moves to a larger plan: the sweep (highest stored count) resolves.
  facts_.quota["i:id_a"].included = 100;
  clock_.Advance(31 * kSecond);
  EXPECT_TRUE(Evaluate(b));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a resolved 90/9"});
}

TEST_F(AlertMonitorTest, ATierRulesAlertResolvesWhenTheCustomerMovesToAnotherTier) {
  const AlertRule rule = AddRule(AlertKind::kQuotaPercent, 80, "pro");
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  facts_.stored = {{"i:id_a", QuotaPeriodOf(kJanuary), 8}};
  Count(monitor, "i:id_a", 8);
  EXPECT_TRUE(Evaluate(monitor));
  // Moved to enterprise (with the same quota, so only the change of tier can resolve it): the
  // "pro" rule no longer watches the customer, and its alert must not stay firing all month.
  facts_.quota["i:id_a"].subject.tier = "enterprise";
  clock_.Advance(31 * kSecond);
  EXPECT_TRUE(Evaluate(monitor));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a resolved 80/80"});
  EXPECT_EQ(EventTypes(), (std::vector<std::string>{"alert.firing", "alert.resolved"}));
  clock_.Advance(31 * kSecond);
  EXPECT_FALSE(Evaluate(monitor)) << "the pro rule does not fire for an enterprise customer";
}

TEST_F(AlertMonitorTest, ACustomerWithoutAQuotaAnyMoreIsResolvedAtTheNextSweep) {
  const AlertRule rule = AddRule(AlertKind::kQuotaPercent, 80);
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  Count(monitor, "i:id_a", 9);
  EXPECT_TRUE(Evaluate(monitor));
  facts_.quota.erase("i:id_a");  // an unlimited tier now (or the identity was deleted)
  EXPECT_FALSE(Evaluate(monitor)) << "not before the sweep";
  clock_.Advance(31 * kSecond);
  EXPECT_TRUE(Evaluate(monitor));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a resolved 90/0"});
}

TEST_F(AlertMonitorTest, TwoNodesSeeingTheSameCrossingFireOnce) {
  AddRule(AlertKind::kQuotaPercent, 80);
  AlertMonitor a(*store_, clock_, {.node = "node-a"});
  AlertMonitor b(*store_, clock_, {.node = "node-b"});
  Count(a, "i:id_a", 8);
  Count(b, "i:id_a", 8);
  const bool fired_a = Evaluate(a);
  const bool fired_b = Evaluate(b);
  EXPECT_NE(fired_a, fired_b) << "exactly one of them writes it";
  EXPECT_EQ(History().size(), 1u);
  EXPECT_EQ(EventTypes().size(), 1u);
}

TEST_F(AlertMonitorTest, ARestartedNodeDoesNotFireAgainWhatIsOpen) {
  AddRule(AlertKind::kQuotaPercent, 80);
  {
    AlertMonitor before(*store_, clock_, {.node = "node-a"});
    Count(before, "i:id_a", 8);
    EXPECT_TRUE(Evaluate(before));
  }
  AlertMonitor after(*store_, clock_, {.node = "node-a"});
  Count(after, "i:id_a", 9);
  EXPECT_FALSE(Evaluate(after));
  EXPECT_EQ(History().size(), 1u);
}

TEST_F(AlertMonitorTest, ARuleCreatedLaterFindsTheSubjectsAlreadyPastIt) {
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  EXPECT_FALSE(Evaluate(monitor));
  facts_.stored = {{"i:id_a", QuotaPeriodOf(kJanuary), 10}};
  const AlertRule rule = AddRule(AlertKind::kQuotaPercent, 80);
  monitor.RulesChanged();
  EXPECT_TRUE(Evaluate(monitor));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a firing 100"});
}

TEST_F(AlertMonitorTest, ADeletedRuleStopsEvaluatingAndResolvesNothing) {
  const AlertRule rule = AddRule(AlertKind::kQuotaPercent, 80);
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  Count(monitor, "i:id_a", 8);
  EXPECT_TRUE(Evaluate(monitor));
  ASSERT_OK(store_->DeleteAlertRule(rule.id, clock_.NowMillis()));
  clock_.Set(kFebruary);
  EXPECT_FALSE(Evaluate(monitor));
  Count(monitor, "i:id_a", 10);
  EXPECT_FALSE(Evaluate(monitor));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a firing 80"});
}

TEST_F(AlertMonitorTest, CreditsFireBelowTheThresholdAndOnlyTheFiringNodeResolves) {
  const AlertRule rule = AddRule(AlertKind::kCreditsBelow, 10);  // resolves at 11
  const AlertSubject key{.key = "k:key_1", .identity_id = "", .external_id = "", .key_id = "key_1", .tier = ""};
  AlertMonitor a(*store_, clock_, {.node = "node-a"});
  AlertMonitor b(*store_, clock_, {.node = "node-b"});
  EXPECT_FALSE(Evaluate(a));  // reads the rules: usage is watched from now on
  EXPECT_FALSE(Evaluate(b));
  facts_.credits["key_1"] = {key, 9};
  const std::vector<UsageEvent> used = {Usage("VALID", "key_1")};
  a.UsageWritten(used);
  EXPECT_TRUE(Evaluate(a));
  facts_.credits["key_1"].remaining = 10;  // inside the band
  a.UsageWritten(used);
  EXPECT_FALSE(Evaluate(a));
  facts_.credits["key_1"].remaining = 50;  // b's own copy of the balance is higher: not b's alert
  b.UsageWritten(used);
  EXPECT_FALSE(Evaluate(b));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " k:key_1 firing 9"});
  facts_.credits["key_1"].remaining = 11;  // topped up on a: a resolves, without new usage
  EXPECT_TRUE(Evaluate(a));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " k:key_1 resolved 9/11"});
}

TEST_F(AlertMonitorTest, ACreditsAlertOfAGoneNodeIsTakenOverAndResolvedByALiveNode) {
  const AlertRule rule = AddRule(AlertKind::kCreditsBelow, 10);  // resolves at 11
  const AlertSubject key{.key = "k:key_1", .identity_id = "", .external_id = "", .key_id = "key_1", .tier = ""};
  auto a = std::make_unique<AlertMonitor>(*store_, clock_, AlertMonitorOptions{.node = "node-a"});
  AlertMonitor b(*store_, clock_, {.node = "node-b"});
  EXPECT_FALSE(Evaluate(*a));
  EXPECT_FALSE(Evaluate(b));
  facts_.credits["key_1"] = {key, 9};
  a->UsageWritten(std::vector<UsageEvent>{Usage("VALID", "key_1")});
  EXPECT_TRUE(Evaluate(*a));
  // node-a is alive: b's sweep leaves a's alert alone, whatever b's own copy of the balance says.
  clock_.Advance(31 * kSecond);
  EXPECT_FALSE(Evaluate(*a));
  facts_.credits["key_1"].remaining = 50;
  EXPECT_FALSE(Evaluate(b));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " k:key_1 firing 9"});
  // node-a never comes back (a rolling deploy gave its container a new hostname, hence a new node
  // name). A node that just started takes nothing over: it has not yet seen every live node.
  a.reset();
  clock_.Advance(31 * kSecond);
  AlertMonitor c(*store_, clock_, {.node = "node-c"});
  EXPECT_FALSE(Evaluate(c));
  // b has run for long enough, and node-a was not seen for 31 s: b takes the alert over.
  EXPECT_TRUE(Evaluate(b));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " k:key_1 resolved 9/50"});
}

TEST_F(AlertMonitorTest, ABreachAlertOfAGoneNodeIsResolvedByALiveNodeOnceQuiet) {
  const AlertRule rule = AddRule(AlertKind::kRatelimitBreaches, 2, "", 60);
  auto a = std::make_unique<AlertMonitor>(*store_, clock_, AlertMonitorOptions{.node = "node-a"});
  AlertMonitor b(*store_, clock_, {.node = "node-b"});
  EXPECT_FALSE(Evaluate(*a));
  EXPECT_FALSE(Evaluate(b));
  a->UsageWritten(std::vector<UsageEvent>{Usage("RATE_LIMITED", "key_1", "acme"), Usage("RATE_LIMITED", "key_1", "acme")});
  EXPECT_TRUE(Evaluate(*a));
  a.reset();
  for (int i = 0; i < 13; ++i) {  // b evaluates every 5 s, and sees no breach of acme
    clock_.Advance(5 * kSecond);
    Evaluate(b);
  }
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a resolved 2/0"});
}

TEST_F(AlertMonitorTest, ACreditsAlertOfADeletedKeyIsResolvedByItsNode) {
  const AlertRule rule = AddRule(AlertKind::kCreditsBelow, 10);
  const AlertSubject key{.key = "k:key_1", .identity_id = "", .external_id = "", .key_id = "key_1", .tier = ""};
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  EXPECT_FALSE(Evaluate(monitor));
  facts_.credits["key_1"] = {key, 3};
  monitor.UsageWritten(std::vector<UsageEvent>{Usage("VALID", "key_1")});
  EXPECT_TRUE(Evaluate(monitor));
  facts_.credits.erase("key_1");  // deleted, or given unlimited credits: no balance left to watch
  EXPECT_TRUE(Evaluate(monitor));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " k:key_1 resolved 3/0"});
}

TEST_F(AlertMonitorTest, BreachesFireAtTheCountInTheWindowAndResolveOnceItEmpties) {
  const AlertRule rule = AddRule(AlertKind::kRatelimitBreaches, 3, "", 60);  // resolves at 1
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  EXPECT_FALSE(Evaluate(monitor));
  monitor.UsageWritten(std::vector<UsageEvent>{Usage("RATE_LIMITED", "key_1", "acme"), Usage("VALID", "key_1", "acme"),
                                               Usage("RATE_LIMITED", "key_2", "acme")});
  EXPECT_FALSE(Evaluate(monitor));  // 2 of 3
  clock_.Advance(30 * kSecond);
  monitor.UsageWritten(std::vector<UsageEvent>{Usage("RATE_LIMITED", "key_1", "acme")});
  EXPECT_TRUE(Evaluate(monitor));  // 3 within 60 s
  clock_.Advance(31 * kSecond);
  EXPECT_TRUE(Evaluate(monitor));  // the first two left the window: 1 left, at the resolve threshold
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a resolved 3/1"});
}

TEST_F(AlertMonitorTest, UsageBetweenARuleCreatedHereAndTheNextPassCounts) {
  AlertMonitor monitor(*store_, clock_, {.node = "node-a"});
  EXPECT_FALSE(Evaluate(monitor));  // no rules: usage is not looked at
  const AlertRule rule = AddRule(AlertKind::kRatelimitBreaches, 2, "", 60);
  monitor.RulesChanged();
  monitor.UsageWritten(std::vector<UsageEvent>{Usage("RATE_LIMITED", "key_1", "acme"), Usage("RATE_LIMITED", "key_1", "acme")});
  EXPECT_TRUE(Evaluate(monitor));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a firing 2"});
}

TEST_F(AlertMonitorTest, ARestartedNodeResolvesItsBreachAlertsOnlyAfterWatchingAWholeWindow) {
  const AlertRule rule = AddRule(AlertKind::kRatelimitBreaches, 2, "", 60);
  {
    AlertMonitor before(*store_, clock_, {.node = "node-a"});
    EXPECT_FALSE(Evaluate(before));
    before.UsageWritten(std::vector<UsageEvent>{Usage("RATE_LIMITED", "key_1", "acme"), Usage("RATE_LIMITED", "key_1", "acme")});
    EXPECT_TRUE(Evaluate(before));
  }
  clock_.Advance(5 * kSecond);
  AlertMonitor after(*store_, clock_, {.node = "node-a"});
  EXPECT_FALSE(Evaluate(after));
  clock_.Advance(50 * kSecond);
  EXPECT_FALSE(Evaluate(after));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a firing 2"});
  clock_.Advance(11 * kSecond);  // a whole window since the restart, nothing in it
  EXPECT_TRUE(Evaluate(after));
  EXPECT_EQ(History(), std::vector<std::string>{rule.id + " i:id_a resolved 2/0"});
}

}  // namespace
}  // namespace tollgate
