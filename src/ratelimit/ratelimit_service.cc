#include "ratelimit/ratelimit_service.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "common/ids.h"

namespace tollgate {

// The overrides of one namespace at one moment. Immutable once built, so readers match against it
// without locks.
class NamespaceSnapshot {
 public:
  NamespaceSnapshot(RatelimitNamespace ns, std::vector<RatelimitOverride> overrides) : ns_(std::move(ns)) {
    by_identifier_.reserve(overrides.size());
    for (RatelimitOverride& row : overrides) {
      const std::string identifier = row.identifier;
      by_identifier_.insert_or_assign(identifier, std::move(row));
    }
    // Pointers into the map stay valid: an unordered_map never moves its elements.
    for (const auto& [identifier, row] : by_identifier_) {
      if (IsWildcardPattern(identifier)) patterns_.push_back(&row);
    }
    std::sort(patterns_.begin(), patterns_.end(), [](const RatelimitOverride* a, const RatelimitOverride* b) {
      if (a->identifier.size() != b->identifier.size()) return a->identifier.size() > b->identifier.size();
      return a->identifier < b->identifier;
    });
  }
  NamespaceSnapshot(const NamespaceSnapshot&) = delete;
  NamespaceSnapshot& operator=(const NamespaceSnapshot&) = delete;

  const RatelimitNamespace& ns() const { return ns_; }

  // The override whose identifier is exactly `identifier` (a pattern only by its own text).
  const RatelimitOverride* Exact(std::string_view identifier) const {
    const auto it = by_identifier_.find(identifier);
    return it == by_identifier_.end() ? nullptr : &it->second;
  }

  // The override that applies to `identifier`: the exact one, else the longest matching pattern.
  // One hash lookup, then one WildcardMatches per pattern until one matches.
  const RatelimitOverride* Match(std::string_view identifier) const {
    if (const RatelimitOverride* exact = Exact(identifier)) return exact;
    for (const RatelimitOverride* pattern : patterns_) {
      if (WildcardMatches(pattern->identifier, identifier)) return pattern;
    }
    return nullptr;
  }

  // A copy of every override, for a writer to build the next snapshot from.
  std::vector<RatelimitOverride> Overrides() const {
    std::vector<RatelimitOverride> overrides;
    overrides.reserve(by_identifier_.size());
    for (const auto& [identifier, row] : by_identifier_) overrides.push_back(row);
    return overrides;
  }

 private:
  RatelimitNamespace ns_;
  std::unordered_map<std::string, RatelimitOverride, TransparentStringHash, std::equal_to<>> by_identifier_;
  std::vector<const RatelimitOverride*> patterns_;  // into by_identifier_; longest first, then by text
};

namespace {

std::string CounterKey(std::string_view namespace_id, std::int64_t duration_ms, std::string_view identifier) {
  // "{rl:<namespaceId>:<identifier>}<durationMs>": the braces are the routing tag, so one
  // identifier's windows share a Redis shard. Unambiguous: the key ends in "}<digits>".
  std::string key;
  key.reserve(5 + namespace_id.size() + identifier.size() + 20);
  key += "{rl:";
  key += namespace_id;
  key += ':';
  key += identifier;
  key += '}';
  key += std::to_string(duration_ms);
  return key;
}

UnixMillis ResetOf(const LimitCheck& check, const LimitDecision& decision, UnixMillis now) {
  if (!decision.allowed) {
    return decision.reset_at == kNeverAdmitted ? now + check.window_ms : decision.reset_at;
  }
  switch (check.algorithm) {
    case LimitAlgorithm::kSlidingWindow:
    case LimitAlgorithm::kFixedWindow: return AlignedWindowStart(now, check.window_ms) + check.window_ms;
    case LimitAlgorithm::kTokenBucket:
    case LimitAlgorithm::kGcra: return now + check.window_ms;
  }
  return now + check.window_ms;
}

// The bounds the HTTP edge checks too; repeated here because the service is the last line before
// the limiter. min_limit is 1 for a request and 0 for an override.
void CheckWindow(std::int64_t limit, std::int64_t min_limit, std::int64_t duration_ms, const std::string& at,
                 std::vector<FieldError>& errors) {
  if (duration_ms < kMinRatelimitDurationMs || duration_ms > kMaxRatelimitDurationMs) {
    errors.push_back({at + "duration", "must be between " + std::to_string(kMinRatelimitDurationMs) + " and " +
                                           std::to_string(kMaxRatelimitDurationMs) + " ms", ""});
    return;
  }
  if (limit < min_limit || limit > MaxRatelimitLimit(duration_ms)) {
    errors.push_back({at + "limit", "must be between " + std::to_string(min_limit) + " and " +
                                        std::to_string(MaxRatelimitLimit(duration_ms)) + " for this duration", ""});
  }
}

void CheckIdentifier(std::string_view identifier, const std::string& at, std::vector<FieldError>& errors) {
  if (identifier.empty() || identifier.size() > kMaxRatelimitNameLength) {
    errors.push_back({at + "identifier", "must be 1 to 255 characters long", ""});
  }
}

RatelimitNamespace Unborn(std::string_view ns) { return RatelimitNamespace{.id = "", .name = std::string(ns), .created_at = 0}; }

}  // namespace

Result<std::unique_ptr<RatelimitService>> RatelimitService::Create(RatelimitStore& store, CounterStore& counters,
                                                                   Clock& clock) {
  auto namespaces = store.LoadAllRatelimitNamespaces();
  if (!namespaces) return Fail(std::move(namespaces.error()));
  auto overrides = store.LoadAllRatelimitOverrides();
  if (!overrides) return Fail(std::move(overrides.error()));
  std::unordered_map<std::string, std::vector<RatelimitOverride>> by_namespace;
  for (RatelimitOverride& row : *overrides) by_namespace[row.namespace_id].push_back(std::move(row));

  std::unique_ptr<RatelimitService> service(new RatelimitService(store, counters, clock));
  std::lock_guard write(service->write_mu_);
  for (RatelimitNamespace& ns : *namespaces) {
    auto rows = std::move(by_namespace[ns.id]);
    service->Publish(std::make_shared<const NamespaceSnapshot>(std::move(ns), std::move(rows)));
  }
  return service;
}

RatelimitService::~RatelimitService() = default;

Status RatelimitService::ApplyOverrideEvent(const Event& event) {
  auto namespace_id = EventPayloadField(event, "namespaceId");
  if (!namespace_id) return Fail(namespace_id.error());
  std::lock_guard write(write_mu_);
  std::optional<RatelimitNamespace> ns;
  if (SnapshotPtr known = Find(*namespace_id)) {
    ns = known->ns();
  } else {  // created on the other node: this one has not used it yet
    auto namespaces = store_.LoadAllRatelimitNamespaces();
    if (!namespaces) return Fail(std::move(namespaces.error()));
    for (auto& candidate : *namespaces) {
      if (candidate.id == *namespace_id) ns = std::move(candidate);
    }
    if (!ns) return Fail(Error::NotFound("ratelimit namespace " + *namespace_id + " is not in the store"));
  }
  std::vector<RatelimitOverride> overrides;
  std::optional<std::string> cursor;
  for (;;) {
    auto page = store_.ListRatelimitOverrides(ns->id, cursor, 1000);
    if (!page) return Fail(std::move(page.error()));
    for (auto& row : page->overrides) overrides.push_back(std::move(row));
    if (!page->next_cursor) break;
    cursor = page->next_cursor;
  }
  Publish(std::make_shared<const NamespaceSnapshot>(std::move(*ns), std::move(overrides)));
  return {};
}

RatelimitService::SnapshotPtr RatelimitService::Find(std::string_view ns) const {
  std::shared_lock lock(mu_);
  if (LooksLikeNamespaceId(ns)) {
    const auto id = name_by_id_.find(ns);
    if (id == name_by_id_.end()) return nullptr;
    ns = id->second;
  }
  const auto it = by_name_.find(ns);
  return it == by_name_.end() ? nullptr : it->second;
}

Result<RatelimitService::SnapshotPtr> RatelimitService::FindAuthorized(std::string_view ns,
                                                                       const NamespaceAuthorizer& authorize) const {
  if (SnapshotPtr found = Find(ns)) {
    if (auto allowed = authorize(found->ns()); !allowed) return Fail(std::move(allowed.error()));
    return found;
  }
  // Asked first, so that a caller without the permission cannot probe which namespaces exist.
  if (auto allowed = authorize(Unborn(ns)); !allowed) return Fail(std::move(allowed.error()));
  return Fail(Error::NotFound("ratelimit namespace '" + std::string(ns) + "' not found"));
}

Result<RatelimitService::SnapshotPtr> RatelimitService::FindForUse(std::string_view ns,
                                                                   const NamespaceAuthorizer& authorize) const {
  if (SnapshotPtr found = Find(ns)) {
    if (auto allowed = authorize(found->ns()); !allowed) return Fail(std::move(allowed.error()));
    return found;
  }
  if (LooksLikeNamespaceId(ns)) return FindAuthorized(ns, authorize);  // an unknown id: not found
  if (!IsValidNamespaceName(ns)) {
    return Fail(Error::InvalidInput("namespace '" + std::string(ns) + "' is not 1 to 255 characters of [A-Za-z0-9_.:-]"));
  }
  if (auto allowed = authorize(Unborn(ns)); !allowed) return Fail(std::move(allowed.error()));
  return SnapshotPtr();
}

Result<RatelimitService::SnapshotPtr> RatelimitService::Create(std::string_view name) {
  std::lock_guard write(write_mu_);
  if (SnapshotPtr raced = Find(name)) return raced;  // created by another request since FindForUse
  auto stored = store_.UpsertRatelimitNamespace(RatelimitNamespace{
      .id = NewId(kRatelimitNamespaceIdPrefix), .name = std::string(name), .created_at = clock_.NowMillis()});
  if (!stored) return Fail(std::move(stored.error()));
  auto snapshot = std::make_shared<const NamespaceSnapshot>(std::move(*stored), std::vector<RatelimitOverride>{});
  Publish(snapshot);
  return snapshot;
}

Result<RatelimitService::SnapshotPtr> RatelimitService::FindOrCreate(std::string_view ns,
                                                                     const NamespaceAuthorizer& authorize) {
  auto found = FindForUse(ns, authorize);
  if (!found || *found) return found;
  return Create(ns);
}

void RatelimitService::Publish(SnapshotPtr snapshot) {
  std::unique_lock lock(mu_);
  const RatelimitNamespace& ns = snapshot->ns();
  name_by_id_.insert_or_assign(ns.id, ns.name);
  by_name_.insert_or_assign(ns.name, std::move(snapshot));
}

Result<std::vector<LimitDecision>> RatelimitService::Decide(std::span<const LimitCheck> checks, UnixMillis now) {
  std::optional<Result<std::vector<LimitDecision>>> answer;
  counters_.CheckAndCharge(checks, now, [&answer](Result<std::vector<LimitDecision>> decided) {
    answer.emplace(std::move(decided));
  });
  if (!answer) {
    // A later completion would write into this returned frame: stop before it can.
    std::fputs("tollgate: the CounterStore did not complete inline; RatelimitService needs one that does\n", stderr);
    std::abort();
  }
  if (*answer && (*answer)->size() != checks.size()) {
    return Fail(Error::Internal("the counter store answered " + std::to_string((*answer)->size()) +
                                " decisions for " + std::to_string(checks.size()) + " checks"));
  }
  return std::move(*answer);
}

Result<RatelimitService::Planned> RatelimitService::Plan(std::span<const LimitRequest> requests,
                                                          const NamespaceAuthorizer& authorize) {
  if (requests.empty()) return Fail(Error::InvalidInput("at least one limit is required"));
  std::vector<FieldError> errors;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const std::string at = "[" + std::to_string(i) + "].";
    CheckIdentifier(requests[i].identifier, at, errors);
    CheckWindow(requests[i].limit, 1, requests[i].duration_ms, at, errors);
    if (requests[i].cost < 0) errors.push_back({at + "cost", "must be at least 0", ""});
  }
  if (auto valid = FieldErrorsToStatus(std::move(errors)); !valid) return Fail(std::move(valid.error()));
  errors.clear();  // moved from

  // Every namespace is authorised before any is created: a refused call creates nothing.
  std::vector<SnapshotPtr> namespaces;
  namespaces.reserve(requests.size());
  for (const LimitRequest& request : requests) {
    auto snapshot = FindForUse(request.ns, authorize);
    if (!snapshot) return Fail(std::move(snapshot.error()));
    namespaces.push_back(std::move(*snapshot));
  }
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (namespaces[i]) continue;
    auto created = Create(requests[i].ns);
    if (!created) return Fail(std::move(created.error()));
    namespaces[i] = std::move(*created);
  }

  const UnixMillis now = clock_.NowMillis();
  Planned planned;
  std::vector<LimitCheck>& checks = planned.checks;
  std::vector<const RatelimitOverride*>& applied = planned.applied;
  checks.resize(requests.size());
  applied.resize(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const LimitRequest& request = requests[i];
    applied[i] = namespaces[i]->Match(request.identifier);
    const std::int64_t limit = applied[i] != nullptr ? applied[i]->limit : request.limit;
    const std::int64_t duration_ms = applied[i] != nullptr ? applied[i]->duration_ms : request.duration_ms;
    LimitCheck& check = checks[i];
    check.counter_key = CounterKey(namespaces[i]->ns().id, duration_ms, request.identifier);
    check.algorithm = request.algorithm;
    check.window_ms = duration_ms;
    // An override of limit 0 admits nothing. The limiter cannot hold a limit of 0, but a cost
    // above the limit is denied without being charged or stored, so this check denies the call
    // (and the all-or-nothing rule spares the others) while the counter is left untouched.
    check.limit = limit == 0 ? 1 : limit;
    check.cost = limit == 0 ? 2 : request.cost;
    for (std::size_t j = 0; j < i; ++j) {
      if (checks[j].counter_key == check.counter_key) {
        errors.push_back({"[" + std::to_string(i) + "]",
                          "limits the same namespace, identifier and duration as [" + std::to_string(j) + "]",
                          "send one limit per identifier and duration, with the sum of their costs"});
        break;
      }
    }
  }
  if (auto valid = FieldErrorsToStatus(std::move(errors)); !valid) return Fail(std::move(valid.error()));
  planned.namespaces = std::move(namespaces);  // keeps the matched overrides alive
  planned.now = now;
  return planned;
}

Result<std::vector<LimitResult>> RatelimitService::Limit(std::span<const LimitRequest> requests,
                                                         const NamespaceAuthorizer& authorize) {
  auto planned = Plan(requests, authorize);
  if (!planned) return Fail(std::move(planned.error()));
  auto decisions = Decide(planned->checks, planned->now);
  if (!decisions) return Fail(std::move(decisions.error()));
  return Results(*planned, *decisions);
}

void RatelimitService::LimitAsync(std::span<const LimitRequest> requests, const NamespaceAuthorizer& authorize,
                                  LimitDone done) {
  auto planned = Plan(requests, authorize);
  if (!planned) {
    done(Fail(std::move(planned.error())));
    return;
  }
  auto shared = std::make_shared<Planned>(std::move(*planned));
  counters_.CheckAndCharge(shared->checks, shared->now, CheckOptions{failure_policy_},
                           [shared, done = std::move(done)](Result<std::vector<LimitDecision>> decided) {
                             if (!decided) return done(Fail(std::move(decided.error())));
                             if (decided->size() != shared->checks.size()) {
                               return done(Fail(Error::Internal("the counter store answered the wrong number of decisions")));
                             }
                             done(Results(*shared, *decided));
                           });
}

std::vector<LimitResult> RatelimitService::Results(const Planned& planned, const std::vector<LimitDecision>& decisions) {
  const std::vector<LimitCheck>& checks = planned.checks;
  const std::vector<const RatelimitOverride*>& applied = planned.applied;
  const UnixMillis now = planned.now;
  std::vector<LimitResult> results(checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const LimitDecision& decision = decisions[i];
    LimitResult& result = results[i];
    const bool blocked = applied[i] != nullptr && applied[i]->limit == 0;
    result.limit = blocked ? 0 : checks[i].limit;
    result.passed = !blocked && decision.allowed;
    result.remaining = blocked ? 0 : decision.remaining;
    result.reset = blocked ? now + checks[i].window_ms : ResetOf(checks[i], decision, now);
    if (applied[i] != nullptr) result.override_id = applied[i]->id;
  }
  return results;
}

Result<RatelimitOverride> RatelimitService::SetOverride(const SetOverrideParams& params,
                                                        const NamespaceAuthorizer& authorize) {
  std::vector<FieldError> errors;
  CheckIdentifier(params.identifier, "", errors);
  CheckWindow(params.limit, 0, params.duration_ms, "", errors);
  if (auto valid = FieldErrorsToStatus(std::move(errors)); !valid) return Fail(std::move(valid.error()));
  auto snapshot = FindOrCreate(params.ns, authorize);
  if (!snapshot) return Fail(std::move(snapshot.error()));

  std::lock_guard write(write_mu_);
  // Afresh under the writers' lock: another writer may have published since.
  const SnapshotPtr current = Find((*snapshot)->ns().id);
  if (!current) return Fail(Error::Internal("ratelimit namespace " + (*snapshot)->ns().id + " vanished"));
  const UnixMillis now = clock_.NowMillis();
  auto stored = store_.UpsertRatelimitOverride(RatelimitOverride{.id = NewId(kRatelimitOverrideIdPrefix),
                                                                 .namespace_id = current->ns().id,
                                                                 .identifier = params.identifier,
                                                                 .limit = params.limit,
                                                                 .duration_ms = params.duration_ms,
                                                                 .created_at = now,
                                                                 .updated_at = now});
  if (!stored) return Fail(std::move(stored.error()));
  std::vector<RatelimitOverride> overrides = current->Overrides();
  std::erase_if(overrides, [&](const RatelimitOverride& row) { return row.identifier == stored->identifier; });
  overrides.push_back(*stored);
  Publish(std::make_shared<const NamespaceSnapshot>(current->ns(), std::move(overrides)));
  return stored;
}

Result<RatelimitOverride> RatelimitService::GetOverride(std::string_view ns, std::string_view identifier,
                                                        const NamespaceAuthorizer& authorize) const {
  auto snapshot = FindAuthorized(ns, authorize);
  if (!snapshot) return Fail(std::move(snapshot.error()));
  const RatelimitOverride* row = (*snapshot)->Exact(identifier);
  if (row == nullptr) {
    return Fail(Error::NotFound("no override for identifier '" + std::string(identifier) + "' in namespace '" +
                                std::string(ns) + "'"));
  }
  return *row;
}

Result<RatelimitOverridePage> RatelimitService::ListOverrides(std::string_view ns,
                                                              const std::optional<std::string>& cursor,
                                                              std::size_t limit, const NamespaceAuthorizer& authorize) {
  if (limit == 0) return Fail(Error::InvalidInput("limit must be at least 1"));
  auto snapshot = FindAuthorized(ns, authorize);
  if (!snapshot) return Fail(std::move(snapshot.error()));
  return store_.ListRatelimitOverrides((*snapshot)->ns().id, cursor, limit);
}

Status RatelimitService::DeleteOverride(std::string_view ns, std::string_view identifier,
                                        const NamespaceAuthorizer& authorize) {
  auto snapshot = FindAuthorized(ns, authorize);
  if (!snapshot) return Fail(std::move(snapshot.error()));

  std::lock_guard write(write_mu_);
  const SnapshotPtr current = Find((*snapshot)->ns().id);
  if (!current) return Fail(Error::Internal("ratelimit namespace " + (*snapshot)->ns().id + " vanished"));
  if (auto deleted = store_.DeleteRatelimitOverride(current->ns().id, std::string(identifier), clock_.NowMillis());
      !deleted) {
    if (deleted.error().code == ErrorCode::kNotFound) {
      return Fail(Error::NotFound("no override for identifier '" + std::string(identifier) + "' in namespace '" +
                                  std::string(ns) + "'"));
    }
    return deleted;
  }
  std::vector<RatelimitOverride> overrides = current->Overrides();
  std::erase_if(overrides, [&](const RatelimitOverride& row) { return row.identifier == identifier; });
  Publish(std::make_shared<const NamespaceSnapshot>(current->ns(), std::move(overrides)));
  return {};
}

}  // namespace tollgate
