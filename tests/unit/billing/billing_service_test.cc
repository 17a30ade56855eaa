// The billing engine on a real in-memory SQLite store, with the README's worked example: October
// 2026 (31 days) for a free customer (blocked at its quota), a pro customer with overage, and one
// upgraded from pro to enterprise at midnight of the 16th. Every amount is worked out by hand in
// the comments.
#include "billing/billing_service.h"

#include <gtest/gtest.h>

#include "result_assertions.h"

#include "common/calendar.h"
#include "events/inprocess/in_process_event_bus.h"
#include "events/outbox_relay.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

constexpr std::int64_t kCent = kMicrosPerMinor;
const UnixMillis kOct1 = FromCivil({2026, 10, 1});
const UnixMillis kOct16 = FromCivil({2026, 10, 16});
const UnixMillis kNov1 = FromCivil({2026, 11, 1});
constexpr UnixMillis kHour = 3'600'000;

class BillingServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(kSqliteInMemoryPath);
    ASSERT_OK(store);
    store_ = std::move(*store);
    auto tiers = TierService::Create(*store_, clock_);
    ASSERT_OK(tiers);
    tiers_ = std::move(*tiers);
    // pro: 0.50 per 1,000 requests for the first 1M past the quota, 0.30 beyond (graduated);
    // tokens 2M included, then 2 cents per 1,000 up to 10M over, 1 cent beyond (volume).
    UpdateTierParams pro{.name = "pro"};
    pro.meters = std::vector<MeterPricing>{
        {.meter = "requests", .package_size = 1'000, .slices = {{1'000'000, 50 * kCent}, {std::nullopt, 30 * kCent}}},
        {.meter = "tokens", .included = 2'000'000, .model = OverageModel::kVolume, .package_size = 1'000,
         .slices = {{10'000'000, 2 * kCent}, {std::nullopt, 1 * kCent}}}};
    ASSERT_OK(tiers_->UpdateTier(pro));
    UpdateTierParams enterprise{.name = "enterprise"};
    enterprise.meters = std::vector<MeterPricing>{
        {.meter = "tokens", .included = 100'000'000, .package_size = 1'000, .slices = {{std::nullopt, kCent / 2}}}};
    ASSERT_OK(tiers_->UpdateTier(enterprise));
    events_.Subscribe("invoice.*", [this](const Event& event) { published_.push_back(event.payload_json); });

    AddCustomer("free-co", "free");
    AddCustomer("pro-co", "pro");
    AddCustomer("ent-co", "pro");
  }

  void AddCustomer(const std::string& external_id, const std::string& tier) {
    ASSERT_OK(store_->InsertIdentity(
        Identity{.id = "id_" + external_id, .external_id = external_id, .tier = tier, .created_at = kOct1 - kHour}));
  }

  void Ingest(const std::string& external_id, const std::string& meter, std::int64_t quantity, UnixMillis at) {
    const MeterEvent event{external_id + "/" + meter + "/" + std::to_string(at), at, external_id, "", meter, quantity};
    ASSERT_OK(store_->IngestMeterEvents(std::span(&event, 1), at));
  }

  void PlayOctober() {
    Ingest("free-co", "requests", 12'000, kOct1 + 5 * kHour);
    Ingest("free-co", "tokens", 60'000, kOct1 + 6 * kHour);
    Ingest("pro-co", "requests", 2'600'000, kOct1 + 9 * 24 * kHour);
    Ingest("pro-co", "tokens", 5'500'000, kOct1 + 20 * 24 * kHour);
    Ingest("ent-co", "requests", 900'000, kOct1 + 10 * 24 * kHour);   // under pro
    Ingest("ent-co", "tokens", 1'000'000, kOct1 + 11 * 24 * kHour);   // under pro
    Ingest("ent-co", "requests", 3'000'000, kOct16 + 4 * 24 * kHour);  // under enterprise
    Ingest("ent-co", "tokens", 4'000'000, kOct16 + 5 * 24 * kHour);    // under enterprise
    clock_.Set(kOct16);
    Identity upgraded{.id = "id_ent-co", .external_id = "ent-co", .tier = "enterprise"};
    ASSERT_OK(store_->UpdateIdentity(upgraded, kOct16));
    clock_.Set(kNov1 + kHour);
  }

  const Invoice* Of(const std::vector<Invoice>& invoices, const std::string& external_id) {
    for (const Invoice& invoice : invoices) {
      if (invoice.external_id == external_id) return &invoice;
    }
    return nullptr;
  }

  std::int64_t Amount(const Invoice& invoice, InvoiceLineKind kind, const std::string& meter, const std::string& tier) {
    std::int64_t sum = 0;
    for (const InvoiceLine& line : invoice.lines) {
      if (line.kind == kind && line.meter == meter && line.tier == tier) sum += line.amount_minor;
    }
    return sum;
  }

  // Publishes what the store wrote into the outbox to events_, as the server's relay does.
  void RelayEvents() {
    OutboxRelay relay(*store_, events_, clock_, {});
    for (;;) {
      auto relayed = relay.RunOnce();
      ASSERT_OK(relayed);
      if (*relayed == 0) return;
    }
  }

  ManualClock clock_{kOct1 - kHour};
  InProcessEventBus events_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<TierService> tiers_;
  std::vector<std::string> published_;
};

TEST_F(BillingServiceTest, ClosingOctoberBillsTheWorkedExample) {
  PlayOctober();
  BillingService billing(*store_, *tiers_, clock_);
  auto closed = billing.ClosePeriod("2026-10");
  ASSERT_OK(closed);
  ASSERT_EQ(closed->invoices.size(), 3u);
  EXPECT_EQ(closed->created, 3u);

  // free: 10,000 requests included, the 2,000 past the quota are not billed (block); tokens are
  // not priced in free. Total 0.00.
  const Invoice* free = Of(closed->invoices, "free-co");
  ASSERT_NE(free, nullptr);
  EXPECT_EQ(free->total_minor, 0);
  EXPECT_EQ(free->currency, "USD");

  // pro: base 49.00; requests 2.6M - 1M = 1.6M over: 1,000 packages x 0.50 + 600 x 0.30 = 680.00;
  // tokens 5.5M - 2M = 3.5M over, all at the first slice's 0.02 (volume): 3,500 x 0.02 = 70.00.
  const Invoice* pro = Of(closed->invoices, "pro-co");
  ASSERT_NE(pro, nullptr);
  EXPECT_EQ(Amount(*pro, InvoiceLineKind::kBaseFee, "", "pro"), 4'900);
  EXPECT_EQ(Amount(*pro, InvoiceLineKind::kOverage, "requests", "pro"), 68'000);
  EXPECT_EQ(Amount(*pro, InvoiceLineKind::kOverage, "tokens", "pro"), 7'000);
  EXPECT_EQ(pro->total_minor, 79'900);

  // ent-co: pro for 15 of 31 days, enterprise for 16.
  //  base: 49.00 x 15/31 = 23.709.. -> 23.71; 999.00 x 16/31 = 515.612.. -> 515.61
  //  pro requests: 900,000 used, 1,000,000 x 15/31 = 483,870.97 -> 483,871 included; 416,129
  //    over = 417 packages (the last one started) x 0.50 = 208.50
  //  pro tokens: 1,000,000 used, 2,000,000 x 15/31 -> 967,742 included; 32,258 over = 33
  //    packages x 0.02 = 0.66
  //  enterprise: 3M requests and 4M tokens, well inside 16/31 of 50M and 100M: nothing.
  //  total 23.71 + 515.61 + 208.50 + 0.66 = 748.48
  const Invoice* ent = Of(closed->invoices, "ent-co");
  ASSERT_NE(ent, nullptr);
  EXPECT_EQ(Amount(*ent, InvoiceLineKind::kBaseFee, "", "pro"), 2'371);
  EXPECT_EQ(Amount(*ent, InvoiceLineKind::kBaseFee, "", "enterprise"), 51'561);
  EXPECT_EQ(Amount(*ent, InvoiceLineKind::kOverage, "requests", "pro"), 20'850);
  EXPECT_EQ(Amount(*ent, InvoiceLineKind::kOverage, "tokens", "pro"), 66);
  EXPECT_EQ(Amount(*ent, InvoiceLineKind::kOverage, "requests", "enterprise"), 0);
  EXPECT_EQ(ent->total_minor, 74'848);

  // Numbered in order, one event each.
  std::vector<std::string> numbers;
  for (const Invoice& invoice : closed->invoices) numbers.push_back(invoice.number);
  EXPECT_EQ(numbers, (std::vector<std::string>{"INV-000001", "INV-000002", "INV-000003"}));
  RelayEvents();
  EXPECT_EQ(published_.size(), 3u);

  // Closing again changes nothing and returns the same invoices.
  auto again = billing.ClosePeriod("2026-10");
  ASSERT_OK(again);
  EXPECT_EQ(again->created, 0u);
  ASSERT_EQ(again->invoices.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(again->invoices[i].id, closed->invoices[i].id);
    EXPECT_EQ(again->invoices[i].total_minor, closed->invoices[i].total_minor);
  }
  RelayEvents();
  EXPECT_EQ(published_.size(), 3u);
}

TEST_F(BillingServiceTest, AnOpenPeriodCannotBeClosedAndThePreviewIsTheLiveDraft) {
  clock_.Set(kOct16 + kHour);
  Ingest("pro-co", "requests", 1'500'000, kOct1 + kHour);
  BillingService billing(*store_, *tiers_, clock_);
  auto refused = billing.ClosePeriod("2026-10");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidInput);
  auto preview = billing.PreviewInvoice("pro-co");
  ASSERT_OK(preview);
  EXPECT_EQ(preview->period, "2026-10");
  EXPECT_TRUE(preview->number.empty());
  // 49.00 + 500 packages x 0.50 = 299.00
  EXPECT_EQ(preview->total_minor, 4'900 + 25'000);
  auto bad = billing.ClosePeriod("2026-13");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidInput);
}

TEST_F(BillingServiceTest, ACustomerCreatedMidMonthPaysFromThenAndItsFirstMinuteCounts) {
  const UnixMillis created = kOct16 + 1'026;  // a second into the 16th
  ASSERT_OK(store_->InsertIdentity(Identity{.id = "id_new", .external_id = "new-co", .tier = "pro", .created_at = created}));
  Ingest("new-co", "requests", 1'500'000, created + 100);
  clock_.Set(kOct16 + kHour);
  BillingService billing(*store_, *tiers_, clock_);
  auto preview = billing.PreviewInvoice("new-co");
  ASSERT_OK(preview);
  // 49.00 x (16 days - 1,026 ms) / 31 days = 25.29; 1M x the same share = 516,129 included,
  // 983,871 over = 984 packages x 0.50 = 492.00.
  EXPECT_EQ(Amount(*preview, InvoiceLineKind::kBaseFee, "", "pro"), 2'529);
  EXPECT_EQ(Amount(*preview, InvoiceLineKind::kOverage, "requests", "pro"), 49'200);
  EXPECT_EQ(preview->total_minor, 2'529 + 49'200);
}

TEST(BillingPeriodTest, AnniversaryMonthsCountFromTheAnchorClampedToShortMonths) {
  const UnixMillis anchor = FromCivil({2026, 1, 31}) + 10 * kHour;  // 31 Jan 10:00
  const BillingPeriod february = PeriodStartingIn(2026, 2, anchor);
  EXPECT_EQ(february.name, "2026-02");
  EXPECT_EQ(february.start, FromCivil({2026, 2, 28}) + 10 * kHour);
  EXPECT_EQ(february.end, FromCivil({2026, 3, 31}) + 10 * kHour);
  // 5 March is still in the period that started in February.
  EXPECT_EQ(BillingPeriodOf(FromCivil({2026, 3, 5}), anchor).name, "2026-02");
  EXPECT_EQ(BillingPeriodOf(FromCivil({2026, 3, 31}) + 10 * kHour, anchor).name, "2026-03");
  const BillingPeriod december = PeriodStartingIn(2026, 12, std::nullopt);
  EXPECT_EQ(december.start, FromCivil({2026, 12, 1}));
  EXPECT_EQ(december.end, FromCivil({2027, 1, 1}));
  EXPECT_FALSE(ParseBillingPeriod("2026-1").has_value());
  EXPECT_FALSE(ParseBillingPeriod("2026-00").has_value());
  EXPECT_EQ(ParseBillingPeriod("2026-02")->end, FromCivil({2026, 3, 1}));
}

TEST_F(BillingServiceTest, AnAnniversaryCustomerIsClosedWhenItsOwnMonthEnds) {
  const UnixMillis created = kOct16 + 9 * kHour;  // months from 16 Oct 09:00
  ASSERT_OK(store_->InsertIdentity(Identity{.id = "id_anni", .external_id = "anni-co", .tier = "pro",
                                            .created_at = created, .anniversary_billing = true}));
  Ingest("anni-co", "requests", 1'100'000, kNov1 + 24 * kHour);  // 2 Nov: inside its October month
  clock_.Set(kNov1 + 2 * 24 * kHour);
  BillingService billing(*store_, *tiers_, clock_);
  auto early = billing.ClosePeriod("2026-10");
  ASSERT_OK(early);
  EXPECT_EQ(early->pending, 1u);
  for (const Invoice& invoice : early->invoices) EXPECT_NE(invoice.external_id, "anni-co");
  auto preview = billing.PreviewInvoice("anni-co");
  ASSERT_OK(preview);
  EXPECT_EQ(preview->period_start, created);
  EXPECT_EQ(preview->period_end, FromCivil({2026, 11, 16}) + 9 * kHour);

  clock_.Set(FromCivil({2026, 11, 16}) + 9 * kHour);
  auto closed = billing.ClosePeriod("2026-10");
  ASSERT_OK(closed);
  EXPECT_EQ(closed->pending, 0u);
  const Invoice* anni = Of(closed->invoices, "anni-co");
  ASSERT_NE(anni, nullptr);
  // A whole month of pro: 49.00 + 100 packages x 0.50 = 99.00.
  EXPECT_EQ(anni->total_minor, 4'900 + 5'000);
}

TEST_F(BillingServiceTest, LateUsageIsAnAdjustmentOnTheNextInvoiceAndAVoidedInvoiceIsReissued) {
  PlayOctober();
  BillingService billing(*store_, *tiers_, clock_);
  ASSERT_OK(billing.ClosePeriod("2026-10"));
  // 200,000 more October requests for pro-co arrive after the close: 200 packages at 0.30.
  Ingest("pro-co", "requests", 200'000, kOct1 + 25 * 24 * kHour);
  clock_.Set(FromCivil({2026, 12, 1}) + kHour);
  auto november = billing.ClosePeriod("2026-11");
  ASSERT_OK(november);
  const Invoice* pro = Of(november->invoices, "pro-co");
  ASSERT_NE(pro, nullptr);
  std::int64_t adjustment = 0;
  for (const InvoiceLine& line : pro->lines) {
    if (line.kind == InvoiceLineKind::kAdjustment) {
      EXPECT_EQ(line.adjusts_period, "2026-10");
      adjustment += line.amount_minor;
    }
  }
  EXPECT_EQ(adjustment, 6'000);
  EXPECT_EQ(pro->total_minor, 4'900 + 6'000);  // November: base fee and the adjustment
  // The October invoice itself never changed.
  auto october = store_->ListInvoices({.external_id = "pro-co", .period = "2026-10", .status = std::nullopt});
  ASSERT_OK(october);
  ASSERT_EQ(october->size(), 1u);
  EXPECT_EQ(october->front().total_minor, 79'900);

  // Voiding the free customer's October invoice and closing again issues a new one.
  const Invoice* free = Of(november->invoices, "free-co");
  ASSERT_NE(free, nullptr);
  auto free_october = store_->ListInvoices({.external_id = "free-co", .period = "2026-10", .status = std::nullopt});
  ASSERT_OK(free_october);
  ASSERT_OK(billing.VoidInvoice(free_october->front().id, "wrong address"));
  auto twice = billing.VoidInvoice(free_october->front().id, "again");
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code, ErrorCode::kConflict);
  auto reissued = billing.ClosePeriod("2026-10");
  ASSERT_OK(reissued);
  EXPECT_EQ(reissued->created, 1u);
  EXPECT_NE(Of(reissued->invoices, "free-co")->number, free_october->front().number);

  // Re-issuing pro-co's October, whose late usage November already billed: the new invoice
  // prices all of October's usage (+60.00 late) and takes back November's adjustment (-60.00).
  ASSERT_OK(billing.VoidInvoice(october->front().id, "customer asked for a new address"));
  auto pro_again = billing.ClosePeriod("2026-10");
  ASSERT_OK(pro_again);
  const Invoice* pro_october = Of(pro_again->invoices, "pro-co");
  ASSERT_NE(pro_october, nullptr);
  EXPECT_EQ(Amount(*pro_october, InvoiceLineKind::kOverage, "requests", "pro"), 68'000 + 6'000);
  EXPECT_EQ(Amount(*pro_october, InvoiceLineKind::kAdjustment, "", ""), -6'000);
  EXPECT_EQ(pro_october->total_minor, 79'900);
  // And December sees nothing left to adjust for October.
  clock_.Set(FromCivil({2027, 1, 1}) + kHour);
  auto december = billing.ClosePeriod("2026-12");
  ASSERT_OK(december);
  const Invoice* pro_december = Of(december->invoices, "pro-co");
  ASSERT_NE(pro_december, nullptr);
  EXPECT_EQ(Amount(*pro_december, InvoiceLineKind::kAdjustment, "", ""), 0);
  EXPECT_EQ(pro_december->total_minor, 4'900);
}

}  // namespace
}  // namespace tollgate
