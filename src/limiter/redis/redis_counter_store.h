// The CounterStore of a cluster: limiter state in independent Redis servers (shards), so that
// every tollgate node enforces the same limits (issue 7).
//
// Placement: a consistent-hash ring (ShardRing) over the shards, keyed by each counter's routing
// tag (RoutingTag: the `{...}` part). The Verifier tags all counters of one verification with
// its subject (identity, else key), so one verification is one atomic Lua script call on one
// shard, all-or-nothing. A call whose counters span shards (ratelimit.multiLimit over several
// identifiers) is all-or-nothing per shard only: a shard that admitted has charged, even when
// another denied.
//
// Threads and batching: each HTTP worker thread has its own connection to every shard, driven by
// its own event loop (CurrentEventLoop), so a call and its answer never cross threads. Calls for
// one shard made during one turn of the loop are sent as ONE script call (EVALSHA with a batch of
// requests) when the loop gets to the flush it posted; several such batches may be in flight on a
// connection (pipelining). `done` therefore runs later, on the caller's thread, from the loop.
//
// Failures: a batch not answered within `timeout` fails; after `breaker_failures` consecutive
// failures the shard's breaker opens for `breaker_open` (calls fail at once, and the connection
// is dropped so a hung server's pipeline is not waited on), then one batch probes it. A failed
// call is answered by the call's LimiterFailurePolicy, never with an error: fail-open admits,
// fail-closed denies, local decides in this node's MemoryCounterStore with each limit divided by
// `expected_nodes`. Only that shard's counters are affected.
//
// Modes: kExact decides every call in Redis. kLease takes chunks of max(1, limit × lease_percent
// / 100) from Redis per counter and decides locally until a chunk is used up; a chunk is valid
// to the end of the counter's aligned window (fixed and sliding window) or for min(window, 1 s)
// (token bucket, GCRA). Units are charged in Redis when leased, so Redis never admits more than
// the limit; what a lease adds is time shift (units charged earlier, used later) and waste
// (unused units expire): each window may admit up to holders × chunk more than the exact
// algorithm would (holders = nodes × workers; 0 for fixed windows) and up to the same fewer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "limiter/counter_store.h"
#include "limiter/limiter_metrics.h"
#include "limiter/memory_counter_store.h"
#include "limiter/redis/shard_ring.h"

struct redisReply;

namespace tollgate {

enum class LimiterMode { kExact, kLease };

struct RedisShardAddress {
  std::string ip;  // numeric: hiredis' async connect must not block on a name lookup
  int port = 6379;
  std::string name() const { return ip + ":" + std::to_string(port); }
};

struct RedisLimiterOptions {
  std::vector<RedisShardAddress> shards;
  LimiterMode mode = LimiterMode::kExact;
  std::chrono::milliseconds timeout{20};
  int lease_percent = 5;   // 1..100
  int expected_nodes = 2;  // the `local` policy divides limits by this
  int breaker_failures = 3;
  std::chrono::milliseconds breaker_open{1000};
  std::chrono::milliseconds reconnect_delay{200};
  std::string key_prefix = "tg:";
  LimiterMetrics* metrics = nullptr;  // borrowed; nullptr: no metrics
};

class RedisCounterStore final : public CounterStore {
 public:
  explicit RedisCounterStore(RedisLimiterOptions options);
  ~RedisCounterStore() override;

  using CounterStore::CheckAndCharge;
  void CheckAndCharge(std::span<const LimitCheck> checks, UnixMillis now, const CheckOptions& options,
                      Done done) override;
  bool CompletesInline() const override { return false; }
  // The quota is counted in the script call of the limits (op "Q"). In lease mode too: a
  // verification under a monthly quota is then decided exactly (a round trip), because the quota
  // must be shared; verifications without one use leases.
  bool CountsQuota() const override { return true; }
  void CheckChargeAndCount(std::span<const LimitCheck> checks, const QuotaCount& quota, UnixMillis now,
                           const CheckOptions& options, CountedDone done) override;

  // Drops every thread's connections, answering what is in flight by its failure policy. Call
  // after the worker loops stopped and before they are destroyed (connections live on them).
  void Close();
  // Asks shard `index` (in --limiter order) PING on a connection of its own, within `timeout` to
  // connect and again to answer; the caller's thread blocks meanwhile (app/ runs it on a
  // background thread, once a second). True when it answered PONG.
  bool PingShard(std::size_t index, std::chrono::milliseconds timeout) const;
  const std::vector<RedisShardAddress>& shards() const { return options_.shards; }

  const ShardRing& ring() const { return ring_; }
  const RedisLimiterOptions& options() const { return options_; }
  // The node-local store the `local` policy decides in.
  MemoryCounterStore& local() { return local_; }

  // The chunk a lease takes of a limit.
  std::int64_t LeaseChunk(std::int64_t limit) const;

 private:
  struct Worker;
  struct Shard;
  struct Batch;
  struct Call;
  Worker* ThisWorker();
  void Enqueue(Worker& worker, std::size_t shard, std::shared_ptr<Call> call);
  void Flush(Worker& worker, std::size_t shard);
  void Answer(Worker& worker, std::size_t shard, Batch& batch, const redisReply* reply);
  // Answers every call of the batch by its policy; `count` false when the shard is not to blame
  // (it lost the script), so the breaker does not count it.
  void Fail(Worker& worker, std::size_t shard, Batch& batch, bool count = true);
  // Counts the decisions of a call the shard (or a lease) answered.
  void CountDecided(std::span<const LimitCheck> checks, std::span<const LimitDecision> decisions);
  std::vector<LimitDecision> Fallback(std::span<const LimitCheck> checks, UnixMillis now,
                                      LimiterFailurePolicy policy);
  void Exact(Worker& worker, std::span<const LimitCheck> checks, UnixMillis now, const CheckOptions& options,
             Done done);
  // Drops this worker's expired leases once their number has doubled since the last sweep.
  static void SweepLeases(Worker& worker, UnixMillis now);
  void Lease(Worker& worker, std::span<const LimitCheck> checks, UnixMillis now, const CheckOptions& options,
             Done done);

  RedisLimiterOptions options_;
  ShardRing ring_;
  MemoryCounterStore local_;
  const std::uint64_t id_;  // tells this store's per-thread workers from another's
  std::optional<LimiterDecisions> decisions_;
  std::vector<RedisShardMetrics> shard_metrics_;  // per shard; null pointers without metrics
  std::atomic<bool> closed_{false};  // after Close(), calls are answered by their policy
  std::mutex workers_mu_;
  std::vector<std::unique_ptr<Worker>> workers_;  // one per event loop that has called
};

}  // namespace tollgate
