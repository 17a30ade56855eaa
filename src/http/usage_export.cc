#include "http/usage_export.h"

#include <memory>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/calendar.h"

namespace tollgate {
namespace {

// Text that may hold invalid UTF-8 (tags are stored as sent) still encodes: such bytes become
// U+FFFD instead of an exception in the middle of a stream.
template <typename Json>
std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The state of one export between the server's calls: the page in hand and where it ends.
class UsageExportBodyState {
 public:
  UsageExportBodyState(UsageExportStore& store, UsageExportFilter filter, UsageExportFormat format,
                       UsageExportPage first, std::size_t page_size, std::string request_id)
      : store_(store), filter_(std::move(filter)), format_(format), page_(std::move(first)),
        page_size_(page_size), request_id_(std::move(request_id)) {}

  BodyPiece Next(std::string& out) {
    if (!started_ && format_ == UsageExportFormat::kCsv) AppendUsageCsvHeader(out);
    started_ = true;
    for (const UsageEvent& event : page_.events) {
      if (format_ == UsageExportFormat::kCsv) AppendUsageCsvRow(event, out);
      else AppendUsageNdjsonLine(event, out);
    }
    exported_ += page_.events.size();
    if (!page_.next) return BodyPiece::kLast;
    auto next = store_.ExportUsagePage(filter_, page_.next, page_size_);
    if (!next) {
      spdlog::error("usage.export of request {} stopped after {} events: {}", request_id_, exported_,
                    next.error().detail);
      return BodyPiece::kFailed;
    }
    page_ = std::move(*next);
    return BodyPiece::kMore;
  }

 private:
  UsageExportStore& store_;
  const UsageExportFilter filter_;
  const UsageExportFormat format_;
  UsageExportPage page_;
  const std::size_t page_size_;
  const std::string request_id_;
  bool started_ = false;
  std::size_t exported_ = 0;
};

}  // namespace

void AppendCsvField(std::string_view value, std::string& out) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void AppendUsageCsvHeader(std::string& out) {
  out += "time,timeIso,apiId,keyId,externalId,source,code,creditsSpent,deniedBy,tags\r\n";
}

void AppendUsageCsvRow(const UsageEvent& event, std::string& out) {
  out += std::to_string(event.at);
  out += ',';
  out += FormatIsoMillis(event.at);
  for (std::string_view text : {event.api_id.view(), event.key_id.view(), event.external_id.view(),
                                 event.source.view(), event.code.view()}) {
    out += ',';
    AppendCsvField(text, out);
  }
  out += ',';
  out += std::to_string(event.credits_spent);
  out += ',';
  AppendCsvField(event.denied_by, out);
  out += ',';
  AppendCsvField(Dump(nlohmann::json(event.tags)), out);
  out += "\r\n";
}

void AppendUsageNdjsonLine(const UsageEvent& event, std::string& out) {
  const nlohmann::ordered_json line = {
      {"time", event.at},         {"apiId", event.api_id}, {"keyId", event.key_id},
      {"externalId", event.external_id}, {"source", event.source}, {"code", event.code},
      {"creditsSpent", event.credits_spent}, {"deniedBy", event.denied_by}, {"tags", event.tags},
  };
  out += Dump(line);
  out += '\n';
}

BodyProducer UsageExportBody(UsageExportStore& store, UsageExportFilter filter, UsageExportFormat format,
                             UsageExportPage first, std::size_t page_size, std::string request_id) {
  // std::function wants a copyable callable; the state is shared by the copies, of which the
  // server keeps one.
  auto state = std::make_shared<UsageExportBodyState>(store, std::move(filter), format, std::move(first), page_size,
                                                      std::move(request_id));
  return [state](std::string& out) { return state->Next(out); };
}

}  // namespace tollgate
