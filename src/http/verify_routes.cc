#include <cmath>

#include "auth/scope.h"
#include "common/calendar.h"
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/key_json.h"
#include "http/routes.h"
#include "verify/verify_usage.h"

namespace tollgate {
namespace {

// Unknown keys one client address may present to keys.authorize per window before every
// further lookup from it answers 429: enough for a misconfigured client to notice, too few to
// guess a 128-bit secret.
constexpr std::int64_t kUnknownKeyBudget = 20;
constexpr std::int64_t kUnknownKeyWindowMs = 60'000;

std::int64_t CeilSeconds(std::int64_t ms) { return ms <= 0 ? 0 : (ms + 999) / 1000; }

// The data of a verify answer: Unkey v2's V2KeysVerifyKeyResponseData, plus tollgate's tier,
// quota and per-limit ids.
void WriteVerifyResult(JsonOut& out, const VerifyResult& result, UnixMillis now) {
  const VerifyOutcome& outcome = result.outcome;
  out.StartObject().Field("valid", outcome.valid()).Field("code", VerifyCodeName(outcome.code));
  if (!outcome.key) {
    out.EndObject();
    return;
  }
  const Key& key = outcome.key->key;
  out.Field("keyId", key.id);
  if (!key.name.empty()) out.Field("name", key.name);
  if (!key.meta_json.empty()) out.Key("meta").Raw(key.meta_json);
  if (key.expires) out.Field("expires", *key.expires);
  if (outcome.credits_remaining) out.Field("credits", *outcome.credits_remaining);
  out.Field("enabled", key.enabled);
  out.Key("permissions").Strings(key.permissions);
  out.Key("roles").Strings(key.roles);
  if (const Identity* identity = outcome.key->identity.get()) {
    out.Key("identity");
    WriteIdentity(out, *identity);
  }
  if (result.tier) out.Field("tier", result.tier->name);
  if (!result.limits.empty()) {
    out.Key("ratelimits").StartArray();
    for (const AppliedLimit& limit : result.limits) {
      const UnixMillis reset = limit.reset_at > now ? limit.reset_at : now + limit.duration_ms - now % limit.duration_ms;
      out.StartObject()
          .Field("id", limit.id)
          .Field("name", limit.name)
          .Field("exceeded", limit.exceeded)
          .Field("limit", limit.limit)
          .Field("duration", limit.duration_ms)
          .Field("reset", reset)
          .Field("remaining", limit.remaining)
          .Field("autoApply", limit.auto_apply)
          .EndObject();
    }
    out.EndArray();
  }
  if (result.quota) {
    out.Key("quota")
        .StartObject()
        .Field("used", result.quota->used)
        .Field("included", result.quota->included)
        .Field("remaining", result.quota->remaining)
        .Field("periodEnd", result.quota->period_end)
        .Field("overage", result.quota->overage)
        .EndObject();
  }
  out.EndObject();
}

// IETF RateLimit-Policy / RateLimit structured fields (draft-ietf-httpapi-ratelimit-headers):
// one list member per applied limit, windows and resets in whole seconds (rounded up).
void SetRateLimitHeaders(HttpResponse& response, const VerifyResult& result, UnixMillis now) {
  if (result.limits.empty()) return;
  std::string policy;
  std::string state;
  for (const AppliedLimit& limit : result.limits) {
    if (!policy.empty()) {
      policy += ", ";
      state += ", ";
    }
    const std::string name = "\"" + limit.name + "\"";
    policy += name + ";q=" + std::to_string(limit.limit) + ";w=" + std::to_string(CeilSeconds(limit.duration_ms));
    const UnixMillis reset = limit.exceeded ? limit.reset_at : now + limit.duration_ms - now % limit.duration_ms;
    state += name + ";r=" + std::to_string(limit.remaining) + ";t=" + std::to_string(CeilSeconds(reset - now));
  }
  response.SetHeader("RateLimit-Policy", std::move(policy));
  response.SetHeader("RateLimit", std::move(state));
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The decoded value of `name` in a query string, or nullopt.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

HttpResponse AuthorizeError(const HttpRequest& request, unsigned status, std::string_view code, const std::string& detail) {
  HttpResponse response;
  response.status = status;
  response.body = DumpJson({{"valid", false}, {"code", code}, {"detail", detail}, {"requestId", request.request_id}});
  if (status == 401) response.SetHeader("WWW-Authenticate", "Bearer");
  return response;
}

// Charges `cost` unknown keys to the client address (0 only asks); the decision says whether
// it may present another. Node-local on purpose: a throttle of guessing, not a customer limit.
LimitDecision CountMiss(CounterStore& limiter, const std::string& client, UnixMillis now, std::int64_t cost) {
  LimitCheck check{"authz-miss:" + client, LimitAlgorithm::kSlidingWindow, kUnknownKeyBudget, kUnknownKeyWindowMs, cost};
  LimitDecision decision;
  decision.allowed = true;
  limiter.CheckAndCharge(std::span<const LimitCheck>(&check, 1), now, [&](Result<std::vector<LimitDecision>> d) {
    if (d && !d->empty()) decision = d->front();
  });
  return decision;
}

// keys.authorize's answer to one verification: status, body and headers.
HttpResponse AuthorizeAnswer(const VerifyRouteServices& services, const HttpRequest& request,
                             const Result<VerifyResult>& result, std::int64_t cost, const std::string& client) {
  auto& [keys, verifier, limiter, usage, clock, metrics] = services;
  const UnixMillis now = clock.NowMillis();
  if (!result) return AuthorizeError(request, 400, "BAD_REQUEST", result.error().detail);
  usage.Record(VerifyUsage(*result, cost, now, "authorize", {}));
  if (metrics != nullptr) metrics->Count(*result);
  const VerifyOutcome& outcome = result->outcome;
  unsigned status = 200;
  switch (outcome.code) {
    case VerifyCode::kValid: status = 200; break;
    case VerifyCode::kNotFound:
      CountMiss(limiter, client, now, 1);
      status = 401;
      break;
    case VerifyCode::kDisabled:
    case VerifyCode::kExpired: status = 401; break;
    case VerifyCode::kInsufficientPermissions:
    case VerifyCode::kForbidden: status = 403; break;
    case VerifyCode::kRateLimited:
    case VerifyCode::kUsageExceeded: status = 429; break;
  }
  HttpResponse response;
  response.status = status;
  JsonOut body;
  WriteVerifyResult(body, *result, now);
  response.body = body.Take();
  if (status == 401) response.SetHeader("WWW-Authenticate", "Bearer");
  if (outcome.key) {
    response.SetHeader("X-Tollgate-Key-Id", outcome.key->key.id);
    if (const Identity* identity = outcome.key->identity.get()) {
      response.SetHeader("X-Tollgate-External-Id", identity->external_id);
    }
  }
  if (result->tier) response.SetHeader("X-Tollgate-Tier", result->tier->name);
  SetRateLimitHeaders(response, *result, now);
  if (status == 429) {
    // Never earlier than the latest reset among the limits that denied, or the quota period's end.
    std::int64_t retry = 0;
    for (const AppliedLimit& limit : result->limits) {
      if (limit.exceeded) retry = std::max(retry, CeilSeconds(limit.reset_at - now));
    }
    if (outcome.code == VerifyCode::kUsageExceeded) {
      if (result->quota && result->quota->remaining == 0) {
        retry = std::max(retry, CeilSeconds(result->quota->period_end - now));
      } else if (outcome.key && outcome.key->key.credits && outcome.key->key.credits->refill) {
        // Out of credits: they come back at the next refill.
        const CreditRefill& refill = *outcome.key->key.credits->refill;
        const UnixMillis next = refill.interval == RefillInterval::kDaily
                                    ? StartOfDay(now) + kMillisPerDay
                                    : NextMonthlyBoundary(now, refill.refill_day);
        retry = std::max(retry, CeilSeconds(next - now));
      }
    }
    if (retry > 0) response.SetHeader("Retry-After", std::to_string(retry));
  }
  return response;
}

}  // namespace

void AddVerifyRoutes(Router& router, const VerifyRouteServices& services) {
  router.AddRpc("/v2/keys.verifyKey", [services](const RpcContext& ctx) -> Result<HttpResponse> {
    // Named references rather than a structured binding: clang before 16 cannot capture those.
    KeyService& keys = services.keys;
    Verifier& verifier = services.verifier;
    UsageRecorder& usage = services.usage;
    Clock& clock = services.clock;
    VerificationMetrics* const metrics = services.metrics;
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const std::string secret = body.RequiredString("key", 1, 1024);
    auto tags = body.OptionalStringArray("tags", 64);
    const auto query_text = body.OptionalString("permissions", 1, 1000);
    VerifyRequest request;
    if (const nlohmann::json* credits = body.OptionalObject("credits")) {
      FieldReader credit_reader(*credits, "body.credits", errors);
      request.credit_cost = credit_reader.RequiredInt("cost", 0, 1'000'000'000);
    }
    std::vector<RequestedLimit> requested;
    if (const nlohmann::json* limits = body.OptionalArray("ratelimits")) {
      for (std::size_t i = 0; i < limits->size() && i < 32; ++i) {
        const std::string at = "body.ratelimits[" + std::to_string(i) + "]";
        if (!(*limits)[i].is_object()) {
          body.AddError(at, "must be an object {name, cost?, limit?, duration?}");
          continue;
        }
        FieldReader limit((*limits)[i], at, errors);
        RequestedLimit r;
        r.name = limit.RequiredString("name", 1, 128);
        r.cost = limit.OptionalInt("cost", 0, 1'000'000'000);
        r.limit = limit.OptionalInt("limit", 1, 1'000'000'000'000);
        r.duration_ms = limit.OptionalInt("duration", 1000, 366LL * 86'400'000);
        requested.push_back(std::move(r));
      }
      if (limits->size() > 32) body.AddError("body.ratelimits", "must hold at most 32 limits");
    }
    request.ratelimits = requested;
    std::optional<PermissionQuery> query;
    if (query_text) {
      auto parsed = PermissionQuery::Parse(*query_text);
      if (!parsed) {
        for (auto& e : parsed.error().fields) errors.push_back(e);
        if (parsed.error().fields.empty()) body.AddError("body.permissions", parsed.error().detail);
      } else {
        query = std::move(*parsed);
      }
    }
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());

    // A root key that may verify on no API is refused before the lookup: no usage, no hint.
    if (!ScopesAllowAnyApi(ctx.root_key.permissions, "verify_key")) {
      return Fail(Error{ErrorCode::kForbidden, "this root key lacks the permission 'api.*.verify_key' (or 'api.<apiId>.verify_key' for the key's API)", {}});
    }
    CachedKeyPtr entry = keys.FindForVerify(secret);
    if (entry) {
      PrefetchUsageIds(*entry);
      if (auto s = RequireScope(ctx.root_key, ApiScope(entry->key.api_id, "verify_key")); !s) return Fail(s.error());
    }
    request.permissions = query ? &*query : nullptr;
    return AnswerLater(ctx.request, [&](FinishAnswer finish) {
      verifier.VerifyAsync(std::move(entry), request,
                           [finish = std::move(finish), &usage, &clock, metrics, tags = std::move(tags),
                            cost = request.credit_cost, id = ctx.request.request_id](Result<VerifyResult> result) {
                             finish([&]() -> Result<HttpResponse> {
                               if (!result) return Fail(result.error());
                               const UnixMillis now = clock.NowMillis();
                               usage.Record(VerifyUsage(*result, cost, now, "verify",
                                                        tags ? std::span(*tags) : std::span<std::string>()));
                               if (metrics != nullptr) metrics->Count(*result);
                               return OkResponseWith(id, [&](JsonOut& out) { WriteVerifyResult(out, *result, now); });
                             });
                           });
    });
  });

  router.AddPlain("GET", "/v2/keys.authorize", [services](const HttpRequest& request) {
    KeyService& keys = services.keys;
    Verifier& verifier = services.verifier;
    CounterStore& limiter = services.limiter;
    Clock& clock = services.clock;
    std::string secret(BearerToken(request.authorization));
    if (secret.empty()) secret = request.api_key;
    if (secret.empty()) {
      return AuthorizeError(request, 401, "NOT_FOUND", "send the API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'");
    }
    std::optional<PermissionQuery> query;
    if (auto text = QueryParam(request.query, "permissions")) {
      auto parsed = PermissionQuery::Parse(*text);
      if (!parsed) return AuthorizeError(request, 400, "BAD_REQUEST", "permissions: " + parsed.error().detail);
      query = std::move(*parsed);
    }
    VerifyRequest verify;
    verify.permissions = query ? &*query : nullptr;
    if (auto cost = QueryParam(request.query, "cost")) {
      char* end = nullptr;
      const long long value = std::strtoll(cost->c_str(), &end, 10);
      if (cost->empty() || *end != '\0' || value < 0 || value > 1'000'000'000) {
        return AuthorizeError(request, 400, "BAD_REQUEST", "cost must be an integer from 0 to 1000000000");
      }
      verify.credit_cost = value;
    }

    // A gateway on this host forwards the client's address; otherwise the peer is the client.
    const bool from_loopback = request.remote_address == "127.0.0.1" || request.remote_address == "::1";
    const std::string client = from_loopback && !request.real_ip.empty() ? request.real_ip : request.remote_address;
    const UnixMillis now = clock.NowMillis();
    // Peek first: an address over its budget gets no lookup at all, so it learns nothing.
    if (const LimitDecision peek = CountMiss(limiter, client, now, 0); !peek.allowed || peek.remaining <= 0) {
      HttpResponse response = AuthorizeError(request, 429, "RATE_LIMITED", "too many unknown keys from this address");
      response.SetHeader("Retry-After", std::to_string(std::max<std::int64_t>(1, CeilSeconds(peek.reset_at - now))));
      return response;
    }

    CachedKeyPtr entry = keys.FindForVerify(secret);
    if (entry) PrefetchUsageIds(*entry);
    return AnswerLater(request, [&](FinishAnswer finish) {
      verifier.VerifyAsync(std::move(entry), verify,
                           [finish = std::move(finish), &services, request, cost = verify.credit_cost,
                            client](Result<VerifyResult> result) {
                             finish([&]() -> Result<HttpResponse> {
                               return AuthorizeAnswer(services, request, result, cost, client);
                             });
                           });
    });
  });
}

}  // namespace tollgate
