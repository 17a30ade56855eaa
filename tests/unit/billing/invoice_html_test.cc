#include "billing/invoice_html.h"

#include <string>

#include <gtest/gtest.h>

#include "common/calendar.h"

namespace tollgate {
namespace {

constexpr std::int64_t kCent = kMicrosPerMinor;  // a price of one cent, in micro-units

bool Contains(const std::string& html, const std::string& text) { return html.find(text) != std::string::npos; }

// October 2026 for a customer whose external id tries to inject a script: base fee, included
// tokens, a one-price overage per 1,000 tokens, a graduated overage over two prices, and a
// credit for late usage whose description tries to inject an image.
Invoice OctoberInvoice() {
  Invoice invoice;
  invoice.id = "inv_7Hq2";
  invoice.number = "INV-000042";
  invoice.external_id = "acme <script>alert(\"x\")</script>";
  invoice.period = "2026-10";
  invoice.period_start = FromCivil({2026, 10, 1});
  invoice.period_end = FromCivil({2026, 11, 1});
  invoice.currency = "USD";
  invoice.status = InvoiceStatus::kFinalized;
  invoice.created_at = FromCivil({2026, 11, 2}) + 3'600'000;
  invoice.lines = {
      {.kind = InvoiceLineKind::kBaseFee, .description = "pro plan, 2026-10", .tier = "pro", .quantity = 1,
       .unit_price_micros = 4'900 * kCent, .amount_minor = 4'900},
      {.kind = InvoiceLineKind::kIncluded, .description = "tokens included, 2026-10", .tier = "pro",
       .meter = "tokens", .quantity = 100'000, .unit_price_micros = 0, .amount_minor = 0},
      {.kind = InvoiceLineKind::kOverage, .description = "tokens overage, 2026-10", .tier = "pro", .meter = "tokens",
       .quantity = 250'500, .unit_price_micros = 50 * kCent, .package_size = 1'000,
       .slices = {{250'500, 251, 50 * kCent}}, .amount_minor = 12'550},
      {.kind = InvoiceLineKind::kOverage, .description = "images overage, 2026-10", .tier = "pro", .meter = "images",
       .quantity = 1'500'000, .package_size = 1'000,
       .slices = {{1'000'000, 1'000, 50 * kCent}, {500'000, 500, 30 * kCent}}, .amount_minor = 65'000},
      {.kind = InvoiceLineKind::kAdjustment, .description = "late usage <img src=x onerror=alert(1)>", .quantity = 1,
       .amount_minor = -1'250, .adjusts_period = "2026-09"},
  };
  invoice.total_minor = 4'900 + 12'550 + 65'000 - 1'250;  // 812.00
  return invoice;
}

TEST(EscapeHtmlTest, EscapesTheFiveSpecialCharactersAndNothingElse) {
  EXPECT_EQ(EscapeHtml(R"(<a href="x" title='y'>&amp;</a>)"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
  EXPECT_EQ(EscapeHtml("plain text, 1,000 units; caf\xC3\xA9"), "plain text, 1,000 units; caf\xC3\xA9");
  EXPECT_EQ(EscapeHtml(""), "");
}

TEST(RenderInvoiceHtmlTest, ShowsNumberStatusCustomerPeriodCurrencyAndTotal) {
  const std::string html = RenderInvoiceHtml(OctoberInvoice());
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_TRUE(Contains(html, "<title>Invoice INV-000042</title>"));
  EXPECT_TRUE(Contains(html, "<h1>Invoice <span class=\"number\">INV-000042</span></h1>"));
  EXPECT_TRUE(Contains(html, "<p class=\"status\">finalized</p>"));
  EXPECT_TRUE(Contains(html, "<dt>Period</dt><dd>2026-10 (2026-10-01 to 2026-10-31, UTC)</dd>"));
  EXPECT_TRUE(Contains(html, "<dt>Currency</dt><dd>USD</dd>"));
  EXPECT_TRUE(Contains(html, "<dt>Issued</dt><dd>2026-11-02</dd>"));
  EXPECT_TRUE(Contains(html, "<dt>Invoice ID</dt><dd>inv_7Hq2</dd>"));
  EXPECT_TRUE(Contains(html, "<th colspan=\"4\">Total (USD)</th><td class=\"num total\">812.00</td>"));
  EXPECT_FALSE(Contains(html, "class=\"void-banner\""));
}

TEST(RenderInvoiceHtmlTest, EachLineShowsDescriptionMeterQuantityUnitPriceAndAmount) {
  const std::string html = RenderInvoiceHtml(OctoberInvoice());
  EXPECT_TRUE(Contains(html, "<tr><td>pro plan, 2026-10</td><td></td><td class=\"num\">1</td>"
                             "<td class=\"num\">49.00</td><td class=\"num\">49.00</td></tr>"));
  EXPECT_TRUE(Contains(html, "<tr><td>tokens included, 2026-10</td><td>tokens</td><td class=\"num\">100,000</td>"
                             "<td class=\"num\">0.00</td><td class=\"num\">0.00</td></tr>"));
  EXPECT_TRUE(Contains(html, "<tr><td>tokens overage, 2026-10</td><td>tokens</td><td class=\"num\">250,500</td>"
                             "<td class=\"num\">0.50 per 1,000</td><td class=\"num\">125.50</td></tr>"));
  // Slices at different prices: each one's units and price.
  EXPECT_TRUE(Contains(html, "<td class=\"num\">1,500,000</td><td class=\"num\">1,000,000 at 0.50 per 1,000<br>"
                             "500,000 at 0.30 per 1,000</td><td class=\"num\">650.00</td>"));
  EXPECT_TRUE(Contains(html, "<td class=\"num\">-12.50</td></tr>"));
}

TEST(RenderInvoiceHtmlTest, TextFromCustomersIsEscapedEverywhere) {
  const std::string html = RenderInvoiceHtml(OctoberInvoice());
  EXPECT_FALSE(Contains(html, "<script"));
  EXPECT_FALSE(Contains(html, "<img"));
  EXPECT_TRUE(Contains(html, "<dt>Customer</dt><dd>acme &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</dd>"));
  EXPECT_TRUE(Contains(html, "<td>late usage &lt;img src=x onerror=alert(1)&gt;</td>"));
}

TEST(RenderInvoiceHtmlTest, IsSelfContainedAndPrintable) {
  const std::string html = RenderInvoiceHtml(OctoberInvoice());
  EXPECT_TRUE(Contains(html, "<style>"));
  EXPECT_TRUE(Contains(html, "@media print"));
  EXPECT_TRUE(Contains(html, "@page"));
  for (const char* external : {"<link", "<script", "src=\"", "url(", "@import", "http://", "https://"}) {
    EXPECT_FALSE(Contains(html, external)) << external;
  }
}

TEST(RenderInvoiceHtmlTest, AVoidInvoiceCarriesABannerWithItsReason) {
  Invoice invoice = OctoberInvoice();
  invoice.status = InvoiceStatus::kVoid;
  invoice.voided_at = FromCivil({2026, 11, 5});
  invoice.void_reason = "billed twice <b>oops</b> & re-issued";
  const std::string html = RenderInvoiceHtml(invoice);
  EXPECT_TRUE(Contains(html, "<body class=\"is-void\">"));
  EXPECT_TRUE(Contains(html, "<p class=\"status\">void</p>"));
  EXPECT_TRUE(Contains(html, "<div class=\"void-banner\" role=\"alert\"><strong>VOID</strong> This invoice was voided "
                             "on 2026-11-05 and is not to be paid. Reason: billed twice &lt;b&gt;oops&lt;/b&gt; "
                             "&amp; re-issued</div>"));
  EXPECT_FALSE(Contains(html, "<b>"));
}

TEST(RenderInvoiceHtmlTest, ZeroDecimalCurrenciesHaveNoDecimals) {
  Invoice invoice = OctoberInvoice();
  invoice.currency = "JPY";
  invoice.lines.resize(1);
  invoice.lines[0].unit_price_micros = 5'000 * kMicrosPerMinor;
  invoice.lines[0].amount_minor = 5'000;
  invoice.total_minor = 5'000;
  const std::string html = RenderInvoiceHtml(invoice);
  EXPECT_TRUE(Contains(html, "<td class=\"num\">5,000</td><td class=\"num\">5,000</td></tr>"));
  EXPECT_TRUE(Contains(html, "Total (JPY)</th><td class=\"num total\">5,000</td>"));
}

}  // namespace
}  // namespace tollgate
