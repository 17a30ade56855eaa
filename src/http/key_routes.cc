#include "auth/scope.h"
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/key_json.h"
#include "http/routes.h"

namespace tollgate {
namespace {

// Forbidden unless the root key may perform `action` on at least one API. Checked before a key
// is looked up, so a root key without the action learns nothing of which keys exist (404 vs 403).
Status RequireActionOnSomeApi(const RpcContext& ctx, std::string_view action) {
  if (ScopesAllowAnyApi(ctx.root_key.permissions, action)) return {};
  return Fail(Error{ErrorCode::kForbidden, "this root key lacks the permission '" + ApiScope("*", action) + "' (or '" +
                                               ApiScope("<apiId>", action) + "' for the key's API)", {}});
}

// Finds the key by id and checks that the root key may perform `action` on the key's API.
Result<CachedKeyPtr> AuthorizeKey(const RpcContext& ctx, KeyService& keys, const std::string& key_id,
                                  std::string_view action) {
  if (auto s = RequireActionOnSomeApi(ctx, action); !s) return Fail(s.error());
  CachedKeyPtr entry = keys.cache().FindById(key_id);
  if (!entry) return Fail(Error::NotFound("no key with id '" + key_id + "'"));
  if (auto s = RequireScope(ctx.root_key, ApiScope(entry->key.api_id, action)); !s) return Fail(s.error());
  return entry;
}

Result<HttpResponse> Empty(const RpcContext& ctx) { return OkResponse(ctx.request.request_id, nlohmann::json::object()); }

// Fields shared by createKey and updateKey, read into `key` when present.
struct KeyFields {
  std::optional<std::string> name, external_id, meta_json;
  std::optional<std::optional<UnixMillis>> expires;
  std::optional<std::optional<Credits>> credits;
  std::optional<std::vector<RateLimitConfig>> ratelimits;
  std::optional<bool> enabled;
  std::optional<std::vector<std::string>> permissions, roles;
  std::optional<std::string> tier;  // "" (from null) clears
};

KeyFields ReadKeyFields(FieldReader& body) {
  KeyFields f;
  if (body.IsNull("name")) f.name = ""; else f.name = body.OptionalString("name", 1, 255);
  if (body.IsNull("externalId")) f.external_id = ""; else f.external_id = body.OptionalString("externalId", 1, 255);
  if (body.IsNull("meta")) f.meta_json = ""; else f.meta_json = body.OptionalObjectText("meta");
  if (body.IsNull("expires")) {
    f.expires = std::optional<UnixMillis>{};
  } else if (auto expires = body.OptionalInt("expires", 0)) {
    f.expires = std::optional<UnixMillis>(*expires);
  }
  if (body.IsNull("credits")) {
    f.credits = std::optional<Credits>{};
  } else if (const nlohmann::json* credits = body.OptionalObject("credits")) {
    f.credits = ReadCredits(*credits, body.At("credits"), body);
  }
  if (const nlohmann::json* limits = body.OptionalArray("ratelimits")) {
    f.ratelimits = ReadRateLimits(*limits, body.At("ratelimits"), body);
  }
  f.enabled = body.OptionalBool("enabled");
  f.permissions = body.OptionalStringArray("permissions");
  f.roles = body.OptionalStringArray("roles");
  if (body.IsNull("tier")) f.tier = ""; else f.tier = body.OptionalString("tier", 1, 64);
  return f;
}

}  // namespace

void AddKeyRoutes(Router& router, KeyService& keys) {
  router.AddRpc("/v2/keys.createKey", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    CreateKeyParams params;
    params.api_id = body.RequiredString("apiId", 1, 255);
    params.prefix = body.OptionalString("prefix", 1, 16).value_or("");
    params.byte_length = static_cast<int>(body.OptionalInt("byteLength", 16, 255).value_or(16));
    KeyFields f = ReadKeyFields(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireScope(ctx.root_key, ApiScope(params.api_id, "create_key")); !s) return Fail(s.error());
    if (auto api = keys.GetApi(params.api_id); !api) return Fail(api.error());
    params.name = f.name.value_or("");
    params.external_id = f.external_id.value_or("");
    params.meta_json = f.meta_json.value_or("");
    if (f.expires) params.expires = *f.expires;
    if (f.credits) params.credits = *f.credits;
    if (f.ratelimits) params.ratelimits = std::move(*f.ratelimits);
    params.enabled = f.enabled.value_or(true);
    if (f.permissions) params.permissions = std::move(*f.permissions);
    if (f.roles) params.roles = std::move(*f.roles);
    params.tier = f.tier.value_or("");
    auto created = keys.CreateKey(std::move(params));
    if (!created) return Fail(created.error());
    return OkResponse(ctx.request.request_id, {{"keyId", created->key_id}, {"key", created->secret}});
  });

  router.AddRpc("/v2/keys.getKey", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string key_id = body.RequiredString("keyId", 1, 255);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto entry = AuthorizeKey(ctx, keys, key_id, "read_key"); !entry) return Fail(entry.error());
    auto view = keys.GetKey(key_id);
    if (!view) return Fail(view.error());
    return OkResponse(ctx.request.request_id, KeyToJson(view->key, view->identity));
  });

  router.AddRpc("/v2/keys.whoami", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string secret = body.RequiredString("key", 1, 1024);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto s = RequireActionOnSomeApi(ctx, "read_key"); !s) return Fail(s.error());
    CachedKeyPtr entry = keys.FindForVerify(secret);
    if (!entry) return Fail(Error::NotFound("no key matches the given secret"));
    if (auto s = RequireScope(ctx.root_key, ApiScope(entry->key.api_id, "read_key")); !s) return Fail(s.error());
    auto view = keys.GetKey(entry->key.id);
    if (!view) return Fail(view.error());
    return OkResponse(ctx.request.request_id, KeyToJson(view->key, view->identity));
  });

  router.AddRpc("/v2/keys.updateKey", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    UpdateKeyParams params;
    params.key_id = body.RequiredString("keyId", 1, 255);
    KeyFields f = ReadKeyFields(body);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto entry = AuthorizeKey(ctx, keys, params.key_id, "update_key"); !entry) return Fail(entry.error());
    params.name = std::move(f.name);
    params.external_id = std::move(f.external_id);
    params.meta_json = std::move(f.meta_json);
    params.expires = f.expires;
    params.credits = std::move(f.credits);
    params.ratelimits = std::move(f.ratelimits);
    params.enabled = f.enabled;
    params.permissions = std::move(f.permissions);
    params.roles = std::move(f.roles);
    params.tier = std::move(f.tier);
    if (auto s = keys.UpdateKey(std::move(params)); !s) return Fail(s.error());
    return Empty(ctx);
  });

  router.AddRpc("/v2/keys.deleteKey", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string key_id = body.RequiredString("keyId", 1, 255);
    const bool permanent = body.OptionalBool("permanent").value_or(false);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto entry = AuthorizeKey(ctx, keys, key_id, "delete_key"); !entry) return Fail(entry.error());
    if (auto s = keys.DeleteKey(key_id, permanent); !s) return Fail(s.error());
    return Empty(ctx);
  });

  router.AddRpc("/v2/keys.rerollKey", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string key_id = body.RequiredString("keyId", 1, 255);
    const std::int64_t expiration = body.RequiredInt("expiration", 0, 4'102'444'800'000);
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto entry = AuthorizeKey(ctx, keys, key_id, "create_key"); !entry) return Fail(entry.error());
    auto created = keys.RerollKey(key_id, expiration);
    if (!created) return Fail(created.error());
    return OkResponse(ctx.request.request_id, {{"keyId", created->key_id}, {"key", created->secret}});
  });

  router.AddRpc("/v2/keys.updateCredits", [&keys](const RpcContext& ctx) -> Result<HttpResponse> {
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string key_id = body.RequiredString("keyId", 1, 255);
    const std::string operation = body.RequiredString("operation");
    const std::optional<std::int64_t> value = body.OptionalInt("value", 0);
    CreditOperation op = CreditOperation::kSet;
    if (operation == "increment") {
      op = CreditOperation::kIncrement;
    } else if (operation == "decrement") {
      op = CreditOperation::kDecrement;
    } else if (operation != "set" && !operation.empty()) {
      body.AddError("body.operation", "must be \"set\", \"increment\" or \"decrement\"");
    }
    if (operation == "set" && !body.Has("value")) {
      body.AddError("body.value", "is required for \"set\"", "send null to make the credits unlimited");
    }
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    if (auto entry = AuthorizeKey(ctx, keys, key_id, "update_key"); !entry) return Fail(entry.error());
    auto credits = keys.UpdateCredits(key_id, op, value);
    if (!credits) return Fail(credits.error());
    return OkResponse(ctx.request.request_id, CreditsToJson(*credits));
  });
}

}  // namespace tollgate
