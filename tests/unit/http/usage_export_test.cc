// usage.export's body: RFC 4180 CSV (quoting, CRLF, the tags cell), the NDJSON lines with the
// API's field names, and the producer that pages through a store: every event once, the CSV
// header once, and a store failure after the first page answered as a failed body.
#include "http/usage_export.h"

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tollgate {
namespace {

UsageEvent SampleEvent() {
  UsageEvent event;
  event.at = 1'706'745'599'123;  // 2024-01-31T23:59:59.123Z
  event.api_id = "api_1";
  event.key_id = "key_a";
  event.external_id = "acme";
  event.code = "RATE_LIMITED";
  event.credits_spent = 3;
  event.tags = {"path=/a", "plan=pro"};
  event.denied_by = "per-minute";
  event.source = "verify";
  return event;
}

std::string CsvField(std::string_view value) {
  std::string out;
  AppendCsvField(value, out);
  return out;
}

TEST(UsageExportFormatTest, CsvFieldsAreQuotedOnlyWhenRfc4180AsksForIt) {
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("plain value; with = signs"), "plain value; with = signs");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("\""), "\"\"\"\"");
  EXPECT_EQ(CsvField("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(CsvField("carriage\rreturn"), "\"carriage\rreturn\"");
  EXPECT_EQ(CsvField("ünïcode"), "ünïcode");
}

TEST(UsageExportFormatTest, IsoTimeIsUtcWithMilliseconds) {
  EXPECT_EQ(FormatIsoMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIsoMillis(1'706'745'599'123), "2024-01-31T23:59:59.123Z");
  EXPECT_EQ(FormatIsoMillis(1'709'164'800'007), "2024-02-29T00:00:00.007Z");
}

TEST(UsageExportFormatTest, CsvHasAHeaderAndOneCrlfRowPerEvent) {
  std::string out;
  AppendUsageCsvHeader(out);
  AppendUsageCsvRow(SampleEvent(), out);
  UsageEvent bare;
  bare.at = 1'000;
  bare.code = "NOT_FOUND";
  bare.source = "authorize";
  AppendUsageCsvRow(bare, out);
  EXPECT_EQ(out,
            "time,timeIso,apiId,keyId,externalId,source,code,creditsSpent,deniedBy,tags\r\n"
            "1706745599123,2024-01-31T23:59:59.123Z,api_1,key_a,acme,verify,RATE_LIMITED,3,per-minute,"
            "\"[\"\"path=/a\"\",\"\"plan=pro\"\"]\"\r\n"
            "1000,1970-01-01T00:00:01.000Z,,,,authorize,NOT_FOUND,0,,[]\r\n");
}

TEST(UsageExportFormatTest, CsvQuotesUntrustedTextInEveryColumn) {
  UsageEvent event = SampleEvent();
  event.api_id = "ns,with,commas";
  event.external_id = "evil\r\n1,2,3\r\n";
  event.tags = {"a\"b"};
  std::string out;
  AppendUsageCsvRow(event, out);
  EXPECT_EQ(out,
            "1706745599123,2024-01-31T23:59:59.123Z,\"ns,with,commas\",key_a,\"evil\r\n1,2,3\r\n\",verify,"
            "RATE_LIMITED,3,per-minute,\"[\"\"a\\\"\"b\"\"]\"\r\n");
}

TEST(UsageExportFormatTest, NdjsonLineUsesTheApiFieldNamesInOrder) {
  std::string out;
  AppendUsageNdjsonLine(SampleEvent(), out);
  EXPECT_EQ(out,
            R"({"time":1706745599123,"apiId":"api_1","keyId":"key_a","externalId":"acme","source":"verify",)"
            R"("code":"RATE_LIMITED","creditsSpent":3,"deniedBy":"per-minute","tags":["path=/a","plan=pro"]})"
            "\n");
  UsageEvent odd = SampleEvent();
  odd.external_id = "line\nbreak \"quoted\"";
  odd.tags = {"bad utf-8 \xff"};
  out.clear();
  AppendUsageNdjsonLine(odd, out);
  ASSERT_EQ(out.find('\n'), out.size() - 1) << "one line per event";
  const auto json = nlohmann::json::parse(out);
  EXPECT_EQ(json["externalId"], "line\nbreak \"quoted\"");
  EXPECT_EQ(json["tags"][0], "bad utf-8 \xEF\xBF\xBD");  // replaced, not thrown
}

// Serves prepared pages in order and records the cursors it was asked for; fails when told to.
class FakeExportStore : public UsageExportStore {
 public:
  Result<UsageExportPage> ExportUsagePage(const UsageExportFilter& filter,
                                          const std::optional<UsageExportCursor>& after,
                                          std::size_t limit) override {
    cursors.push_back(after);
    limits.push_back(limit);
    codes.push_back(filter.code);
    if (fail_next) return Fail(Error::Unavailable("sqlite: disk I/O error"));
    if (pages.empty()) return Fail(Error::Internal("read past the last page"));
    UsageExportPage page = std::move(pages.front());
    pages.pop_front();
    return page;
  }

  std::deque<UsageExportPage> pages;
  std::vector<std::optional<UsageExportCursor>> cursors;
  std::vector<std::size_t> limits;
  std::vector<std::string> codes;
  bool fail_next = false;
};

UsageEvent EventAt(UnixMillis at, std::string key_id) {
  UsageEvent event;
  event.at = at;
  event.key_id = key_id;
  event.code = "VALID";
  event.source = "verify";
  return event;
}

// Drains a body: the pieces in order, and the answer that ended it.
struct Drained {
  std::vector<std::string> pieces;
  BodyPiece end = BodyPiece::kMore;
};
Drained Drain(BodyProducer& body) {
  Drained drained;
  for (int guard = 0; guard < 100 && drained.end == BodyPiece::kMore; ++guard) {
    std::string piece;
    drained.end = body(piece);
    drained.pieces.push_back(piece);
  }
  return drained;
}

TEST(UsageExportBodyTest, WritesEveryPageOnceAndAsksForEachFromTheLastCursor) {
  FakeExportStore store;
  store.pages.push_back({{EventAt(20, "k3")}, UsageExportCursor{20, 7}});
  store.pages.push_back({{EventAt(30, "k4")}, std::nullopt});
  UsageExportPage first{{EventAt(10, "k1"), EventAt(10, "k2")}, UsageExportCursor{10, 5}};
  UsageExportFilter filter;
  filter.range.from = 0;
  filter.range.to = 100;
  filter.code = "VALID";
  BodyProducer body = UsageExportBody(store, filter, UsageExportFormat::kCsv, first, 2, "req_1");

  const Drained drained = Drain(body);
  EXPECT_EQ(drained.end, BodyPiece::kLast);
  ASSERT_EQ(drained.pieces.size(), 3u) << "one piece per page";
  EXPECT_TRUE(drained.pieces[0].starts_with("time,timeIso,"));
  std::string all;
  for (const auto& piece : drained.pieces) all += piece;
  std::string want;
  AppendUsageCsvHeader(want);
  for (const auto& event : {EventAt(10, "k1"), EventAt(10, "k2"), EventAt(20, "k3"), EventAt(30, "k4")}) {
    AppendUsageCsvRow(event, want);
  }
  EXPECT_EQ(all, want);
  ASSERT_EQ(store.cursors.size(), 2u);
  EXPECT_EQ(store.cursors[0]->at, 10);
  EXPECT_EQ(store.cursors[0]->sequence, 5);
  EXPECT_EQ(store.cursors[1]->at, 20);
  EXPECT_EQ(store.cursors[1]->sequence, 7);
  EXPECT_EQ(store.limits, (std::vector<std::size_t>{2, 2}));
  EXPECT_EQ(store.codes, (std::vector<std::string>{"VALID", "VALID"}));
}

TEST(UsageExportBodyTest, AnEmptyNdjsonExportIsAnEmptyBody) {
  FakeExportStore store;
  BodyProducer body = UsageExportBody(store, UsageExportFilter{}, UsageExportFormat::kNdjson, UsageExportPage{}, 10,
                                      "req_2");
  const Drained drained = Drain(body);
  EXPECT_EQ(drained.end, BodyPiece::kLast);
  EXPECT_EQ(drained.pieces, (std::vector<std::string>{""}));
  EXPECT_TRUE(store.cursors.empty()) << "no read after the last page";
}

TEST(UsageExportBodyTest, AStoreFailureAfterTheFirstPageFailsTheBody) {
  FakeExportStore store;
  store.fail_next = true;
  BodyProducer body = UsageExportBody(store, UsageExportFilter{}, UsageExportFormat::kNdjson,
                                      UsageExportPage{{EventAt(10, "k1")}, UsageExportCursor{10, 1}}, 1, "req_3");
  const Drained drained = Drain(body);
  EXPECT_EQ(drained.end, BodyPiece::kFailed);
  EXPECT_EQ(drained.pieces.size(), 1u);
}

}  // namespace
}  // namespace tollgate
