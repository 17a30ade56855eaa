// The rules' arithmetic: defaults, what a rule may hold per kind, whom it watches, and the
// hysteresis of Decide (once per crossing, resolve past the other threshold, fire again after).
#include "alerts/rule_policy.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

AlertRule Rule(AlertKind kind, std::int64_t threshold) {
  AlertRule rule;
  rule.id = "arule_1";
  rule.kind = kind;
  rule.threshold = threshold;
  rule.resolve_threshold = DefaultResolveThreshold(kind, threshold);
  return rule;
}

std::vector<std::string> Locations(const std::vector<FieldError>& errors) {
  std::vector<std::string> out;
  for (const FieldError& e : errors) out.push_back(e.location);
  return out;
}

TEST(RulePolicyTest, DefaultResolveThresholdsSitOnTheOtherSideOfTheThreshold) {
  EXPECT_EQ(DefaultResolveThreshold(AlertKind::kQuotaPercent, 80), 75);
  EXPECT_EQ(DefaultResolveThreshold(AlertKind::kQuotaPercent, 3), 0);  // never below 0
  EXPECT_EQ(DefaultResolveThreshold(AlertKind::kCreditsBelow, 100), 110);
  EXPECT_EQ(DefaultResolveThreshold(AlertKind::kCreditsBelow, 5), 6);  // at least one above
  EXPECT_EQ(DefaultResolveThreshold(AlertKind::kRatelimitBreaches, 9), 4);
  EXPECT_EQ(DefaultResolveThreshold(AlertKind::kRatelimitBreaches, 1), 0);
}

TEST(RulePolicyTest, DefaultsAlwaysPassTheirOwnCheck) {
  for (AlertKind kind : {AlertKind::kQuotaPercent, AlertKind::kCreditsBelow, AlertKind::kRatelimitBreaches}) {
    for (std::int64_t threshold : {1, 2, 5, 10, 80, 100, 1000}) {
      EXPECT_TRUE(CheckRuleNumbers(kind, threshold, DefaultResolveThreshold(kind, threshold), std::nullopt).empty())
          << AlertKindName(kind) << " " << threshold;
    }
  }
}

TEST(RulePolicyTest, ThresholdRangesDependOnTheKind) {
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kQuotaPercent, 0, std::nullopt, std::nullopt)),
            std::vector<std::string>{"body.threshold"});
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kQuotaPercent, 1001, std::nullopt, std::nullopt)),
            std::vector<std::string>{"body.threshold"});
  EXPECT_TRUE(CheckRuleNumbers(AlertKind::kQuotaPercent, 1000, std::nullopt, std::nullopt).empty());
  EXPECT_TRUE(CheckRuleNumbers(AlertKind::kCreditsBelow, 5000, std::nullopt, std::nullopt).empty());
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kRatelimitBreaches, -1, std::nullopt, std::nullopt)),
            std::vector<std::string>{"body.threshold"});
  const auto errors = CheckRuleNumbers(AlertKind::kQuotaPercent, 2000, std::nullopt, std::nullopt);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("between 1 and 1000"), std::string::npos) << errors[0].message;
}

TEST(RulePolicyTest, AResolveThresholdOnTheWrongSideIsRefusedWithTheDefaultAsFix) {
  const auto above = CheckRuleNumbers(AlertKind::kQuotaPercent, 80, 80, std::nullopt);
  ASSERT_EQ(Locations(above), std::vector<std::string>{"body.resolveThreshold"});
  EXPECT_NE(above[0].message.find("below the threshold 80"), std::string::npos) << above[0].message;
  EXPECT_NE(above[0].fix.find("75"), std::string::npos) << above[0].fix;
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kQuotaPercent, 80, -1, std::nullopt)),
            std::vector<std::string>{"body.resolveThreshold"});
  EXPECT_TRUE(CheckRuleNumbers(AlertKind::kQuotaPercent, 80, 79, std::nullopt).empty());
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kCreditsBelow, 10, 10, std::nullopt)),
            std::vector<std::string>{"body.resolveThreshold"});
  EXPECT_TRUE(CheckRuleNumbers(AlertKind::kCreditsBelow, 10, 11, std::nullopt).empty());
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kRatelimitBreaches, 10, 10, std::nullopt)),
            std::vector<std::string>{"body.resolveThreshold"});
}

TEST(RulePolicyTest, OnlyBreachRulesHaveAWindowOfUpToADay) {
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kQuotaPercent, 80, std::nullopt, 60)),
            std::vector<std::string>{"body.windowSeconds"});
  EXPECT_TRUE(CheckRuleNumbers(AlertKind::kRatelimitBreaches, 5, std::nullopt, 86'400).empty());
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kRatelimitBreaches, 5, std::nullopt, 86'401)),
            std::vector<std::string>{"body.windowSeconds"});
  EXPECT_EQ(Locations(CheckRuleNumbers(AlertKind::kRatelimitBreaches, 5, std::nullopt, 0)),
            std::vector<std::string>{"body.windowSeconds"});
}

TEST(RulePolicyTest, QuotaAlertFiresOncePerCrossingAndResolvesBelowTheBand) {
  const AlertRule rule = Rule(AlertKind::kQuotaPercent, 80);  // resolves at 75
  bool open = false;
  std::vector<std::string> seen;
  // A value that climbs, wobbles around the threshold, falls past the band and climbs again.
  for (std::int64_t value : {10, 79, 80, 81, 79, 80, 76, 75, 79, 80, 100}) {
    switch (Decide(rule, value, open)) {
      case Transition::kFire: seen.push_back("fire@" + std::to_string(value)); open = true; break;
      case Transition::kResolve: seen.push_back("resolve@" + std::to_string(value)); open = false; break;
      case Transition::kNone: break;
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"fire@80", "resolve@75", "fire@80"}));
}

TEST(RulePolicyTest, CreditsAlertFiresBelowAndResolvesAtOrAboveTheResolveThreshold) {
  const AlertRule rule = Rule(AlertKind::kCreditsBelow, 10);  // resolves at 11
  EXPECT_EQ(Decide(rule, 10, false), Transition::kNone);
  EXPECT_EQ(Decide(rule, 9, false), Transition::kFire);
  EXPECT_EQ(Decide(rule, 0, true), Transition::kNone);
  EXPECT_EQ(Decide(rule, 10, true), Transition::kNone);  // inside the band
  EXPECT_EQ(Decide(rule, 11, true), Transition::kResolve);
}

TEST(RulePolicyTest, BreachAlertFiresAtTheCountAndResolvesAtHalf) {
  const AlertRule rule = Rule(AlertKind::kRatelimitBreaches, 10);  // resolves at 5
  EXPECT_EQ(Decide(rule, 9, false), Transition::kNone);
  EXPECT_EQ(Decide(rule, 10, false), Transition::kFire);
  EXPECT_EQ(Decide(rule, 6, true), Transition::kNone);
  EXPECT_EQ(Decide(rule, 5, true), Transition::kResolve);
}

TEST(RulePolicyTest, ARuleWatchesItsIdentityItsTierOrEveryone) {
  const AlertSubject acme{.key = "i:id_a", .identity_id = "id_a", .external_id = "acme", .key_id = "", .tier = "pro"};
  const AlertSubject lone{.key = "k:key_1", .identity_id = "", .external_id = "", .key_id = "key_1", .tier = "free"};
  AlertRule global = Rule(AlertKind::kQuotaPercent, 80);
  EXPECT_TRUE(RuleWatches(global, acme));
  EXPECT_TRUE(RuleWatches(global, lone));
  AlertRule pro = global;
  pro.tier = "pro";
  EXPECT_TRUE(RuleWatches(pro, acme));
  EXPECT_FALSE(RuleWatches(pro, lone));
  AlertRule identity = global;
  identity.identity_id = "id_a";
  identity.external_id = "acme";
  EXPECT_TRUE(RuleWatches(identity, acme));
  EXPECT_FALSE(RuleWatches(identity, lone));
}

}  // namespace
}  // namespace tollgate
