#include <utility>  // before Boost, see DESIGN.md

#include "limiter/redis/redis_counter_store.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "common/event_loop.h"
#include "limiter/limit_params.h"
#include "limiter/redis/limiter_script.h"
#include "limiter/redis/redis_connection.h"

namespace tollgate {

namespace asio = boost::asio;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

std::atomic<std::uint64_t> next_store_id{1};

std::string Sha1Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

bool IsInteger(const redisReply* reply) { return reply != nullptr && reply->type == REDIS_REPLY_INTEGER; }

// The end of the lease a counter's chunk is valid for (see the header).
UnixMillis LeaseEnd(const LimitCheck& check, UnixMillis now) {
  if (check.algorithm == LimitAlgorithm::kFixedWindow || check.algorithm == LimitAlgorithm::kSlidingWindow) {
    return AlignedWindowStart(now, check.window_ms) + check.window_ms;
  }
  return now + std::min<std::int64_t>(check.window_ms, 1000);
}

}  // namespace

// Runs a call's continuation. It ends in an HTTP handler's answer and must not throw; if it does,
// the exception must not unwind through hiredis or the event loop (that would end the process):
// it is logged, and the request it belonged to gets the server's own 503 at its deadline.
template <typename Continuation>
void Guarded(Continuation&& continuation) {
  try {
    continuation();
  } catch (const std::exception& e) {
    spdlog::error("redis limiter: a continuation failed: {}", e.what());
  } catch (...) {
    spdlog::error("redis limiter: a continuation failed with a non-standard exception");
  }
}

// One request of a batch: op 'A' (admit all-or-nothing) or 'L' (lease a chunk of each counter).
struct RedisCounterStore::Call {
  char op = 'A';
  std::vector<LimitCheck> checks;  // for 'L', cost holds the chunk asked for
  QuotaCount quota;                // for 'Q'
  UnixMillis now = 0;
  // The request's entry of the reply, or nullptr when the shard did not answer.
  std::function<void(const redisReply* entry)> on_reply;
};

struct RedisCounterStore::Batch {
  explicit Batch(asio::io_context& loop) : timer(loop) {}
  std::vector<std::shared_ptr<Call>> calls;
  asio::steady_timer timer;
  SteadyTime sent_at;
  bool settled = false;
};

struct RedisCounterStore::Shard {
  std::unique_ptr<RedisConnection> connection;
  std::vector<std::shared_ptr<Call>> queue;  // this loop turn's calls, sent by one Flush
  bool flush_posted = false;
  int failures = 0;       // consecutive failed batches
  SteadyTime open_until;  // breaker open until then once failures reach the threshold
  bool probing = false;   // half-open: one batch is testing the shard
};

// A counter's lease, held by one worker thread.
struct LeaseState {
  LimitAlgorithm algorithm = LimitAlgorithm::kSlidingWindow;
  std::int64_t limit = 0;
  std::int64_t window_ms = 0;
  std::int64_t left = 0;          // leased units not used yet
  UnixMillis valid_until = 0;
  UnixMillis denied_until = 0;    // Redis had nothing to lease: deny locally until then
  std::int64_t redis_remaining = 0;
  bool refilling = false;         // one lease request per counter and worker at a time
  // Calls that wait for that request; woken with true when it failed (they answer by policy).
  std::vector<std::function<void(bool failed)>> waiters;
};

struct RedisCounterStore::Worker {
  asio::io_context* loop = nullptr;
  std::vector<Shard> shards;
  std::unordered_map<std::string, LeaseState> leases;
  std::size_t sweep_leases_at = 1024;  // leases held when expired ones are next dropped
  // Held by the worker; handlers posted to its loop hold a weak_ptr and do nothing once it is
  // gone (the store closed while the loop still ran).
  std::shared_ptr<int> alive = std::make_shared<int>(0);
};

RedisCounterStore::RedisCounterStore(RedisLimiterOptions options)
    : options_(std::move(options)),
      ring_([this] {
        std::vector<std::string> names;
        for (const RedisShardAddress& shard : options_.shards) names.push_back(shard.name());
        return names;
      }()),
      id_(next_store_id.fetch_add(1)) {
  if (options_.metrics != nullptr) {
    decisions_.emplace(options_.metrics->ForBackend("redis"));
    for (const RedisShardAddress& shard : options_.shards) shard_metrics_.push_back(options_.metrics->ForShard(shard.name()));
  } else {
    shard_metrics_.resize(options_.shards.size());
  }
}

bool RedisCounterStore::PingShard(std::size_t index, std::chrono::milliseconds timeout) const {
  const RedisShardAddress& shard = options_.shards.at(index);
  const timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  std::unique_ptr<redisContext, decltype(&redisFree)> context(redisConnectWithTimeout(shard.ip.c_str(), shard.port, tv),
                                                              &redisFree);
  if (!context || context->err != 0 || redisSetTimeout(context.get(), tv) != REDIS_OK) return false;
  std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply(
      static_cast<redisReply*>(redisCommand(context.get(), "PING")), &freeReplyObject);
  return reply && reply->type == REDIS_REPLY_STATUS && std::string_view(reply->str, reply->len) == "PONG";
}

namespace {
void Count(Counter* counter) {
  if (counter != nullptr) counter->Inc();
}
}  // namespace

void RedisCounterStore::CountDecided(std::span<const LimitCheck> checks, std::span<const LimitDecision> decisions) {
  if (decisions_ && ChargesAnything(checks)) decisions_->Decided(decisions);
}

RedisCounterStore::~RedisCounterStore() { Close(); }

void RedisCounterStore::Close() {
  closed_.store(true, std::memory_order_release);
  std::vector<std::unique_ptr<Worker>> workers;
  {
    std::lock_guard lock(workers_mu_);
    workers.swap(workers_);
  }
  // Freeing a connection answers its pending batches (by their policy) before it is gone.
  for (auto& worker : workers) {
    for (Shard& shard : worker->shards) shard.connection.reset();
  }
}

std::int64_t RedisCounterStore::LeaseChunk(std::int64_t limit) const {
  return std::max<std::int64_t>(1, limit / 100 * options_.lease_percent + limit % 100 * options_.lease_percent / 100);
}

RedisCounterStore::Worker* RedisCounterStore::ThisWorker() {
  if (closed_.load(std::memory_order_acquire)) return nullptr;
  thread_local std::vector<std::pair<std::uint64_t, Worker*>> mine;
  for (const auto& [id, worker] : mine) {
    if (id == id_) return worker;
  }
  asio::io_context* loop = CurrentEventLoop();
  if (loop == nullptr) return nullptr;
  auto worker = std::make_unique<Worker>();
  worker->loop = loop;
  worker->shards.resize(options_.shards.size());
  static const std::string script(kRedisLimiterScript);
  for (std::size_t i = 0; i < options_.shards.size(); ++i) {
    worker->shards[i].connection = std::make_unique<RedisConnection>(
        *loop, options_.shards[i].ip, options_.shards[i].port, script, options_.reconnect_delay);
  }
  Worker* raw = worker.get();
  {
    std::lock_guard lock(workers_mu_);
    workers_.push_back(std::move(worker));
  }
  mine.emplace_back(id_, raw);
  return raw;
}

void RedisCounterStore::CheckAndCharge(std::span<const LimitCheck> checks, UnixMillis now,
                                       const CheckOptions& options, Done done) {
  if (auto valid = ValidateLimitChecks(checks, now); !valid) {
    done(tollgate::Fail(std::move(valid.error())));
    return;
  }
  Worker* worker = ThisWorker();
  if (worker == nullptr) {
    // Not on an event loop (a caller outside the HTTP workers), or after Close(): Redis cannot
    // be asked from here.
    done(Fallback(checks, now, options.on_failure));
    return;
  }
  if (options_.mode == LimiterMode::kLease) {
    Lease(*worker, checks, now, options, std::move(done));
  } else {
    Exact(*worker, checks, now, options, std::move(done));
  }
}

std::vector<LimitDecision> RedisCounterStore::Fallback(std::span<const LimitCheck> checks, UnixMillis now,
                                                       LimiterFailurePolicy policy) {
  if (decisions_ && ChargesAnything(checks)) decisions_->FellBack(policy);
  std::vector<LimitDecision> decisions(checks.size());
  switch (policy) {
    case LimiterFailurePolicy::kFailOpen: {
      // Admits whatever a limit could admit; a cost above a limit is denied, and then (all or
      // nothing) the whole call.
      for (std::size_t i = 0; i < checks.size(); ++i) {
        const bool impossible = checks[i].cost > checks[i].limit;
        decisions[i] = {!impossible, std::max<std::int64_t>(0, checks[i].limit - checks[i].cost),
                        impossible ? kNeverAdmitted : now};
      }
      return decisions;
    }
    case LimiterFailurePolicy::kFailClosed:
      for (std::size_t i = 0; i < checks.size(); ++i) {
        decisions[i] = {false, 0, now + options_.breaker_open.count()};
      }
      return decisions;
    case LimiterFailurePolicy::kLocal: {
      std::vector<LimitCheck> scaled(checks.begin(), checks.end());
      for (LimitCheck& check : scaled) check.limit = std::max<std::int64_t>(1, check.limit / options_.expected_nodes);
      local_.CheckAndCharge(scaled, now, [&](Result<std::vector<LimitDecision>> decided) {
        if (decided) decisions = std::move(*decided);
      });
      return decisions;
    }
  }
  return decisions;
}

// ---- batching, the breaker and the wire ----

void RedisCounterStore::Enqueue(Worker& worker, std::size_t index, std::shared_ptr<Call> call) {
  Shard& shard = worker.shards[index];
  if (shard.failures >= options_.breaker_failures) {
    const bool open = std::chrono::steady_clock::now() < shard.open_until;
    if (open || shard.probing) {
      Count(shard_metrics_[index].breaker_open);
      Guarded([&] { call->on_reply(nullptr); });  // fail fast while the breaker is open or a probe is out
      return;
    }
  }
  shard.queue.push_back(std::move(call));
  if (shard.flush_posted) return;
  shard.flush_posted = true;
  // Runs after the handlers already queued on this loop, so their calls join this batch.
  asio::post(*worker.loop, [this, &worker, index, alive = std::weak_ptr<int>(worker.alive)] {
    if (!alive.expired()) Flush(worker, index);
  });
}

void RedisCounterStore::Flush(Worker& worker, std::size_t index) {
  Shard& shard = worker.shards[index];
  shard.flush_posted = false;
  if (shard.queue.empty()) return;
  auto batch = std::make_shared<Batch>(*worker.loop);
  batch->calls.swap(shard.queue);
  if (shard.failures >= options_.breaker_failures) shard.probing = true;

  static const std::string sha = Sha1Hex(kRedisLimiterScript);
  std::vector<std::string> numbers;  // stable storage for the argv views below
  std::vector<std::string> keys;
  UnixMillis now = 0;
  std::size_t args = 3;
  for (const auto& call : batch->calls) {
    now = std::max(now, call->now);
    args += 5 + 4 * call->checks.size();
  }
  numbers.reserve(args + 1);
  numbers.push_back(std::to_string(now));
  numbers.push_back(std::to_string(kScriptLateMs));
  numbers.push_back(std::to_string(batch->calls.size()));
  for (const auto& call : batch->calls) {
    numbers.emplace_back(1, call->op);
    if (call->op == 'Q') {
      keys.push_back(options_.key_prefix + call->quota.counter_key);
      numbers.push_back(std::to_string(call->quota.seed));
      numbers.push_back(std::to_string(call->quota.blocks_at));
      numbers.push_back(std::to_string(call->quota.keep_until));
    }
    numbers.push_back(std::to_string(call->checks.size()));
    for (const LimitCheck& check : call->checks) {
      // The algorithm is part of the key: a counter under another algorithm is another counter,
      // as in MemoryCounterStore.
      const int algorithm = ScriptAlgorithmCode(check.algorithm);
      keys.push_back(options_.key_prefix + check.counter_key + "#" + std::to_string(algorithm));
      numbers.push_back(std::to_string(algorithm));
      numbers.push_back(std::to_string(check.limit));
      numbers.push_back(std::to_string(check.window_ms));
      numbers.push_back(std::to_string(check.cost));
    }
  }
  const std::string key_count = std::to_string(keys.size());
  std::vector<std::string_view> argv;
  argv.reserve(3 + keys.size() + numbers.size());
  argv.emplace_back("EVALSHA");
  argv.emplace_back(sha);
  argv.emplace_back(key_count);
  for (const std::string& key : keys) argv.emplace_back(key);
  for (const std::string& number : numbers) argv.emplace_back(number);

  const bool sent = shard.connection->Send(argv, [this, &worker, index, batch](const redisReply* reply) {
    Answer(worker, index, *batch, reply);
  });
  if (!sent) {
    Count(shard_metrics_[index].errors);
    Fail(worker, index, *batch);
    return;
  }
  batch->sent_at = std::chrono::steady_clock::now();
  batch->timer.expires_after(options_.timeout);
  batch->timer.async_wait([this, &worker, index, batch](const boost::system::error_code& ec) {
    if (ec || batch->settled) return;
    // A loop that stalled (a busy machine) may find the timer due while the reply already waits
    // in the socket: read it before calling the shard late.
    worker.shards[index].connection->Poll();
    if (!batch->settled) {
      Count(shard_metrics_[index].timeouts);
      Fail(worker, index, *batch);
    }
  });
}

void RedisCounterStore::Answer(Worker& worker, std::size_t index, Batch& batch, const redisReply* reply) {
  if (batch.settled) return;  // timed out already; its calls were answered by their policy
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != batch.calls.size()) {
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
      const std::string_view error(reply->str, reply->len);
      spdlog::error("redis {}: limiter script failed: {}", worker.shards[index].connection->address(), error);
      // The script was flushed (SCRIPT FLUSH, a failover): load it again; the batches after this
      // one on the connection find it. Not the shard's failure: the breaker stays as it is.
      if (error.starts_with("NOSCRIPT")) {
        worker.shards[index].connection->LoadScript();
        Fail(worker, index, batch, /*count=*/false);
        return;
      }
    }
    Count(shard_metrics_[index].errors);
    Fail(worker, index, batch);
    return;
  }
  batch.settled = true;
  batch.timer.cancel();
  Shard& shard = worker.shards[index];
  if (Histogram* duration = shard_metrics_[index].duration) {
    duration->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - batch.sent_at).count());
  }
  shard.failures = 0;
  shard.probing = false;
  for (std::size_t i = 0; i < batch.calls.size(); ++i) Guarded([&] { batch.calls[i]->on_reply(reply->element[i]); });
}

void RedisCounterStore::Fail(Worker& worker, std::size_t index, Batch& batch, bool count) {
  if (batch.settled) return;
  batch.settled = true;
  batch.timer.cancel();
  Shard& shard = worker.shards[index];
  if (count) {
    const bool was_open = shard.failures >= options_.breaker_failures;
    ++shard.failures;
    if (shard.failures >= options_.breaker_failures && (!was_open || shard.probing)) {
      shard.open_until = std::chrono::steady_clock::now() + options_.breaker_open;
      shard.probing = false;
      // A server that stopped answering holds the pipeline: drop it instead of waiting on it.
      if (shard.connection) shard.connection->Reset();
    }
  } else if (shard.probing) {
    shard.probing = false;  // the probe proved the shard answers
  }
  for (const auto& call : batch.calls) Guarded([&] { call->on_reply(nullptr); });
}

// ---- exact mode ----

namespace {

// The decisions of an 'A' entry {admitted, allowed_1, remaining_1, reset_at_1, ...} (head 1) or a
// 'Q' entry {code, used, allowed_1, ...} (head 2); nullopt when malformed.
std::optional<std::vector<LimitDecision>> DecodeAdmit(const redisReply* entry, std::size_t checks,
                                                      std::size_t head = 1) {
  if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements != head + 3 * checks) return std::nullopt;
  for (std::size_t i = 0; i < head; ++i) {
    if (!IsInteger(entry->element[i])) return std::nullopt;
  }
  std::vector<LimitDecision> decisions(checks);
  for (std::size_t i = 0; i < checks; ++i) {
    const redisReply* const* e = entry->element + head + 3 * i;
    if (!IsInteger(e[0]) || !IsInteger(e[1]) || !IsInteger(e[2])) return std::nullopt;
    decisions[i].allowed = e[0]->integer != 0;
    decisions[i].remaining = e[1]->integer;
    decisions[i].reset_at = e[2]->integer == kScriptNeverAdmitted ? kNeverAdmitted : e[2]->integer;
  }
  return decisions;
}

// Several shards' answers joined into one call's decisions.
struct Join {
  std::vector<LimitDecision> decisions;
  std::size_t outstanding = 0;
  CounterStore::Done done;
};

}  // namespace

void RedisCounterStore::Exact(Worker& worker, std::span<const LimitCheck> checks, UnixMillis now,
                              const CheckOptions& options, Done done) {
  // Group the checks by shard; one verification's counters share a tag, so usually one group.
  std::vector<std::pair<std::size_t, std::vector<std::size_t>>> groups;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const std::size_t shard = ring_.Find(RoutingTag(checks[i].counter_key));
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == shard; });
    if (it == groups.end()) {
      groups.push_back({shard, {}});
      it = groups.end() - 1;
    }
    it->second.push_back(i);
  }
  if (groups.empty()) {
    done(std::vector<LimitDecision>{});
    return;
  }
  auto join = std::make_shared<Join>();
  join->decisions.resize(checks.size());
  join->outstanding = groups.size();
  join->done = std::move(done);
  const LimiterFailurePolicy policy = options.on_failure;
  for (auto& [shard, indexes] : groups) {
    auto call = std::make_shared<Call>();
    call->op = 'A';
    call->now = now;
    for (const std::size_t i : indexes) call->checks.push_back(checks[i]);
    call->on_reply = [this, join, indexes = std::move(indexes), raw = call.get(), policy](const redisReply* entry) {
      auto decided = DecodeAdmit(entry, raw->checks.size());
      if (decided) CountDecided(raw->checks, *decided);
      std::vector<LimitDecision> decisions = decided ? std::move(*decided) : Fallback(raw->checks, raw->now, policy);
      for (std::size_t k = 0; k < indexes.size(); ++k) join->decisions[indexes[k]] = decisions[k];
      if (--join->outstanding == 0) join->done(std::move(join->decisions));
    };
    Enqueue(worker, shard, std::move(call));
  }
}

void RedisCounterStore::CheckChargeAndCount(std::span<const LimitCheck> checks, const QuotaCount& quota,
                                            UnixMillis now, const CheckOptions& options, CountedDone done) {
  if (auto valid = ValidateLimitChecks(checks, now); !valid) {
    done(tollgate::Fail(std::move(valid.error())), QuotaAnswer{});
    return;
  }
  Worker* worker = ThisWorker();
  const std::size_t shard = ring_.Find(RoutingTag(quota.counter_key));
  const bool one_shard = std::all_of(checks.begin(), checks.end(), [&](const LimitCheck& check) {
    return ring_.Find(RoutingTag(check.counter_key)) == shard;
  });
  if (worker == nullptr || !one_shard) {
    // Counted by the caller: no loop to reach Redis from, or limits on another shard.
    CounterStore::CheckChargeAndCount(checks, quota, now, options, std::move(done));
    return;
  }
  auto call = std::make_shared<Call>();
  call->op = 'Q';
  call->now = now;
  call->quota = quota;
  call->checks.assign(checks.begin(), checks.end());
  call->on_reply = [this, raw = call.get(), policy = options.on_failure, done = std::move(done)](const redisReply* entry) {
    if (auto decided = DecodeAdmit(entry, raw->checks.size(), 2)) {
      const long long code = entry->element[0]->integer;
      CountDecided(raw->checks, *decided);
      done(std::move(*decided), QuotaAnswer{true, code == kScriptQuotaBlocked, entry->element[1]->integer});
      return;
    }
    done(Fallback(raw->checks, raw->now, policy), QuotaAnswer{});
  };
  Enqueue(*worker, shard, std::move(call));
}

// ---- lease mode ----

namespace {

enum class LeaseVerdict { kAdmits, kDenies, kWaits, kNeedsLease };

}  // namespace

void RedisCounterStore::SweepLeases(Worker& worker, UnixMillis now) {
  // Whenever the map has doubled since the last sweep: amortised O(1) per call, and a stream of
  // one-off identifiers cannot grow it without bound.
  if (worker.leases.size() < worker.sweep_leases_at) return;
  std::erase_if(worker.leases, [now](const auto& entry) {
    const LeaseState& s = entry.second;
    return s.valid_until <= now && s.denied_until <= now && !s.refilling && s.waiters.empty();
  });
  worker.sweep_leases_at = std::max<std::size_t>(1024, 2 * worker.leases.size());
}

void RedisCounterStore::Lease(Worker& worker, std::span<const LimitCheck> given, UnixMillis now,
                              const CheckOptions& options, Done done) {
  // Owned by the attempt, which may run again after a lease arrives.
  struct Attempt {
    std::vector<LimitCheck> checks;
    UnixMillis now;
    LimiterFailurePolicy policy;
    Done done;
  };
  auto attempt = std::make_shared<Attempt>(Attempt{{given.begin(), given.end()}, now, options.on_failure, std::move(done)});
  SweepLeases(worker, now);

  // Decides from the leases when it can; otherwise asks Redis for what is missing and retries.
  auto run = std::make_shared<std::function<void()>>();
  *run = [this, &worker, attempt, weak_run = std::weak_ptr<std::function<void()>>(run)]() {
    const UnixMillis at = attempt->now;
    std::vector<LeaseVerdict> verdicts(attempt->checks.size());
    std::vector<LeaseState*> states(attempt->checks.size());
    bool denies = false, waits = false, needs = false;
    for (std::size_t i = 0; i < attempt->checks.size(); ++i) {
      const LimitCheck& check = attempt->checks[i];
      LeaseState& s = worker.leases[check.counter_key];
      states[i] = &s;
      if (s.algorithm != check.algorithm || s.limit != check.limit || s.window_ms != check.window_ms ||
          at >= s.valid_until) {
        s.algorithm = check.algorithm;
        s.limit = check.limit;
        s.window_ms = check.window_ms;
        s.left = 0;
        s.denied_until = 0;  // never later than the lease it came with
      }
      LeaseVerdict& v = verdicts[i];
      if (check.cost > check.limit || (check.cost > s.left && s.denied_until > at)) {
        v = LeaseVerdict::kDenies;
      } else if (check.cost <= s.left) {
        v = LeaseVerdict::kAdmits;
      } else {
        v = s.refilling ? LeaseVerdict::kWaits : LeaseVerdict::kNeedsLease;
      }
      denies |= v == LeaseVerdict::kDenies;
      waits |= v == LeaseVerdict::kWaits;
      needs |= v == LeaseVerdict::kNeedsLease;
    }
    auto self = weak_run.lock();
    if (!denies && (waits || needs) && self) {
      if (waits && !needs) {
        for (std::size_t i = 0; i < verdicts.size(); ++i) {
          if (verdicts[i] == LeaseVerdict::kWaits) {
            // A failed lease request answers its waiters by policy at once: asking the same
            // shard again would make them wait another timeout each.
            states[i]->waiters.push_back([this, self, attempt](bool failed) {
              if (failed) {
                attempt->done(Fallback(attempt->checks, attempt->now, attempt->policy));
              } else {
                (*self)();
              }
            });
            return;
          }
        }
      }
      // Lease what is missing, one request per counter and worker.
      auto call = std::make_shared<Call>();
      call->op = 'L';
      call->now = at;
      std::vector<std::string> keys;
      std::size_t shard = 0;
      for (std::size_t i = 0; i < verdicts.size(); ++i) {
        if (verdicts[i] != LeaseVerdict::kNeedsLease) continue;
        const LimitCheck& check = attempt->checks[i];
        // A lease request goes to one shard; the rest of the counters are leased on the retry.
        const std::size_t target = ring_.Find(RoutingTag(check.counter_key));
        if (!call->checks.empty() && target != shard) continue;
        shard = target;
        LimitCheck ask = check;
        ask.cost = std::max(LeaseChunk(check.limit), check.cost);
        call->checks.push_back(std::move(ask));
        keys.push_back(check.counter_key);
        states[i]->refilling = true;
      }
      call->on_reply = [this, &worker, attempt, self, keys](const redisReply* entry) {
        bool valid = entry != nullptr && entry->type == REDIS_REPLY_ARRAY && entry->elements == 3 * keys.size();
        for (std::size_t i = 0; valid && i < entry->elements; ++i) valid = IsInteger(entry->element[i]);
        std::vector<std::function<void(bool)>> woken;
        for (std::size_t k = 0; k < keys.size(); ++k) {
          LeaseState& s = worker.leases[keys[k]];
          s.refilling = false;
          woken.insert(woken.end(), std::make_move_iterator(s.waiters.begin()), std::make_move_iterator(s.waiters.end()));
          s.waiters.clear();
          if (!valid) continue;
          const redisReply* const* e = entry->element + 3 * k;
          const auto check = std::find_if(attempt->checks.begin(), attempt->checks.end(),
                                          [&](const LimitCheck& c) { return c.counter_key == keys[k]; });
          s.valid_until = LeaseEnd(*check, attempt->now);
          s.left += e[0]->integer;
          s.redis_remaining = e[1]->integer;
          if (e[0]->integer < check->cost) {
            // Nothing (or too little) to lease: deny locally until Redis would admit again.
            const UnixMillis reset = e[2]->integer == kScriptNeverAdmitted ? s.valid_until : e[2]->integer;
            s.denied_until = std::max(attempt->now + 1, std::min(reset, s.valid_until));
          }
        }
        Guarded([&] {
          if (valid) {
            (*self)();
          } else {
            attempt->done(Fallback(attempt->checks, attempt->now, attempt->policy));
          }
        });
        for (auto& wake : woken) Guarded([&] { wake(!valid); });
      };
      Enqueue(worker, shard, std::move(call));
      return;
    }
    // Decided locally: all admit (charge the leases) or some deny (charge nothing).
    std::vector<LimitDecision> decisions(attempt->checks.size());
    for (std::size_t i = 0; i < attempt->checks.size(); ++i) {
      const LimitCheck& check = attempt->checks[i];
      LeaseState& s = *states[i];
      if (!denies) s.left -= check.cost;
      LimitDecision& d = decisions[i];
      d.allowed = verdicts[i] != LeaseVerdict::kDenies;
      d.remaining = std::max<std::int64_t>(0, s.left + s.redis_remaining);
      d.reset_at = check.cost > check.limit ? kNeverAdmitted
                   : d.allowed           ? at
                                         : std::max(at, s.denied_until);
    }
    CountDecided(attempt->checks, decisions);
    attempt->done(std::move(decisions));
  };
  (*run)();
}

}  // namespace tollgate
