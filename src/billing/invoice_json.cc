#include "billing/invoice_json.h"

namespace tollgate {
namespace {

std::optional<InvoiceLineKind> ParseLineKind(std::string_view name) {
  for (auto kind : {InvoiceLineKind::kBaseFee, InvoiceLineKind::kIncluded, InvoiceLineKind::kOverage,
                    InvoiceLineKind::kAdjustment}) {
    if (InvoiceLineKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

}  // namespace

nlohmann::json InvoiceLinesToJson(const std::vector<InvoiceLine>& lines) {
  nlohmann::json array = nlohmann::json::array();
  for (const InvoiceLine& line : lines) {
    nlohmann::json slices = nlohmann::json::array();
    for (const SliceCharge& slice : line.slices) {
      slices.push_back({{"quantity", slice.quantity}, {"packages", slice.packages}, {"priceMicros", slice.price_micros}});
    }
    nlohmann::json item = {
        {"kind", InvoiceLineKindName(line.kind)},
        {"description", line.description},
        {"tier", line.tier},
        {"meter", line.meter},
        {"quantity", line.quantity},
        {"unitPriceMicros", line.unit_price_micros ? nlohmann::json(*line.unit_price_micros) : nlohmann::json(nullptr)},
        {"packageSize", line.package_size},
        {"slices", std::move(slices)},
        {"amount", line.amount_minor},
        {"from", line.from},
        {"to", line.to},
    };
    if (!line.adjusts_period.empty()) item["adjustsPeriod"] = line.adjusts_period;
    array.push_back(std::move(item));
  }
  return array;
}

std::optional<std::vector<InvoiceLine>> InvoiceLinesFromJson(const nlohmann::json& json) {
  if (!json.is_array()) return std::nullopt;
  std::vector<InvoiceLine> lines;
  try {
    for (const nlohmann::json& item : json) {
      InvoiceLine line;
      const auto kind = ParseLineKind(item.at("kind").get<std::string>());
      if (!kind) return std::nullopt;
      line.kind = *kind;
      line.description = item.at("description").get<std::string>();
      line.tier = item.at("tier").get<std::string>();
      line.meter = item.at("meter").get<std::string>();
      line.quantity = item.at("quantity").get<std::int64_t>();
      if (!item.at("unitPriceMicros").is_null()) line.unit_price_micros = item.at("unitPriceMicros").get<std::int64_t>();
      line.package_size = item.at("packageSize").get<std::int64_t>();
      for (const nlohmann::json& slice : item.at("slices")) {
        line.slices.push_back({slice.at("quantity").get<std::int64_t>(), slice.at("packages").get<std::int64_t>(),
                               slice.at("priceMicros").get<std::int64_t>()});
      }
      line.amount_minor = item.at("amount").get<std::int64_t>();
      line.from = item.at("from").get<UnixMillis>();
      line.to = item.at("to").get<UnixMillis>();
      line.adjusts_period = item.value("adjustsPeriod", "");
      lines.push_back(std::move(line));
    }
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return lines;
}

nlohmann::json InvoiceToJson(const Invoice& invoice) {
  nlohmann::json json = {
      {"invoiceId", invoice.id},
      {"number", invoice.number},
      {"externalId", invoice.external_id},
      {"period", invoice.period},
      {"periodStart", invoice.period_start},
      {"periodEnd", invoice.period_end},
      {"currency", invoice.currency},
      {"status", InvoiceStatusName(invoice.status)},
      {"lines", InvoiceLinesToJson(invoice.lines)},
      {"total", invoice.total_minor},
      {"createdAt", invoice.created_at},
  };
  if (invoice.status == InvoiceStatus::kVoid) {
    json["voidedAt"] = invoice.voided_at;
    json["voidReason"] = invoice.void_reason;
  }
  return json;
}

}  // namespace tollgate
