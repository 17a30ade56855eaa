#include "cli/client_commands.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "cli/command_session.h"
#include "cli/duration.h"
#include "cli/json_fields.h"
#include "cli/resource_views.h"
#include "cli/table.h"
#include "cli/timestamp.h"
#include "cli/usage_command.h"

namespace tollgate {

namespace {

using nlohmann::json;

using cli::AddConnectionOptions;
using cli::ConnectionOptions;
using cli::Given;
using cli::OnRun;
using cli::Outcome;
using cli::Session;
using cli::SharedPtr;

// Adds a repeatable option that takes one value per occurrence, or several separated by commas.
CLI::Option* AddListOption(CLI::App& command, const std::string& name,
                           std::vector<std::string>& values, const std::string& description) {
  // allow_extra_args(false): otherwise "--role a KEY_ID" would take KEY_ID as a second role.
  return command.add_option(name, values, description)->allow_extra_args(false)->delimiter(',');
}

// --- shared flag sets ---------------------------------------------------------------------------

struct ExpiryOptions {
  std::string expires;
  std::string expires_in;
  bool never = false;
  CLI::Option* expires_option = nullptr;
  CLI::Option* expires_in_option = nullptr;
  CLI::Option* never_option = nullptr;  // keys update only
};

void AddExpiryOptions(CLI::App& command, ExpiryOptions& options, bool can_clear) {
  options.expires_option = command.add_option(
      "--expires", options.expires,
      "when the key stops working: ISO-8601 UTC (2025-01-31T18:00:00Z), a date, or Unix ms");
  options.expires_in_option = command.add_option(
      "--expires-in", options.expires_in, "how long from now the key works, e.g. 30d, 12h, 15m");
  options.expires_option->excludes(options.expires_in_option);
  if (can_clear) {
    options.never_option =
        command.add_flag("--no-expiry", options.never, "remove the key's expiry date");
    options.never_option->excludes(options.expires_option)->excludes(options.expires_in_option);
  }
}

// The request's `expires`: nullopt when no flag was given, null to clear it.
Outcome<std::optional<json>> BuildExpires(Session& session, const ExpiryOptions& options) {
  if (Given(options.never_option)) return std::optional<json>(json());
  if (Given(options.expires_option)) {
    auto at = ParseTimestamp(options.expires);
    if (!at) return tl::unexpected(session.UsageError("--expires: " + at.error().detail));
    return std::optional<json>(*at);
  }
  if (Given(options.expires_in_option)) {
    auto in = ParseDurationMillis(options.expires_in);
    if (!in) return tl::unexpected(session.UsageError("--expires-in: " + in.error().detail));
    if (*in <= 0) return tl::unexpected(session.UsageError("--expires-in must be longer than 0"));
    return std::optional<json>(session.Now() + *in);
  }
  return std::optional<json>();
}

struct CreditOptions {
  std::int64_t remaining = 0;
  std::int64_t refill_daily = 0;
  std::int64_t refill_monthly = 0;
  int refill_day = 1;
  bool unlimited = false;
  CLI::Option* remaining_option = nullptr;
  CLI::Option* refill_daily_option = nullptr;
  CLI::Option* refill_monthly_option = nullptr;
  CLI::Option* refill_day_option = nullptr;
  CLI::Option* unlimited_option = nullptr;  // keys update only
};

void AddCreditOptions(CLI::App& command, CreditOptions& options, bool can_clear) {
  options.remaining_option =
      command
          .add_option("--credits", options.remaining,
                      "uses left; each verification costs 1 unless it says otherwise "
                      "(default: unlimited, or the refill amount when refilling)")
          ->check(CLI::NonNegativeNumber);
  options.refill_daily_option =
      command.add_option("--refill-daily", options.refill_daily, "reset credits to N every day")
          ->check(CLI::PositiveNumber);
  options.refill_monthly_option =
      command
          .add_option("--refill-monthly", options.refill_monthly, "reset credits to N every month")
          ->check(CLI::PositiveNumber);
  options.refill_day_option =
      command
          .add_option("--refill-day", options.refill_day, "day of the month for --refill-monthly")
          ->check(CLI::Range(1, 31))
          ->needs(options.refill_monthly_option);
  options.refill_daily_option->excludes(options.refill_monthly_option);
  if (can_clear) {
    options.unlimited_option =
        command.add_flag("--unlimited-credits", options.unlimited, "remove the key's credit limit");
    options.unlimited_option->excludes(options.remaining_option)
        ->excludes(options.refill_daily_option)
        ->excludes(options.refill_monthly_option);
  }
}

// The request's `credits`: nullopt when no flag was given, {remaining: null} for unlimited.
std::optional<json> BuildCredits(const CreditOptions& options) {
  if (Given(options.unlimited_option)) return json{{"remaining", nullptr}};
  json refill;
  std::int64_t amount = 0;
  if (Given(options.refill_daily_option)) {
    amount = options.refill_daily;
    refill = {{"interval", "daily"}, {"amount", amount}};
  } else if (Given(options.refill_monthly_option)) {
    amount = options.refill_monthly;
    refill = {{"interval", "monthly"}, {"amount", amount}};
    if (Given(options.refill_day_option)) refill["refillDay"] = options.refill_day;
  }
  if (!Given(options.remaining_option) && refill.is_null()) return std::nullopt;
  json credits{{"remaining", Given(options.remaining_option) ? options.remaining : amount}};
  if (!refill.is_null()) credits["refill"] = std::move(refill);
  return credits;
}

// --meta: must be a JSON object, as the API's meta is.
Outcome<json> ParseMeta(Session& session, const std::string& text) {
  json meta = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object()) {
    return tl::unexpected(
        session.UsageError(R"(--meta must be a JSON object, e.g. --meta '{"plan":"pro"}')"));
  }
  return meta;
}

// Prints a secret that exists in plain text only in this response. The record goes to stdout
// for the reader or a script; the warning to stderr, so that it does not pollute captures.
void PrintNewSecret(Session& session, const json& data, std::string_view what) {
  session.Out() << RenderRecord(
      {{"Key ID", TextField(data, "keyId")}, {"Key", TextField(data, "key")}});
  session.Err() << fmt::format(
      "\nStore the {} now: it is shown only once, and tollgate keeps only its hash.\n", what);
}

// --- apis ---------------------------------------------------------------------------------------

struct ApisCreateOptions {
  ConnectionOptions connection;
  std::string name;
};

int RunApisCreate(Session& session, const ApisCreateOptions& options) {
  auto data = session.CallData("/v2/apis.createApi", {{"name", options.name}});
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    // The bare id, so that `API_ID=$(tollgate apis create --name x)` works.
    session.Out() << StripControlCharacters(TextField(*data, "apiId")) << '\n';
  }
  return kExitOk;
}

struct ApiIdOptions {
  ConnectionOptions connection;
  std::string api_id;
};

int RunApisGet(Session& session, const ApiIdOptions& options) {
  auto data = session.CallData("/v2/apis.getApi", {{"apiId", options.api_id}});
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    session.Out() << RenderRecord(
        {{"API ID", TextField(*data, "id")}, {"Name", TextField(*data, "name")}});
  }
  return kExitOk;
}

int RunApisDelete(Session& session, const ApiIdOptions& options) {
  auto data = session.CallData("/v2/apis.deleteApi", {{"apiId", options.api_id}});
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    session.Out() << "Deleted API " << StripControlCharacters(options.api_id) << '\n';
  }
  return kExitOk;
}

void AddApisCommands(CLI::App& app, const SharedPtr& shared) {
  CLI::App& apis = *app.add_subcommand("apis", "Create, show and delete APIs (namespaces of keys)");
  apis.require_subcommand(1);

  {
    auto options = std::make_shared<ApisCreateOptions>();
    CLI::App& command = *apis.add_subcommand("create", "Create an API and print its id");
    command.add_option("--name", options->name, "name of the API")->required();
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunApisCreate);
  }
  {
    auto options = std::make_shared<ApiIdOptions>();
    CLI::App& command = *apis.add_subcommand("get", "Show an API");
    command.add_option("API_ID", options->api_id, "id of the API")->required();
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunApisGet);
  }
  {
    auto options = std::make_shared<ApiIdOptions>();
    CLI::App& command = *apis.add_subcommand("delete", "Delete an API and with it all its keys");
    command.add_option("API_ID", options->api_id, "id of the API")->required();
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunApisDelete);
  }
}

// --- keys ---------------------------------------------------------------------------------------

struct KeysCreateOptions {
  ConnectionOptions connection;
  std::string api_id;
  std::string prefix;
  std::string name;
  std::string external_id;
  int byte_length = 0;
  ExpiryOptions expiry;
  CreditOptions credits;
  std::vector<std::string> permissions;
  std::vector<std::string> roles;
  std::string meta;
  bool disabled = false;
  CLI::Option* prefix_option = nullptr;
  CLI::Option* name_option = nullptr;
  CLI::Option* external_id_option = nullptr;
  CLI::Option* byte_length_option = nullptr;
  CLI::Option* meta_option = nullptr;
};

int RunKeysCreate(Session& session, const KeysCreateOptions& options) {
  json request{{"apiId", options.api_id}};
  if (Given(options.prefix_option)) request["prefix"] = options.prefix;
  if (Given(options.name_option)) request["name"] = options.name;
  if (Given(options.external_id_option)) request["externalId"] = options.external_id;
  if (Given(options.byte_length_option)) request["byteLength"] = options.byte_length;
  if (Given(options.meta_option)) {
    auto meta = ParseMeta(session, options.meta);
    if (!meta) return meta.error().exit_code;
    request["meta"] = std::move(*meta);
  }
  auto expires = BuildExpires(session, options.expiry);
  if (!expires) return expires.error().exit_code;
  if (*expires) request["expires"] = std::move(**expires);
  if (auto credits = BuildCredits(options.credits)) request["credits"] = std::move(*credits);
  if (!options.permissions.empty()) request["permissions"] = options.permissions;
  if (!options.roles.empty()) request["roles"] = options.roles;
  if (options.disabled) request["enabled"] = false;

  auto data = session.CallData("/v2/keys.createKey", request);
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    PrintNewSecret(session, *data, "key");
  }
  return kExitOk;
}

struct KeyIdOptions {
  ConnectionOptions connection;
  std::string key_id;
};

int RunKeysGet(Session& session, const KeyIdOptions& options) {
  auto data = session.CallData("/v2/keys.getKey", {{"keyId", options.key_id}});
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    session.Out() << RenderRecord(KeyRecord(*data));
  }
  return kExitOk;
}

struct KeysListOptions {
  ConnectionOptions connection;
  std::string api_id;
  std::string external_id;
  int limit = 0;
  std::string cursor;
  bool all = false;
  CLI::Option* external_id_option = nullptr;
  CLI::Option* limit_option = nullptr;
  CLI::Option* cursor_option = nullptr;
};

int RunKeysList(Session& session, const KeysListOptions& options) {
  json request{{"apiId", options.api_id}};
  if (Given(options.external_id_option)) request["externalId"] = options.external_id;
  if (Given(options.limit_option)) request["limit"] = options.limit;
  if (Given(options.cursor_option)) request["cursor"] = options.cursor;

  std::vector<json> keys;
  bool has_more = false;
  std::string cursor;
  // Cursors already sent: a server that hands one out twice would otherwise loop --all forever.
  std::set<std::string> sent;
  while (true) {
    auto envelope = session.Call("/v2/apis.listKeys", request);
    if (!envelope) return envelope.error().exit_code;
    if (const json* data = FindField(*envelope, "data"); data != nullptr && data->is_array()) {
      keys.insert(keys.end(), data->begin(), data->end());
    }
    const json* pagination = FindField(*envelope, "pagination");
    has_more = pagination != nullptr && IsTrue(*pagination, "hasMore");
    cursor = pagination != nullptr ? TextField(*pagination, "cursor", "") : "";
    if (!options.all || !has_more || cursor.empty() || !sent.insert(cursor).second) break;
    request["cursor"] = cursor;
  }

  if (session.WantsJson()) {
    session.PrintJson(json(keys));
  } else if (keys.empty()) {
    session.Out() << "No keys.\n";
  } else {
    session.Out() << RenderKeyTable(keys);
  }
  if (has_more && !options.all) {
    session.Err() << fmt::format("More keys follow: rerun with --all, or with --cursor {}\n",
                                 StripControlCharacters(cursor));
  } else if (has_more) {
    session.Err() << "warning: the server says more keys follow but gave no new cursor; the list "
                     "is incomplete\n";
  }
  return kExitOk;
}

struct KeysUpdateOptions {
  ConnectionOptions connection;
  std::string key_id;
  std::string name;
  bool enable = false;
  bool disable = false;
  std::string external_id;
  std::string meta;
  ExpiryOptions expiry;
  CreditOptions credits;
  std::vector<std::string> permissions;
  std::vector<std::string> roles;
  CLI::Option* name_option = nullptr;
  CLI::Option* external_id_option = nullptr;
  CLI::Option* meta_option = nullptr;
  CLI::Option* permissions_option = nullptr;
  CLI::Option* roles_option = nullptr;
};

int RunKeysUpdate(Session& session, const KeysUpdateOptions& options) {
  json request{{"keyId", options.key_id}};
  if (Given(options.name_option)) request["name"] = options.name;
  if (options.enable) request["enabled"] = true;
  if (options.disable) request["enabled"] = false;
  if (Given(options.external_id_option)) request["externalId"] = options.external_id;
  if (Given(options.meta_option)) {
    auto meta = ParseMeta(session, options.meta);
    if (!meta) return meta.error().exit_code;
    request["meta"] = std::move(*meta);
  }
  auto expires = BuildExpires(session, options.expiry);
  if (!expires) return expires.error().exit_code;
  if (*expires) request["expires"] = std::move(**expires);
  if (auto credits = BuildCredits(options.credits)) request["credits"] = std::move(*credits);
  if (Given(options.permissions_option)) request["permissions"] = options.permissions;
  if (Given(options.roles_option)) request["roles"] = options.roles;
  if (request.size() == 1) {
    return session.UsageError("nothing to update: give at least one change, see --help").exit_code;
  }

  auto data = session.CallData("/v2/keys.updateKey", request);
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    session.Out() << "Updated key " << StripControlCharacters(options.key_id) << '\n';
  }
  return kExitOk;
}

struct KeysRevokeOptions {
  ConnectionOptions connection;
  std::string key_id;
  bool permanent = false;
};

int RunKeysRevoke(Session& session, const KeysRevokeOptions& options) {
  json request{{"keyId", options.key_id}};
  if (options.permanent) request["permanent"] = true;
  auto data = session.CallData("/v2/keys.deleteKey", request);
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    session.Out() << fmt::format("Revoked key {}{}\n", StripControlCharacters(options.key_id),
                                 options.permanent ? " and deleted it permanently" : "");
  }
  return kExitOk;
}

struct KeysRerollOptions {
  ConnectionOptions connection;
  std::string key_id;
  std::string expiration = "0";
};

int RunKeysReroll(Session& session, const KeysRerollOptions& options) {
  auto expiration = ParseDurationMillis(options.expiration);
  if (!expiration) {
    return session.UsageError("--expiration: " + expiration.error().detail).exit_code;
  }
  auto data = session.CallData("/v2/keys.rerollKey",
                               {{"keyId", options.key_id}, {"expiration", *expiration}});
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
    return kExitOk;
  }
  PrintNewSecret(session, *data, "new key");
  session.Err() << fmt::format("The old key {} {}.\n", StripControlCharacters(options.key_id),
                               *expiration == 0
                                   ? "no longer works"
                                   : "keeps working for " + FormatDurationMillis(*expiration));
  return kExitOk;
}

struct KeysVerifyOptions {
  ConnectionOptions connection;
  std::string key;
  std::string permissions;
  std::int64_t cost = 0;
  CLI::Option* permissions_option = nullptr;
  CLI::Option* cost_option = nullptr;
};

// The key to verify: the argument, or with "-" the first line of stdin, which keeps the secret
// out of the process list and shell history.
Outcome<std::string> KeyToVerify(Session& session, const std::string& argument) {
  if (argument != "-") return argument;
  std::string line;
  std::getline(session.In(), line);
  const std::size_t end = line.find_last_not_of(" \t\r\n");
  line.erase(end == std::string::npos ? 0 : end + 1);
  line.erase(0, std::min(line.size(), line.find_first_not_of(" \t")));
  if (line.empty()) return tl::unexpected(session.UsageError("no key on standard input"));
  return line;
}

int RunKeysVerify(Session& session, const KeysVerifyOptions& options) {
  auto key = KeyToVerify(session, options.key);
  if (!key) return key.error().exit_code;
  json request{{"key", *key}};
  if (Given(options.permissions_option)) request["permissions"] = options.permissions;
  if (Given(options.cost_option)) request["credits"] = {{"cost", options.cost}};
  auto data = session.CallData("/v2/keys.verifyKey", request);
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    session.Out() << RenderRecord(VerifyRecord(*data));
  }
  return IsTrue(*data, "valid") ? kExitOk : kExitKeyNotValid;
}

void AddKeysCommands(CLI::App& app, const SharedPtr& shared) {
  CLI::App& keys = *app.add_subcommand("keys", "Issue, inspect, change and verify API keys");
  keys.require_subcommand(1);

  {
    auto options = std::make_shared<KeysCreateOptions>();
    CLI::App& command =
        *keys.add_subcommand("create", "Create a key; prints its id and the key, shown only once");
    command.add_option("--api-id", options->api_id, "API the key belongs to")->required();
    options->prefix_option =
        command.add_option("--prefix", options->prefix, "text before the key's '_', e.g. sk");
    options->name_option = command.add_option("--name", options->name, "name for people");
    options->external_id_option = command.add_option("--external-id", options->external_id,
                                                     "your id of the customer who owns the key");
    options->byte_length_option = command.add_option(
        "--byte-length", options->byte_length, "random bytes in the key (16..255, default 16)");
    AddExpiryOptions(command, options->expiry, /*can_clear=*/false);
    AddCreditOptions(command, options->credits, /*can_clear=*/false);
    AddListOption(command, "--permission", options->permissions,
                  "permission to grant (repeatable)");
    AddListOption(command, "--role", options->roles, "role to grant (repeatable)");
    options->meta_option = command.add_option("--meta", options->meta,
                                              R"(JSON object to store, e.g. '{"plan":"pro"}')");
    command.add_flag("--disabled", options->disabled, "create the key disabled");
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunKeysCreate);
  }
  {
    auto options = std::make_shared<KeyIdOptions>();
    CLI::App& command = *keys.add_subcommand("get", "Show a key (never its secret)");
    command.add_option("KEY_ID", options->key_id, "id of the key")->required();
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunKeysGet);
  }
  {
    auto options = std::make_shared<KeysListOptions>();
    CLI::App& command = *keys.add_subcommand("list", "List the keys of an API");
    command.add_option("--api-id", options->api_id, "API whose keys to list")->required();
    options->external_id_option =
        command.add_option("--external-id", options->external_id, "only the keys of this customer");
    options->limit_option =
        command.add_option("--limit", options->limit, "keys per page (1..100, default 100)");
    options->cursor_option =
        command.add_option("--cursor", options->cursor, "continue where a previous page ended");
    command.add_flag("--all", options->all, "follow pagination and list every key");
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunKeysList);
  }
  {
    auto options = std::make_shared<KeysUpdateOptions>();
    CLI::App& command =
        *keys.add_subcommand("update", "Change a key; only the given fields change");
    command.add_option("KEY_ID", options->key_id, "id of the key")->required();
    options->name_option = command.add_option("--name", options->name, "new name");
    CLI::Option* enable = command.add_flag("--enable", options->enable, "let the key verify again");
    CLI::Option* disable =
        command.add_flag("--disable", options->disable, "make verifications answer DISABLED");
    enable->excludes(disable);
    options->external_id_option =
        command.add_option("--external-id", options->external_id, "move the key to this customer");
    options->meta_option =
        command.add_option("--meta", options->meta, "replace the stored JSON object");
    AddExpiryOptions(command, options->expiry, /*can_clear=*/true);
    AddCreditOptions(command, options->credits, /*can_clear=*/true);
    options->permissions_option = AddListOption(command, "--permission", options->permissions,
                                                "replace the permissions (repeatable)");
    options->roles_option =
        AddListOption(command, "--role", options->roles, "replace the roles (repeatable)");
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunKeysUpdate);
  }
  {
    auto options = std::make_shared<KeysRevokeOptions>();
    CLI::App& command = *keys.add_subcommand("revoke", "Revoke a key; it stops verifying at once");
    command.add_option("KEY_ID", options->key_id, "id of the key")->required();
    command.add_flag("--permanent", options->permanent,
                     "delete the key's record too, instead of keeping it marked deleted");
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunKeysRevoke);
  }
  {
    auto options = std::make_shared<KeysRerollOptions>();
    CLI::App& command = *keys.add_subcommand(
        "reroll", "Replace a key by a new one with the same settings; prints the new key once");
    command.add_option("KEY_ID", options->key_id, "id of the key to replace")->required();
    command
        .add_option("--expiration", options->expiration,
                    "how long the old key keeps working, e.g. 1h; 0 revokes it at once")
        ->capture_default_str();
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunKeysReroll);
  }
  {
    auto options = std::make_shared<KeysVerifyOptions>();
    CLI::App& command = *keys.add_subcommand(
        "verify", "Verify a key as your backend would; exits 0 when VALID, 3 when not");
    command.add_option("KEY", options->key, "the key, or - to read it from standard input")
        ->required();
    options->permissions_option =
        command.add_option("--permissions", options->permissions,
                           "permission query, e.g. \"read AND (write OR admin)\"");
    options->cost_option =
        command.add_option("--cost", options->cost, "credits this verification uses (default 1)")
            ->check(CLI::NonNegativeNumber);
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunKeysVerify);
  }
}

// --- rootkeys -----------------------------------------------------------------------------------

struct RootKeysCreateOptions {
  ConnectionOptions connection;
  std::vector<std::string> permissions;
  std::string name;
  CLI::Option* name_option = nullptr;
};

int RunRootKeysCreate(Session& session, const RootKeysCreateOptions& options) {
  json request{{"permissions", options.permissions}};
  if (Given(options.name_option)) request["name"] = options.name;
  auto data = session.CallData("/v2/rootKeys.createRootKey", request);
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    PrintNewSecret(session, *data, "root key");
  }
  return kExitOk;
}

struct ConnectionOnlyOptions {
  ConnectionOptions connection;
};

int RunRootKeysList(Session& session, const ConnectionOnlyOptions&) {
  auto data = session.CallData("/v2/rootKeys.listRootKeys", json::object());
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else if (!data->is_array() || data->empty()) {
    session.Out() << "No root keys.\n";
  } else {
    session.Out() << RenderRootKeyTable(*data);
  }
  return kExitOk;
}

int RunRootKeysDelete(Session& session, const KeyIdOptions& options) {
  auto data = session.CallData("/v2/rootKeys.deleteRootKey", {{"keyId", options.key_id}});
  if (!data) return data.error().exit_code;
  if (session.WantsJson()) {
    session.PrintJson(*data);
  } else {
    session.Out() << "Deleted root key " << StripControlCharacters(options.key_id) << '\n';
  }
  return kExitOk;
}

void AddRootKeysCommands(CLI::App& app, const SharedPtr& shared) {
  CLI::App& root_keys =
      *app.add_subcommand("rootkeys", "Manage the root keys that authenticate calls to tollgate");
  root_keys.require_subcommand(1);

  {
    auto options = std::make_shared<RootKeysCreateOptions>();
    CLI::App& command = *root_keys.add_subcommand(
        "create", "Create a root key with the given scopes; prints it once");
    AddListOption(command, "--permission", options->permissions,
                  "scope to grant, e.g. api.*.verify_key (repeatable; only scopes you hold)")
        ->required();
    options->name_option = command.add_option("--name", options->name, "name for people");
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunRootKeysCreate);
  }
  {
    auto options = std::make_shared<ConnectionOnlyOptions>();
    CLI::App& command = *root_keys.add_subcommand("list", "List root keys (never their secrets)");
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunRootKeysList);
  }
  {
    auto options = std::make_shared<KeyIdOptions>();
    CLI::App& command = *root_keys.add_subcommand("delete", "Delete a root key; it stops working");
    command.add_option("ID", options->key_id, "id of the root key")->required();
    AddConnectionOptions(command, options->connection);
    OnRun(command, shared, options, RunRootKeysDelete);
  }
}

}  // namespace

ClientEnvironment DefaultClientEnvironment() {
  return {
      [](const ServerUrl& url, const std::string& root_key) -> ApiTransportPtr {
        return std::make_unique<HttpClient>(url, root_key);
      },
      std::cout,
      std::cerr,
      std::cin,
      std::make_shared<SystemClock>(),
      LocaleIsUtf8(std::getenv("LC_ALL"), std::getenv("LC_CTYPE"), std::getenv("LANG")),
  };
}

void AddClientCommands(CLI::App& app, int& exit_code) {
  AddClientCommands(app, exit_code, DefaultClientEnvironment());
}

void AddClientCommands(CLI::App& app, int& exit_code, ClientEnvironment environment) {
  auto shared = std::make_shared<cli::Shared>(cli::Shared{std::move(environment), exit_code});
  AddApisCommands(app, shared);
  AddKeysCommands(app, shared);
  AddRootKeysCommands(app, shared);
  cli::AddUsageCommand(app, shared);
}

}  // namespace tollgate
