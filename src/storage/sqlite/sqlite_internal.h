// Helpers shared by the files that implement SqliteStore (sqlite_store.cc and the per-domain
// files beside it). Internal to storage/sqlite.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "events/event_bus.h"
#include "storage/sqlite/sqlite_connection.h"
#include "storage/store_internal.h"

namespace tollgate::sqlite_internal {

using storage::During;
using storage::kUsageGranularities;
using storage::UsageBucketStart;

// Runs a write that must touch exactly one live row; zero rows changed means `missing`.
inline Status RunOnOne(SqliteConnection& connection, SqliteStatement& statement, std::string_view what,
                       std::string missing) {
  if (auto ran = statement.Run(); !ran) return Fail(During(what, std::move(ran.error())));
  if (connection.Changes() == 0) return Fail(Error::NotFound(std::move(missing)));
  return {};
}

// Writes one event into the outbox inside the caller's transaction (sqlite_outbox.cc).
Status WriteEvent(SqliteConnection& connection, const Event& event);

// Runs `write` and writes `event` into the outbox in one transaction: both or neither
// (events/outbox_store.h). The caller holds the store's mutex.
Status WriteWithEvent(SqliteConnection& connection, const Event& event, const std::function<Status()>& write);

}  // namespace tollgate::sqlite_internal
