// The transactional outbox: every change that other parts of tollgate (or other nodes) must hear
// of writes its Event into the outbox table in the same transaction as the change itself, so the
// two cannot disagree: a committed change always has its event, a rolled-back one never. The
// OutboxRelay then hands pending events to the EventBus and marks them sent only once the bus
// (the broker's publisher confirm, for RabbitMQ) has them. Implemented by every Store.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "events/event_bus.h"

namespace tollgate {

struct OutboxEvent {
  std::int64_t seq = 0;  // the outbox's insertion order, unique and increasing
  Event event;
};

class OutboxStore {
 public:
  virtual ~OutboxStore() = default;

  // Claims up to `limit` unsent events, oldest first, whose claim is free or expired, for
  // `lease_ms` from `now` under the name `relay`: another relay (another node) skips them until
  // the lease runs out, so two relays rarely publish the same event, and the events of a relay
  // that died are taken over after its lease.
  virtual Result<std::vector<OutboxEvent>> ClaimOutboxEvents(const std::string& relay, std::size_t limit,
                                                             UnixMillis now, std::int64_t lease_ms) = 0;
  // Marks events sent (the bus confirmed them).
  virtual Status MarkOutboxSent(std::span<const std::int64_t> seqs, UnixMillis now) = 0;
  // Events with seq > `after`, sent or not, in seq order, at most `limit`: how a node catches up
  // on changes from the store itself when the bus is down (reconciliation).
  virtual Result<std::vector<OutboxEvent>> OutboxEventsAfter(std::int64_t after, std::size_t limit) = 0;
  // The highest seq written so far (0 when none): where a starting node begins to follow.
  virtual Result<std::int64_t> LatestOutboxSeq() = 0;
  // The time of the oldest unsent event, nullopt when none is pending (how stalled the relay is).
  virtual Result<std::optional<UnixMillis>> OldestPendingOutboxAt() = 0;
  // Deletes sent events sent before `sent_before`.
  virtual Status PruneOutbox(UnixMillis sent_before) = 0;
};

}  // namespace tollgate
