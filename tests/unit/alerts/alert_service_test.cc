// AlertService over a real in-memory store and services: what a rule's scope resolves to, the
// checks no FieldReader can make, webhooks with their secret and events, and page cursors.
#include "alerts/alert_service.h"

#include <memory>

#include <gtest/gtest.h>

#include "result_assertions.h"
#include "services_fixture.h"

namespace tollgate {
namespace {

class AlertServiceTest : public AlertServicesTest {
 protected:
  void SetUp() override {
    AlertServicesTest::SetUp();
    service_ = std::make_unique<AlertService>(*store_, *keys_, *tiers_, clock_, [this] { ++rules_changed_; });
  }

  static std::vector<std::string> Locations(const Error& error) {
    std::vector<std::string> out;
    for (const FieldError& e : error.fields) out.push_back(e.location);
    return out;
  }

  std::unique_ptr<AlertService> service_;
  int rules_changed_ = 0;
};

TEST_F(AlertServiceTest, AnIdentityRuleNamedByExternalIdOrIdKeepsBoth) {
  auto identity = keys_->CreateIdentity({.external_id = "acme", .meta_json = "", .ratelimits = {}, .tier = "pro"});
  ASSERT_TRUE(identity.has_value());
  auto by_external = service_->CreateRule({.kind = AlertKind::kQuotaPercent, .threshold = 80, .external_id = "acme"});
  ASSERT_TRUE(by_external.has_value()) << by_external.error().detail;
  EXPECT_EQ(by_external->identity_id, identity->id);
  EXPECT_EQ(by_external->resolve_threshold, 75);
  EXPECT_EQ(by_external->window_seconds, 0);
  auto by_id = service_->CreateRule({.kind = AlertKind::kRatelimitBreaches, .threshold = 10, .identity_id = identity->id});
  ASSERT_TRUE(by_id.has_value()) << by_id.error().detail;
  EXPECT_EQ(by_id->external_id, "acme");
  EXPECT_EQ(by_id->window_seconds, 60);
  EXPECT_EQ(rules_changed_, 2);
  auto rules = service_->ListRules();
  ASSERT_TRUE(rules.has_value());
  EXPECT_EQ(rules->size(), 2u);
}

TEST_F(AlertServiceTest, RefusesUnknownScopesAndNumbersOutOfRangeAllAtOnce) {
  auto rule = service_->CreateRule({.kind = AlertKind::kQuotaPercent, .threshold = 5000, .tier = "platinum"});
  ASSERT_FALSE(rule.has_value());
  EXPECT_EQ(rule.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(Locations(rule.error()), (std::vector<std::string>{"body.threshold", "body.tier"}));
  EXPECT_EQ(Locations(service_->CreateRule({.kind = AlertKind::kCreditsBelow, .threshold = 5, .identity_id = "id_x"}).error()),
            std::vector<std::string>{"body.identityId"});
  EXPECT_EQ(Locations(service_->CreateRule({.kind = AlertKind::kCreditsBelow, .threshold = 5, .external_id = "x", .tier = "pro"})
                          .error()),
            std::vector<std::string>{"body"});
  EXPECT_EQ(rules_changed_, 0);
}

TEST_F(AlertServiceTest, DeletingARuleTwiceIsNotFound) {
  auto rule = service_->CreateRule({.kind = AlertKind::kCreditsBelow, .threshold = 5});
  ASSERT_TRUE(rule.has_value());
  ASSERT_OK(service_->DeleteRule(rule->id));
  auto again = service_->DeleteRule(rule->id);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
}

TEST_F(AlertServiceTest, AWebhookGetsASecretAndBothEventsByDefault) {
  auto webhook = service_->CreateWebhook({.url = "https://example.com/hook", .description = "ops"});
  ASSERT_TRUE(webhook.has_value()) << webhook.error().detail;
  EXPECT_TRUE(webhook->id.starts_with("wh_"));
  EXPECT_TRUE(webhook->secret.starts_with("whsec_"));
  EXPECT_EQ(webhook->events, (std::vector<std::string>{"alert.firing", "alert.resolved"}));
  auto listed = service_->ListWebhooks();
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].secret, webhook->secret) << "kept whole: every delivery is signed with it";
  auto duplicates = service_->CreateWebhook({.url = "http://hooks.example.com/x", .events = {"alert.resolved", "alert.resolved"}});
  ASSERT_TRUE(duplicates.has_value());
  EXPECT_EQ(duplicates->events, std::vector<std::string>{"alert.resolved"});
  auto bad = service_->CreateWebhook({.url = "gopher://x", .events = {"key.created"}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(Locations(bad.error()), (std::vector<std::string>{"body.url", "body.events[0]"}));
}

TEST_F(AlertServiceTest, AWebhookToAPrivateAddressIsRefusedUnlessAllowed) {
  for (const char* url : {"http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data/", "https://10.0.0.7/x",
                          "http://[::1]:9000/", "http://[::ffff:192.168.1.1]/", "http://0.0.0.0/", "http://localhost:3000/"}) {
    auto refused = service_->CreateWebhook({.url = url});
    ASSERT_FALSE(refused.has_value()) << url;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidInput) << url;
    ASSERT_EQ(Locations(refused.error()), std::vector<std::string>{"body.url"}) << url;
    EXPECT_NE(refused.error().fields[0].message.find("address: tollgate sends webhooks only to public addresses"),
              std::string::npos) << refused.error().fields[0].message;
    EXPECT_NE(refused.error().fields[0].fix.find("--webhook-allow-private-addresses=true"), std::string::npos);
  }
  auto metadata = service_->CreateWebhook({.url = "http://169.254.169.254/latest/meta-data/"});
  ASSERT_FALSE(metadata.has_value());
  EXPECT_TRUE(metadata.error().fields[0].message.starts_with("points at 169.254.169.254, a link-local address"))
      << metadata.error().fields[0].message;
  // A name is checked when the sender resolves it; a public address is fine.
  EXPECT_TRUE(service_->CreateWebhook({.url = "https://hooks.example.com/x"}).has_value());
  EXPECT_TRUE(service_->CreateWebhook({.url = "https://93.184.216.34/x"}).has_value());

  AlertService allowing(*store_, *keys_, *tiers_, clock_, {}, /*allow_private_webhook_addresses=*/true);
  auto local = allowing.CreateWebhook({.url = "http://127.0.0.1:8080/hook"});
  ASSERT_TRUE(local.has_value()) << local.error().detail;
  EXPECT_EQ(local->url, "http://127.0.0.1:8080/hook");
}

TEST_F(AlertServiceTest, CursorsAreTheOnesTheStoreGaveAndNothingElse) {
  auto page = service_->ListAlerts({}, std::string("12x"), 10);
  ASSERT_FALSE(page.has_value());
  EXPECT_EQ(Locations(page.error()), std::vector<std::string>{"body.cursor"});
  auto empty = service_->ListDeliveries({}, std::nullopt, 10);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->items.empty());
  EXPECT_FALSE(empty->cursor.has_value());
}

}  // namespace
}  // namespace tollgate
