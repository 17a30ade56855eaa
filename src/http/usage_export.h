// usage.export's body: the raw usage events of a range as CSV or NDJSON, produced a page at a time
// (see usage/usage_export_store.h for the paging and http/message.h for how a body streams).
// Memory per export is one page of events plus its text, whatever the range holds.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/calendar.h"  // FormatIsoMillis
#include "common/clock.h"
#include "http/message.h"
#include "usage/usage_event.h"
#include "usage/usage_export_store.h"

namespace tollgate {

enum class UsageExportFormat { kCsv, kNdjson };

// ~200 bytes of text per event: a page is a ~200 KB chunk and one short store read.
inline constexpr std::size_t kUsageExportPageSize = 1000;

// One RFC 4180 field: as is, or in double quotes (each quote doubled) when it holds a comma, a
// double quote, CR or LF. Values are never otherwise altered.
void AppendCsvField(std::string_view value, std::string& out);

// The CSV header row and one row per event, each ended by CRLF (RFC 4180). Columns: time (unix
// ms), timeIso (ISO-8601 UTC with milliseconds), apiId, keyId, externalId, source, code,
// creditsSpent, deniedBy, tags. Absent text is an empty cell; tags is the JSON array of the
// event's tags (["a","b"], [] for none), which no tag's content can make ambiguous.
void AppendUsageCsvHeader(std::string& out);
void AppendUsageCsvRow(const UsageEvent& event, std::string& out);

// One JSON object and "\n", with the API's field names in this order: time, apiId, keyId,
// externalId, source, code, creditsSpent, deniedBy, tags. Absent text is "".
void AppendUsageNdjsonLine(const UsageEvent& event, std::string& out);

// The body of one export. `first` is the first page, read by the handler, so that a store that
// fails at once gets a proper error status instead of a cut stream. Each call writes the page in
// hand (after the CSV header, on the first call) and reads the next one: a store failure there is
// logged with `request_id` and answered kFailed. `store` must outlive the body.
BodyProducer UsageExportBody(UsageExportStore& store, UsageExportFilter filter, UsageExportFormat format,
                             UsageExportPage first, std::size_t page_size, std::string request_id);

}  // namespace tollgate
