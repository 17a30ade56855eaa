// SqliteStore's alerts.list and webhooks.listDeliveries reads (sqlite_alert_queries.h), asked of
// SQLite's planner on the real schema: a filter that is set is answered through its index, and
// the statement text depends only on which filters are set, so the texts stay few.
#include "storage/sqlite/sqlite_alert_queries.h"

#include <string>

#include <gtest/gtest.h>

#include "result_assertions.h"
#include "storage/sqlite/migrations.h"
#include "storage/sqlite/sqlite_connection.h"

namespace tollgate {
namespace {

class SqliteAlertQueriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto connection = SqliteConnection::Open(":memory:");
    ASSERT_TRUE(connection.has_value()) << connection.error().detail;
    connection_.emplace(std::move(*connection));
    ASSERT_OK(ApplyMigrations(*connection_, SchemaMigrations(), 0));
  }

  // SQLite's plan of `query`, its steps joined by " | ".
  std::string Plan(const storage::HistoryQuery& query) {
    auto statement = connection_->Prepare("EXPLAIN QUERY PLAN " + query.sql);
    EXPECT_TRUE(statement.has_value()) << query.sql;
    if (!statement) return "";
    std::string plan;
    for (;;) {
      auto row = statement->Step();
      EXPECT_TRUE(row.has_value());
      if (!row || !*row) return plan;
      plan += (plan.empty() ? "" : " | ") + statement->ColumnText(3);
    }
  }

  std::optional<SqliteConnection> connection_;
};

TEST_F(SqliteAlertQueriesTest, AlertsFilteredByRuleOrIdentityAreReadThroughTheirIndex) {
  EXPECT_NE(Plan(SqliteAlertHistoryQuery({.rule_id = "arule_1"})).find("USING INDEX alerts_by_rule (rule_id=? AND seq<?)"),
            std::string::npos)
      << Plan(SqliteAlertHistoryQuery({.rule_id = "arule_1"}));
  EXPECT_NE(Plan(SqliteAlertHistoryQuery({.identity_id = "id_a", .state = AlertState::kFiring}))
                .find("USING INDEX alerts_by_identity (identity_id=? AND seq<?)"),
            std::string::npos)
      << Plan(SqliteAlertHistoryQuery({.identity_id = "id_a", .state = AlertState::kFiring}));
  const std::string all = Plan(SqliteAlertHistoryQuery({.rule_id = "arule_1", .identity_id = "id_a",
                                                        .state = AlertState::kResolved}));
  EXPECT_NE(all.find("USING INDEX"), std::string::npos) << all;
  // Unfiltered, or by state only: newest first along the primary key, from the cursor down.
  for (const AlertFilter& filter : {AlertFilter{}, AlertFilter{.state = AlertState::kFiring}}) {
    const std::string plan = Plan(SqliteAlertHistoryQuery(filter));
    EXPECT_NE(plan.find("SEARCH alerts USING INTEGER PRIMARY KEY (rowid<?)"), std::string::npos) << plan;
  }
}

TEST_F(SqliteAlertQueriesTest, DeliveriesFilteredByWebhookAreReadThroughItsIndex) {
  for (const DeliveryFilter& filter : {DeliveryFilter{.webhook_id = "wh_1"},
                                       DeliveryFilter{.webhook_id = "wh_1", .status = DeliveryStatus::kPending}}) {
    const std::string plan = Plan(SqliteDeliveryHistoryQuery(filter));
    EXPECT_NE(plan.find("USING INDEX webhook_deliveries_by_webhook (webhook_id=? AND seq<?)"), std::string::npos)
        << plan;
  }
  EXPECT_NE(Plan(SqliteDeliveryHistoryQuery({.status = DeliveryStatus::kFailed})).find("USING INTEGER PRIMARY KEY"),
            std::string::npos);
}

TEST_F(SqliteAlertQueriesTest, TheTextDependsOnlyOnWhichFiltersAreSet) {
  const auto a = SqliteAlertHistoryQuery({.rule_id = "arule_1", .state = AlertState::kFiring});
  const auto b = SqliteAlertHistoryQuery({.rule_id = "arule_2", .state = AlertState::kResolved});
  EXPECT_EQ(a.sql, b.sql);
  EXPECT_EQ(a.values, (std::vector<std::string>{"arule_1", "firing"}));
  EXPECT_EQ(a.cursor_param(), 3);
  EXPECT_EQ(a.limit_param(), 4);
  EXPECT_NE(a.sql, SqliteAlertHistoryQuery({.rule_id = "arule_1"}).sql);
  EXPECT_EQ(SqliteDeliveryHistoryQuery({}).values.size(), 0u);
}

}  // namespace
}  // namespace tollgate
