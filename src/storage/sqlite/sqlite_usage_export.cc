// SqliteStore's UsageExportStore: the raw usage events (migration 5) a page at a time, for
// usage.export. The cursor's sequence is the row id, so pages are ordered by (at, id); the index
// on usage_events (at) holds the row id after `at`, so a page is one index range scan with no
// sort, whatever its position. The mutex is held for one page only.
#include <limits>

#include <nlohmann/json.hpp>

#include "storage/sqlite/sqlite_internal.h"
#include "storage/sqlite/sqlite_store.h"

namespace tollgate {
namespace {

using sqlite_internal::During;

// ?1 the cursor's time (the range's start for the first page), ?2 the range's end, ?3 key_id,
// ?4 external_id, ?5 api_id, ?6 code ('' = any), ?7 the cursor's row id, ?8 the row limit.
// "at > ?1 OR id > ?7" skips the rows at the cursor's millisecond up to and including it.
constexpr std::string_view kExportUsagePage =
    "SELECT id, at, api_id, key_id, external_id, code, credits_spent, tags, denied_by, source "
    "FROM usage_events WHERE at >= ?1 AND at < ?2 AND (at > ?1 OR id > ?7) "
    "AND (?3 = '' OR key_id = ?3) AND (?4 = '' OR external_id = ?4) AND (?5 = '' OR api_id = ?5) "
    "AND (?6 = '' OR code = ?6) ORDER BY at, id LIMIT ?8";

// The tags column holds the JSON array WriteUsage wrote.
Result<std::vector<std::string>> DecodeTags(const std::string& text, std::int64_t row_id) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> tags;
  for (const auto& tag : json.is_array() ? json : nlohmann::json::array()) {
    if (tag.is_string()) tags.push_back(tag.get<std::string>());
  }
  if (!json.is_array() || tags.size() != json.size()) {
    return Fail(Error::Internal("sqlite: column tags of usage event " + std::to_string(row_id) +
                                " holds a value tollgate did not write"));
  }
  return tags;
}

}  // namespace

Result<UsageExportPage> SqliteStore::ExportUsagePage(const UsageExportFilter& filter,
                                                     const std::optional<UsageExportCursor>& after,
                                                     std::size_t limit) {
  std::lock_guard lock(mutex_);
  auto statement = connection_.Prepare(kExportUsagePage);
  if (!statement) return Fail(std::move(statement.error()));
  const UsageFilter& range = filter.range;
  statement->Bind(1, after ? after->at : range.from).Bind(2, range.to).Bind(3, range.key_id)
      .Bind(4, range.external_id).Bind(5, range.api_id).Bind(6, filter.code)
      .Bind(7, after ? after->sequence : std::numeric_limits<std::int64_t>::min())
      .Bind(8, static_cast<std::int64_t>(limit) + 1);  // one more row says whether a next page exists
  UsageExportPage page;
  page.events.reserve(limit);
  UsageExportCursor last;
  for (;;) {
    auto row = statement->Step();
    if (!row) return Fail(During("reading usage events to export", std::move(row.error())));
    if (!*row) break;
    if (page.events.size() == limit) {
      page.next = last;
      break;
    }
    last = {statement->ColumnInt64(1), statement->ColumnInt64(0)};
    auto tags = DecodeTags(statement->ColumnText(7), last.sequence);
    if (!tags) return Fail(std::move(tags.error()));
    page.events.push_back({.at = last.at,
                           .api_id = statement->ColumnText(2),
                           .key_id = statement->ColumnText(3),
                           .external_id = statement->ColumnText(4),
                           .code = statement->ColumnText(5),
                           .credits_spent = statement->ColumnInt64(6),
                           .tags = std::move(*tags),
                           .denied_by = statement->ColumnText(8),
                           .source = statement->ColumnText(9)});
  }
  return page;
}

}  // namespace tollgate
