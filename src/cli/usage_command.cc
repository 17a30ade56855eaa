#include "cli/usage_command.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/duration.h"
#include "cli/table.h"
#include "cli/timestamp.h"
#include "cli/usage_report.h"
#include "common/calendar.h"

namespace tollgate::cli {

namespace {

using nlohmann::json;

constexpr UnixMillis kDefaultRange = 24 * 3'600'000;
// The server's limits (usage_routes.cc), checked here too so that the message names the flags.
constexpr UnixMillis kMaxRange = 400 * kMillisPerDay;
constexpr std::int64_t kMaxRows = 10'000;
// 10000-01-01T00:00:00Z: later times have no four-digit year to show.
constexpr UnixMillis kEndOfTime = 253'402'300'800'000;

struct UsageOptions {
  ConnectionOptions connection;
  std::string key_id;
  std::string external_id;
  std::string api_id;
  std::string since;
  std::string from;
  std::string to;
  std::string by;
  int top = 0;
  bool ascii = false;
  CLI::Option* key_option = nullptr;
  CLI::Option* identity_option = nullptr;
  CLI::Option* api_option = nullptr;
  CLI::Option* since_option = nullptr;
  CLI::Option* from_option = nullptr;
  CLI::Option* to_option = nullptr;
  CLI::Option* by_option = nullptr;
};

// The flags, checked and in the server's terms.
struct UsageQuery {
  UsageReportScope scope;  // scope.from is the start of the first period
  json filter;             // keyId / externalId / apiId as given
};

Outcome<UnixMillis> ParseTimeFlag(Session& session, const char* flag, const std::string& text) {
  auto at = ParseTimestamp(text);
  if (!at) {
    return tl::unexpected(session.UsageError(fmt::format("{}: {}", flag, at.error().detail)));
  }
  return *at;
}

// [from, to) as the flags say: --since back from now, else --from/--to around the default.
Outcome<std::pair<UnixMillis, UnixMillis>> ReadRange(Session& session,
                                                     const UsageOptions& options) {
  const UnixMillis now = session.Now();
  if (Given(options.since_option)) {
    auto since = ParseDurationMillis(options.since);
    if (!since) return tl::unexpected(session.UsageError("--since: " + since.error().detail));
    if (*since <= 0) return tl::unexpected(session.UsageError("--since must be longer than 0"));
    if (*since > kMaxRange) {
      return tl::unexpected(session.UsageError(
          fmt::format("--since {} is longer than 400 days, the most the server answers at once",
                      options.since)));
    }
    return std::pair{now - *since, now};
  }
  UnixMillis to = now;
  if (Given(options.to_option)) {
    auto parsed = ParseTimeFlag(session, "--to", options.to);
    if (!parsed) return tl::unexpected(parsed.error());
    to = *parsed;
  }
  UnixMillis from = to - kDefaultRange;
  if (Given(options.from_option)) {
    auto parsed = ParseTimeFlag(session, "--from", options.from);
    if (!parsed) return tl::unexpected(parsed.error());
    from = *parsed;
  }
  return std::pair{from, to};
}

// "key key_1, identity acme", or "everything".
std::string DescribeScope(const UsageOptions& options) {
  std::vector<std::string> parts;
  if (Given(options.key_option)) parts.push_back("key " + options.key_id);
  if (Given(options.identity_option)) parts.push_back("identity " + options.external_id);
  if (Given(options.api_option)) parts.push_back("API " + options.api_id);
  if (parts.empty()) return "everything";
  return fmt::format("{}", fmt::join(parts, ", "));
}

Outcome<UsageQuery> PlanQuery(Session& session, const UsageOptions& options) {
  auto range = ReadRange(session, options);
  if (!range) return tl::unexpected(range.error());
  const auto [from, to] = *range;
  if (from >= to) {
    return tl::unexpected(session.UsageError(fmt::format(
        "the range {} to {} is empty: --from must be before --to (which defaults to now)",
        FormatTimestamp(from), FormatTimestamp(to))));
  }
  if (to - from > kMaxRange) {
    return tl::unexpected(session.UsageError(
        "the range is longer than 400 days, the most the server answers at once"));
  }
  if (from < 0 || to > kEndOfTime) {
    return tl::unexpected(
        session.UsageError("the range must lie between 1970-01-01 and 9999-12-31"));
  }

  UsageQuery query;
  query.scope.description = DescribeScope(options);
  query.scope.period = Given(options.by_option) ? ParseUsagePeriod(options.by).value()
                                                : DefaultUsagePeriod(from, to);
  query.scope.from = PeriodStart(query.scope.period, from);
  query.scope.to = to;
  const std::string_view period = UsagePeriodName(query.scope.period);
  if (to - query.scope.from > kMaxRange) {
    return tl::unexpected(session.UsageError(fmt::format(
        "from the start of its first {} ({}) the range is longer than 400 days, the most the "
        "server answers at once: shorten it",
        period, FormatTimestamp(query.scope.from))));
  }
  if (const auto rows = CountPeriods(query.scope.period, query.scope.from, to); rows > kMaxRows) {
    return tl::unexpected(session.UsageError(fmt::format(
        "--by {} gives {} rows over this range, more than {}: use a coarser --by or a shorter "
        "range",
        period, rows, kMaxRows)));
  }

  query.filter = json::object();
  if (Given(options.key_option)) query.filter["keyId"] = options.key_id;
  if (Given(options.identity_option)) query.filter["externalId"] = options.external_id;
  if (Given(options.api_option)) query.filter["apiId"] = options.api_id;
  return query;
}

// usage.topKeys or usage.topIdentities over the query's range and scope.
Outcome<json> CallTop(Session& session, const char* path, const UsageQuery& query, int limit) {
  json request = query.filter;
  request["start"] = query.scope.from;
  request["end"] = query.scope.to;
  request["limit"] = limit;
  return session.CallData(path, request);
}

void PrintTop(Session& session, const json& entries, const char* title, const char* id_field,
              const char* id_heading) {
  session.Out() << '\n' << title;
  if (!entries.is_array() || entries.empty()) {
    session.Out() << ": none in this range\n";
  } else {
    session.Out() << '\n' << RenderUsageTopTable(entries, id_field, id_heading);
  }
}

int RunUsage(Session& session, const UsageOptions& options) {
  auto query = PlanQuery(session, options);
  if (!query) return query.error().exit_code;
  const UsageReportScope& scope = query->scope;
  const std::string_view granularity = UsagePeriodName(scope.period);

  json request = query->filter;
  request["start"] = scope.from;
  request["end"] = scope.to;
  request["granularity"] = granularity;
  request["groupBy"] = "outcome";
  auto series = session.CallData("/v2/usage.timeseries", request);
  if (!series) return series.error().exit_code;
  const json* found = FindField(*series, "points");
  const json points = found != nullptr ? *found : json::array();

  // Neither list when the scope already names the one key or identity it would show.
  std::optional<json> top_keys;
  std::optional<json> top_identities;
  if (options.top > 0 && !Given(options.key_option)) {
    auto top = CallTop(session, "/v2/usage.topKeys", *query, options.top);
    if (!top) return top.error().exit_code;
    top_keys = std::move(*top);
  }
  if (options.top > 0 && !Given(options.identity_option)) {
    auto top = CallTop(session, "/v2/usage.topIdentities", *query, options.top);
    if (!top) return top.error().exit_code;
    top_identities = std::move(*top);
  }

  if (session.WantsJson()) {
    json printed{{"start", scope.from},
                 {"end", scope.to},
                 {"granularity", granularity},
                 {"points", points}};
    if (top_keys) printed["topKeys"] = *top_keys;
    if (top_identities) printed["topIdentities"] = *top_identities;
    session.PrintJson(printed);
    return kExitOk;
  }
  const bool utf8 = session.Utf8Output() && !options.ascii;
  const std::vector<UsageRow> rows =
      UsageRowsFromPoints(scope.period, scope.from, scope.to, points);
  session.Out() << RenderUsageTable(scope.period, rows, utf8) << '\n'
                << RenderRecord(UsageTotalsRecord(scope, rows, utf8));
  if (top_keys) PrintTop(session, *top_keys, "Top keys", "keyId", "KEY ID");
  if (top_identities) {
    PrintTop(session, *top_identities, "Top identities", "externalId", "IDENTITY");
  }
  return kExitOk;
}

}  // namespace

void AddUsageCommand(CLI::App& app, const SharedPtr& shared) {
  auto options = std::make_shared<UsageOptions>();
  CLI::App& command = *app.add_subcommand(
      "usage", "Show usage per period, with a bar per row: of a key, an identity, an API or all");
  options->key_option =
      command.add_option("--key,--key-id", options->key_id, "only this key (its key id)");
  options->identity_option = command.add_option("--identity,--external-id", options->external_id,
                                                "only this customer (its externalId)");
  options->api_option = command.add_option(
      "--api,--api-id", options->api_id,
      "only the keys of this API (read from the raw events, kept --usage-retention-days)");
  options->since_option = command.add_option(
      "--since", options->since, "how far back from now, e.g. 15m, 1h, 7d, 30d (default 24h)");
  options->from_option = command.add_option(
      "--from", options->from,
      "start: ISO-8601 UTC (2025-01-31T18:00:00Z), a date (2025-01-31), or Unix ms");
  options->to_option =
      command.add_option("--to", options->to, "end, exclusive, in the same forms (default now)");
  options->since_option->excludes(options->from_option)->excludes(options->to_option);
  options->by_option =
      command
          .add_option("--by", options->by,
                      "period of a row: minute, hour, day or month (default: the finest that "
                      "keeps the table to about 60 rows)")
          ->check(CLI::IsMember({"minute", "hour", "day", "month"}));
  command.add_option("--top", options->top, "also list the N busiest keys and identities")
      ->check(CLI::Range(1, 100));
  command.add_flag("--ascii", options->ascii,
                   "draw the bars with '#' and 'x' (the default when the locale is not UTF-8)");
  AddConnectionOptions(command, options->connection);
  OnRun(command, shared, options, RunUsage);
}

}  // namespace tollgate::cli
