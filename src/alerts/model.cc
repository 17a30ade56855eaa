#include "alerts/model.h"

#include <algorithm>
#include <array>
#include <utility>

namespace tollgate {
namespace {

// One table per enum: the name of each value, looked up both ways.
template <typename Enum, std::size_t N>
std::string_view NameIn(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum value) {
  for (const auto& [candidate, name] : names) {
    if (candidate == value) return name;
  }
  return names.front().second;
}

template <typename Enum, std::size_t N>
std::optional<Enum> ParseIn(const std::array<std::pair<Enum, std::string_view>, N>& names, std::string_view text) {
  for (const auto& [value, name] : names) {
    if (name == text) return value;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<AlertKind, std::string_view>, 3> kKinds = {{
    {AlertKind::kQuotaPercent, "quota_percent"},
    {AlertKind::kCreditsBelow, "credits_below"},
    {AlertKind::kRatelimitBreaches, "ratelimit_breaches"},
}};
constexpr std::array<std::pair<AlertState, std::string_view>, 2> kStates = {{
    {AlertState::kFiring, "firing"},
    {AlertState::kResolved, "resolved"},
}};
constexpr std::array<std::pair<WebhookFormat, std::string_view>, 2> kFormats = {{
    {WebhookFormat::kTollgate, "tollgate"},
    {WebhookFormat::kAlertmanager, "alertmanager"},
}};
constexpr std::array<std::pair<DeliveryStatus, std::string_view>, 3> kStatuses = {{
    {DeliveryStatus::kPending, "pending"},
    {DeliveryStatus::kDelivered, "delivered"},
    {DeliveryStatus::kFailed, "failed"},
}};

}  // namespace

std::string_view AlertKindName(AlertKind kind) { return NameIn(kKinds, kind); }
std::optional<AlertKind> ParseAlertKind(std::string_view name) { return ParseIn(kKinds, name); }
std::string_view AlertStateName(AlertState state) { return NameIn(kStates, state); }
std::optional<AlertState> ParseAlertState(std::string_view name) { return ParseIn(kStates, name); }
std::string_view WebhookFormatName(WebhookFormat format) { return NameIn(kFormats, format); }
std::optional<WebhookFormat> ParseWebhookFormat(std::string_view name) { return ParseIn(kFormats, name); }
std::string_view DeliveryStatusName(DeliveryStatus status) { return NameIn(kStatuses, status); }
std::optional<DeliveryStatus> ParseDeliveryStatus(std::string_view name) { return ParseIn(kStatuses, name); }

std::string_view AlertEventType(AlertState state) {
  return state == AlertState::kFiring ? kAlertFiring : kAlertResolved;
}

bool Webhook::Receives(std::string_view event_type) const {
  return std::find(events.begin(), events.end(), event_type) != events.end();
}

}  // namespace tollgate
