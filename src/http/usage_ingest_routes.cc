// usage.ingest: metered usage from the provider's own systems (issue 4). A batch of events is
// validated whole, then written in one transaction before the answer: a 200 means every event
// is stored (or was already), and a failure means none was, so the sender simply retries the
// same batch. eventId makes the retry harmless.
//
// Each event names its customer by externalId, or by keyId alone (the key's identity is used).
// A keyId tollgate no longer knows (deleted key, late usage) is accepted with an externalId, so
// late usage is never refused for that reason.
#include <string>
#include <vector>

#include "common/calendar.h"
#include "common/text.h"
#include "http/envelope.h"
#include "http/field_reader.h"
#include "http/routes.h"

namespace tollgate {
namespace {

constexpr const char* kIngestScope = "usage.*.ingest";
constexpr std::size_t kMaxEventsPerBatch = 1000;
// A batch with hundreds of broken events answers with the first ones: enough to see the pattern.
constexpr std::size_t kMaxReportedErrors = 50;

std::string DaysAndHours(std::int64_t ms) {
  const std::int64_t hours = ms / 3'600'000;
  return std::to_string(hours / 24) + " days " + std::to_string(hours % 24) + " hours";
}

// Checks the timestamp window: at most kMeterWindowDays old, at most kMeterMaxFutureMs ahead.
void CheckTimestamp(FieldReader& reader, const std::string& at, UnixMillis timestamp, UnixMillis now) {
  const UnixMillis oldest = now - kMeterWindowDays * kMillisPerDay;
  if (timestamp < oldest) {
    reader.AddError(at + ".timestamp",
                    "is " + DaysAndHours(now - timestamp) + " old; usage.ingest accepts events from the last " +
                        std::to_string(kMeterWindowDays) + " days only",
                    "Send usage within 35 days of when it happened; older usage cannot be billed any more.");
  } else if (timestamp > now + kMeterMaxFutureMs) {
    reader.AddError(at + ".timestamp",
                    "is " + std::to_string((timestamp - now) / 1000) +
                        " seconds ahead of tollgate's clock; at most 300 seconds ahead are accepted",
                    "Send the time the usage happened (unix milliseconds), and check the sender's clock.");
  }
}

// The customer of an event: externalId as sent, or the identity of its key; checks that the two
// agree when both are known.
void ResolveCustomer(FieldReader& reader, const std::string& at, MeterEvent& event, KeyService& keys) {
  if (event.key_id.empty()) {
    if (event.external_id.empty()) reader.AddError(at + ".externalId", "is required", "Name the customer by externalId, or send the keyId of one of its keys.");
    return;
  }
  const CachedKeyPtr key = keys.cache().FindById(event.key_id);
  if (!key) {
    if (event.external_id.empty()) {
      reader.AddError(at + ".keyId", "names no key tollgate knows",
                      "Send externalId with it (usage of deleted keys is accepted for their identity).");
    }
    return;
  }
  const std::string& owner = key->key.external_id;
  if (event.external_id.empty()) {
    if (owner.empty()) {
      reader.AddError(at + ".externalId", "is required: key '" + event.key_id + "' belongs to no identity",
                      "Send the customer's externalId.");
    }
    event.external_id = owner;
  } else if (!owner.empty() && owner != event.external_id) {
    reader.AddError(at + ".externalId", "is '" + event.external_id + "' but key '" + event.key_id +
                                            "' belongs to '" + owner + "'",
                    "Send the key's own externalId, or leave externalId out.");
  }
}

std::vector<MeterEvent> ReadEvents(const nlohmann::json& array, FieldReader& body, KeyService& keys, UnixMillis now) {
  std::vector<MeterEvent> events;
  events.reserve(array.size());
  std::vector<FieldError> errors;
  for (std::size_t i = 0; i < array.size() && errors.size() < kMaxReportedErrors; ++i) {
    const std::string at = "body.events[" + std::to_string(i) + "]";
    if (!array[i].is_object()) {
      errors.push_back({at, "must be an object {eventId, externalId, meter, quantity, timestamp}", ""});
      continue;
    }
    FieldReader reader(array[i], at, errors);
    MeterEvent event;
    event.event_id = reader.RequiredString("eventId", 1, 255);
    event.external_id = reader.OptionalString("externalId", 1, 255).value_or("");
    event.key_id = reader.OptionalString("keyId", 1, 255).value_or("");
    event.meter = reader.RequiredString("meter", 1, 64);
    event.quantity = reader.RequiredInt("quantity", 0, kMaxMeterQuantity);
    event.at = reader.OptionalInt("timestamp", 0).value_or(now);
    if (!HasNoControlCharacters(event.event_id)) reader.AddError(at + ".eventId", "must not contain control characters");
    if (!event.meter.empty() && !IsValidLimitName(event.meter)) {
      reader.AddError(at + ".meter", "must be letters, digits and _ . : - only", "Use a name like \"tokens\" or \"requests\".");
    }
    if (reader.Has("timestamp")) CheckTimestamp(reader, at, event.at, now);
    ResolveCustomer(reader, at, event, keys);
    events.push_back(std::move(event));
  }
  if (errors.size() >= kMaxReportedErrors) {
    errors.push_back({"body.events", "has more errors than these " + std::to_string(errors.size()) + "; fix them and send again", ""});
  }
  for (auto& e : errors) body.AddError(e.location, std::move(e.message), std::move(e.fix));
  return events;
}

}  // namespace

void AddUsageIngestRoute(Router& router, MeterStore& meters, KeyService& keys, Clock& clock) {
  router.AddRpc("/v2/usage.ingest", [&meters, &keys, &clock](const RpcContext& ctx) -> Result<HttpResponse> {
    // The scope first: reading the events looks up their keys, and a 400 naming a key's owner
    // must not reach a root key that may not ingest.
    if (auto s = RequireScope(ctx.root_key, kIngestScope); !s) return Fail(s.error());
    std::vector<FieldError> errors;
    FieldReader body(ctx.body, "body", errors);
    const UnixMillis now = clock.NowMillis();
    std::vector<MeterEvent> events;
    if (!body.Has("events")) {
      body.AddError("body.events", "is required", "Send {\"events\": [{\"eventId\", \"externalId\", \"meter\", \"quantity\", \"timestamp\"}, ...]}.");
    } else if (const nlohmann::json* array = body.OptionalArray("events")) {
      if (array->empty() || array->size() > kMaxEventsPerBatch) {
        body.AddError("body.events", "must hold 1 to " + std::to_string(kMaxEventsPerBatch) + " events",
                      "Split larger batches; each batch is stored all or nothing.");
      } else {
        events = ReadEvents(*array, body, keys, now);
      }
    }
    if (auto s = FieldErrorsToStatus(std::move(errors)); !s) return Fail(s.error());
    auto result = meters.IngestMeterEvents(events, now);
    if (!result) return Fail(result.error());
    return OkResponse(ctx.request.request_id,
                      {{"ingested", result->ingested}, {"duplicates", result->duplicates.size()},
                       {"duplicateEventIds", result->duplicates}});
  });
}

}  // namespace tollgate
