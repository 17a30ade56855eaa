#include "cli/usage_report.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "cli/json_fields.h"
#include "cli/table.h"
#include "cli/timestamp.h"
#include "common/calendar.h"

namespace tollgate {

namespace {

using nlohmann::json;

constexpr std::string_view kValidCode = "VALID";
constexpr std::string_view kPassedCode = "RATELIMIT_PASSED";

// A report line should fit a 100-column terminal; the bar takes what the numbers leave, within
// these bounds (a narrower bar cannot show proportions, a wider one is no easier to read).
constexpr std::size_t kLineWidth = 100;
constexpr std::size_t kMinBarWidth = 10;
constexpr std::size_t kMaxBarWidth = 40;
constexpr std::string_view kColumnGap = "  ";  // as RenderTable separates columns

struct BarGlyphs {
  std::string_view passed;
  std::string_view denied;
};
constexpr BarGlyphs kUtf8Glyphs{"\u2588", "\u2591"};  // full block, light shade
constexpr BarGlyphs kAsciiGlyphs{"#", "x"};

struct PeriodInfo {
  std::string_view name;
  UnixMillis millis;  // 0 for months, whose length varies
};
constexpr std::array<PeriodInfo, 4> kPeriods{{
    {"minute", 60'000},
    {"hour", 3'600'000},
    {"day", kMillisPerDay},
    {"month", 0},
}};

const PeriodInfo& Info(UsagePeriod period) { return kPeriods[static_cast<std::size_t>(period)]; }

UnixMillis FloorTo(UnixMillis t, UnixMillis size) {
  const UnixMillis remainder = t % size;
  return remainder < 0 ? t - remainder - size : t - remainder;
}

int MonthIndex(UnixMillis t) {
  const CivilDate date = ToCivil(t);
  return date.year * 12 + static_cast<int>(date.month) - 1;
}

// "2024-02-29 12:00" for minutes and hours, "2024-02-29" for days, "2024-02" for months.
std::string PeriodLabel(UsagePeriod period, UnixMillis start) {
  const std::string iso = FormatTimestamp(start);  // 2024-02-29T12:00:00Z
  switch (period) {
    case UsagePeriod::kMinute:
    case UsagePeriod::kHour:
      return iso.substr(0, 10) + ' ' + iso.substr(11, 5);
    case UsagePeriod::kDay:
      return iso.substr(0, 10);
    case UsagePeriod::kMonth:
      return iso.substr(0, 7);
  }
  return iso;
}

std::string PeriodHeading(UsagePeriod period) {
  std::string heading(UsagePeriodName(period));
  std::transform(heading.begin(), heading.end(), heading.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return heading + " (UTC)";
}

std::string Percent(std::int64_t part, std::int64_t whole) {
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

// "12 (2.8%)", or "0" when there is nothing to take a share of.
std::string CountWithShare(std::int64_t part, std::int64_t whole) {
  if (whole <= 0) return GroupThousands(part);
  return fmt::format("{} ({})", GroupThousands(part), Percent(part, whole));
}

// Pads the cells of columns [first, last) on the left to the widest cell of their column, so
// that RenderTable's left-aligned columns show right-aligned numbers. lines[0] is the header.
void AlignRight(std::vector<TableRow>& lines, std::size_t first, std::size_t last) {
  for (std::size_t column = first; column < last; ++column) {
    std::size_t width = 0;
    for (const TableRow& line : lines) width = std::max(width, DisplayWidth(line[column]));
    for (TableRow& line : lines) {
      line[column].insert(0, width - DisplayWidth(line[column]), ' ');
    }
  }
}

// The room left for the bar after columns [0, bar_column) and their gaps.
std::size_t BarWidth(const std::vector<TableRow>& lines, std::size_t bar_column) {
  std::size_t used = 0;
  for (std::size_t column = 0; column < bar_column; ++column) {
    std::size_t width = 0;
    for (const TableRow& line : lines) width = std::max(width, DisplayWidth(line[column]));
    used += width + kColumnGap.size();
  }
  const std::size_t left = used < kLineWidth ? kLineWidth - used : 0;
  return std::clamp(left, kMinBarWidth, kMaxBarWidth);
}

// Codes other than VALID and RATELIMIT_PASSED over all rows, most frequent first, then by name.
std::vector<std::pair<std::string, std::int64_t>> DeniedCodes(const UsageRow& sum) {
  std::vector<std::pair<std::string, std::int64_t>> codes;
  for (const auto& [code, count] : sum.by_code) {
    if (code != kValidCode && code != kPassedCode && count != 0) codes.emplace_back(code, count);
  }
  std::stable_sort(codes.begin(), codes.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return codes;
}

std::int64_t CodeCount(const std::map<std::string, std::int64_t>& by_code, std::string_view code) {
  const auto it = by_code.find(std::string(code));
  return it == by_code.end() ? 0 : it->second;
}

}  // namespace

std::optional<UsagePeriod> ParseUsagePeriod(std::string_view name) {
  for (std::size_t i = 0; i < kPeriods.size(); ++i) {
    if (kPeriods[i].name == name) return static_cast<UsagePeriod>(i);
  }
  return std::nullopt;
}

std::string_view UsagePeriodName(UsagePeriod period) { return Info(period).name; }

UnixMillis PeriodStart(UsagePeriod period, UnixMillis t) {
  if (period == UsagePeriod::kMonth) return LastMonthlyBoundary(t, 1);
  return FloorTo(t, Info(period).millis);
}

UnixMillis NextPeriodStart(UsagePeriod period, UnixMillis start) {
  if (period == UsagePeriod::kMonth) return NextMonthlyBoundary(start, 1);
  return start + Info(period).millis;
}

std::int64_t CountPeriods(UsagePeriod period, UnixMillis from, UnixMillis to) {
  if (to <= from) return 0;
  if (period == UsagePeriod::kMonth) return MonthIndex(to - 1) - MonthIndex(from) + 1;
  const UnixMillis size = Info(period).millis;
  return (FloorTo(to - 1, size) - FloorTo(from, size)) / size + 1;
}

UsagePeriod DefaultUsagePeriod(UnixMillis from, UnixMillis to) {
  const UnixMillis length = to - from;
  for (UsagePeriod period : {UsagePeriod::kMinute, UsagePeriod::kHour, UsagePeriod::kDay}) {
    const UnixMillis size = Info(period).millis;
    if ((length + size - 1) / size <= kMaxDefaultRows) return period;
  }
  return UsagePeriod::kMonth;
}

std::int64_t UsageRow::Valid() const { return CodeCount(by_code, kValidCode); }
std::int64_t UsageRow::Passed() const { return CodeCount(by_code, kPassedCode); }

std::vector<UsageRow> UsageRowsFromPoints(UsagePeriod period, UnixMillis from, UnixMillis to,
                                          const json& points) {
  std::vector<UsageRow> rows;
  rows.reserve(static_cast<std::size_t>(CountPeriods(period, from, to)));
  for (UnixMillis start = PeriodStart(period, from); start < to;
       start = NextPeriodStart(period, start)) {
    rows.push_back(UsageRow{start});
  }
  if (!points.is_array()) return rows;
  for (const json& point : points) {
    const auto time = IntegerField(point, "time");
    const auto count = IntegerField(point, "count");
    if (!time || !count || *time >= to) continue;
    const auto after = std::upper_bound(
        rows.begin(), rows.end(), *time,
        [](UnixMillis t, const UsageRow& row) { return t < row.start; });
    if (after == rows.begin()) continue;
    UsageRow& row = *std::prev(after);
    row.total += *count;
    row.credits += IntegerField(point, "credits").value_or(0);
    row.by_code[TextField(point, "group", "?")] += *count;
  }
  return rows;
}

UsageRow SumUsageRows(const std::vector<UsageRow>& rows) {
  UsageRow sum;
  if (!rows.empty()) sum.start = rows.front().start;
  for (const UsageRow& row : rows) {
    sum.total += row.total;
    sum.credits += row.credits;
    for (const auto& [code, count] : row.by_code) sum.by_code[code] += count;
  }
  return sum;
}

std::string RenderUsageBar(std::int64_t passed, std::int64_t denied, std::int64_t max_total,
                           std::size_t width, bool utf8) {
  passed = std::max<std::int64_t>(passed, 0);
  denied = std::max<std::int64_t>(denied, 0);
  if (max_total <= 0 || width == 0) return "";
  // In double: counts times a width may not fit in 64 bits; a character is far coarser anyway.
  const auto cells_for = [&](std::int64_t count) {
    const double cells = static_cast<double>(count) * static_cast<double>(width) /
                         static_cast<double>(max_total);
    return static_cast<std::size_t>(std::llround(std::min(cells, static_cast<double>(width))));
  };
  const std::int64_t total = passed + denied;
  const std::size_t cells = total > 0 ? std::clamp<std::size_t>(cells_for(total), 1, width) : 0;
  const std::size_t denied_cells =
      denied > 0 ? std::clamp<std::size_t>(cells_for(denied), 1, cells) : 0;
  const BarGlyphs& glyphs = utf8 ? kUtf8Glyphs : kAsciiGlyphs;
  std::string bar;
  for (std::size_t i = 0; i < cells - denied_cells; ++i) bar += glyphs.passed;
  for (std::size_t i = 0; i < denied_cells; ++i) bar += glyphs.denied;
  return bar;
}

std::string RenderUsageTable(UsagePeriod period, const std::vector<UsageRow>& rows, bool utf8) {
  const bool any_passed =
      std::any_of(rows.begin(), rows.end(), [](const UsageRow& row) { return row.Passed() != 0; });
  std::vector<TableRow> lines;
  lines.reserve(rows.size() + 1);
  lines.push_back({PeriodHeading(period), "TOTAL", "VALID"});
  if (any_passed) lines.back().push_back("PASSED");
  lines.back().insert(lines.back().end(), {"DENIED", "CREDITS", ""});
  std::int64_t max_total = 0;
  for (const UsageRow& row : rows) {
    TableRow line{PeriodLabel(period, row.start), GroupThousands(row.total),
                  GroupThousands(row.Valid())};
    if (any_passed) line.push_back(GroupThousands(row.Passed()));
    line.insert(line.end(), {GroupThousands(row.Denied()), GroupThousands(row.credits), ""});
    lines.push_back(std::move(line));
    max_total = std::max(max_total, row.total);
  }

  const std::size_t bar_column = lines.front().size() - 1;
  AlignRight(lines, 1, bar_column);
  const std::size_t bar_width = BarWidth(lines, bar_column);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    lines[i + 1][bar_column] = RenderUsageBar(rows[i].Valid() + rows[i].Passed(),
                                              rows[i].Denied(), max_total, bar_width, utf8);
  }
  const TableRow header = std::move(lines.front());
  lines.erase(lines.begin());
  return RenderTable(header, lines);
}

RecordFields UsageTotalsRecord(const UsageReportScope& scope, const std::vector<UsageRow>& rows,
                               bool utf8) {
  const UsageRow sum = SumUsageRows(rows);
  const std::int64_t periods = CountPeriods(scope.period, scope.from, scope.to);
  RecordFields fields{
      {"Scope", scope.description},
      {"Range", fmt::format("{} to {}, {} {}{}", FormatTimestamp(scope.from),
                            FormatTimestamp(scope.to), periods, UsagePeriodName(scope.period),
                            periods == 1 ? "" : "s")},
      {"Total", GroupThousands(sum.total)},
      {"Valid", CountWithShare(sum.Valid(), sum.total)},
  };
  if (sum.Passed() != 0) fields.emplace_back("Passed", CountWithShare(sum.Passed(), sum.total));
  std::string denied = CountWithShare(sum.Denied(), sum.total);
  const auto codes = DeniedCodes(sum);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    denied += fmt::format("{}{} {}", i == 0 ? ": " : ", ", GroupThousands(codes[i].second),
                          codes[i].first);
  }
  fields.emplace_back("Denied", std::move(denied));
  fields.emplace_back("Credits", GroupThousands(sum.credits));
  if (sum.total != 0) {
    std::int64_t longest = 0;
    for (const UsageRow& row : rows) longest = std::max(longest, row.total);
    const BarGlyphs& glyphs = utf8 ? kUtf8Glyphs : kAsciiGlyphs;
    fields.emplace_back("Bars", fmt::format("{} {}, {} denied; the longest is {}", glyphs.passed,
                                            sum.Passed() != 0 ? "valid or passed" : "valid",
                                            glyphs.denied, GroupThousands(longest)));
  }
  return fields;
}

std::string RenderUsageTopTable(const json& entries, const char* id_field,
                                const std::string& id_heading) {
  std::vector<TableRow> lines{{id_heading, "TOTAL", "VALID", "CREDITS"}};
  if (entries.is_array()) {
    for (const json& entry : entries) {
      const auto number = [&entry](const char* name) {
        return GroupThousands(IntegerField(entry, name).value_or(0));
      };
      lines.push_back(
          {TextField(entry, id_field), number("count"), number("valid"), number("credits")});
    }
  }
  AlignRight(lines, 1, 4);
  const TableRow header = std::move(lines.front());
  lines.erase(lines.begin());
  return RenderTable(header, lines);
}

}  // namespace tollgate
