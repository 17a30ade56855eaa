// limiter.lua against a real redis-server. The script must decide exactly like the C++
// algorithms, so the tests drive the same calls through the script and through a
// MemoryCounterStore (the reference) and compare every answer. ctest starts the server
// (tests/scripts/redis.sh, the `redis` fixture) and names it in TOLLGATE_TEST_REDIS=<ip>:<port>;
// without it every test skips.
//
// Time. The script decides by the `now` it is given, but Redis expires keys by its own clock, so
// calls that move `now` through hours within a second would see keys linger, or vanish while
// still in use. ScriptRunner therefore plays Redis' clock: in the MULTI of each script call it
// reads the expiry of every key the call touched (and checks it is the state's IdleAt) and
// PERSISTs the key, and before the next call it deletes the keys whose IdleAt has passed. The
// reference is swept at the same clock, so both forget a counter at the same instant. That clock
// is the latest `now` seen: a node's clock may step back, the server's does not.
//
// Threads: single-threaded; one synchronous hiredis connection per test.
#include "limiter/redis/limiter_script.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "algorithm_properties.h"
#include "redis_test_client.h"
#include "limiter/fixed_window.h"
#include "limiter/gcra.h"
#include "limiter/memory_counter_store.h"
#include "limiter/sliding_window.h"
#include "limiter/token_bucket.h"

namespace tollgate {
namespace {

using limiter_test::AlgorithmName;
using limiter_test::kAllAlgorithms;
using limiter_test::Command;
using limiter_test::RedisClient;
using limiter_test::ReplyPtr;
using limiter_test::Text;

constexpr UnixMillis kT0 = 1'700'000'040'000;  // aligned to 1 s and to 1 min

LimitCheck Check(std::string key, LimitAlgorithm algorithm, std::int64_t limit, std::int64_t window_ms,
                 std::int64_t cost = 1) {
  return {std::move(key), algorithm, limit, window_ms, cost};
}

// TIME's answer in Unix ms.
UnixMillis TimeMillis(const redisReply& time) {
  if (time.type != REDIS_REPLY_ARRAY || time.elements != 2) {
    ADD_FAILURE() << "TIME answered " << Text(&time);
    return 0;
  }
  return std::stoll(Text(time.element[0])) * 1000 + std::stoll(Text(time.element[1])) / 1000;
}

// -------------------------------------------------------------------------- script protocol

// One request of a script call: op 'A' admits `checks` all-or-nothing at their costs; op 'L'
// leases up to each check's cost (the chunk) from each check on its own.
struct ScriptRequest {
  char op = 'A';
  std::vector<LimitCheck> checks;
};

Command EvalCommand(const std::string& sha, const std::vector<ScriptRequest>& requests, UnixMillis now) {
  std::vector<std::string> keys;
  // late_ms 0: states expire exactly at their IdleAt, which the tests check against the C++ (the
  // store's margin is checked by LateCallsFindTheirWindowsState).
  std::vector<std::string> argv = {std::to_string(now), "0", std::to_string(requests.size())};
  for (const ScriptRequest& request : requests) {
    argv.push_back(std::string(1, request.op));
    argv.push_back(std::to_string(request.checks.size()));
    for (const LimitCheck& check : request.checks) {
      keys.push_back(check.counter_key);
      for (std::int64_t value : {std::int64_t{ScriptAlgorithmCode(check.algorithm)}, check.limit, check.window_ms,
                                 check.cost}) {
        argv.push_back(std::to_string(value));
      }
    }
  }
  Command command = {"EVALSHA", sha, std::to_string(keys.size())};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), argv.begin(), argv.end());
  return command;
}

UnixMillis ResetAtOf(long long reset_at) {
  return reset_at == kScriptNeverAdmitted ? kNeverAdmitted : reset_at;
}

// Op A's answer: {admitted, allowed_1, remaining_1, reset_at_1, ...}.
struct AdmitAnswer {
  bool admitted = false;
  std::vector<LimitDecision> decisions;
};

AdmitAnswer DecodeAdmit(const redisReply& reply) {
  AdmitAnswer answer;
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements % 3 != 1) {
    ADD_FAILURE() << "op A answered " << reply.elements << " elements, type " << reply.type;
    return answer;
  }
  answer.admitted = reply.element[0]->integer == 1;
  for (std::size_t i = 1; i < reply.elements; i += 3) {
    answer.decisions.push_back({reply.element[i]->integer == 1, reply.element[i + 1]->integer,
                                ResetAtOf(reply.element[i + 2]->integer)});
  }
  return answer;
}

// One check's answer to op L.
struct Grant {
  std::int64_t granted = 0;
  std::int64_t remaining = 0;
  UnixMillis reset_at = 0;
  friend bool operator==(const Grant&, const Grant&) = default;
};

std::ostream& operator<<(std::ostream& out, const Grant& g) {
  return out << "{granted " << g.granted << ", remaining " << g.remaining << ", reset_at " << g.reset_at << "}";
}

std::vector<Grant> DecodeLease(const redisReply& reply) {
  std::vector<Grant> grants;
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements % 3 != 0) {
    ADD_FAILURE() << "op L answered " << reply.elements << " elements, type " << reply.type;
    return grants;
  }
  for (std::size_t i = 0; i < reply.elements; i += 3) {
    grants.push_back(
        {reply.element[i]->integer, reply.element[i + 1]->integer, ResetAtOf(reply.element[i + 2]->integer)});
  }
  return grants;
}

// IdleAt of a state as the script stored it ("<alg>:<field>:..."), by the C++ algorithm; nullopt
// if the value is not a state of the check's algorithm.
std::optional<UnixMillis> IdleAtOfStored(const std::string& value, const LimitCheck& check) {
  std::vector<std::int64_t> f;
  for (std::size_t start = 0; start <= value.size();) {
    const std::size_t end = std::min(value.find(':', start), value.size());
    f.push_back(std::stoll(value.substr(start, end - start)));
    start = end + 1;
  }
  const LimitParams params = ParamsOf(check);
  if (f.empty() || f[0] != ScriptAlgorithmCode(check.algorithm)) return std::nullopt;
  switch (check.algorithm) {
    case LimitAlgorithm::kSlidingWindow:
      if (f.size() == 4) return SlidingWindow::IdleAt({f[1], f[2], f[3]}, params);
      break;
    case LimitAlgorithm::kTokenBucket:
      if (f.size() == 3) return TokenBucket::IdleAt({f[1], f[2]}, params);
      break;
    case LimitAlgorithm::kFixedWindow:
      if (f.size() == 3) return FixedWindow::IdleAt({f[1], f[2]}, params);
      break;
    case LimitAlgorithm::kGcra:
      if (f.size() == 3) return Gcra::IdleAt({f[1], f[2]}, params);
      break;
  }
  return std::nullopt;
}

// ----------------------------------------------------------------------------- the two sides

// The script on Redis, under the simulated clock described at the top of the file.
class ScriptRunner {
 public:
  ScriptRunner(RedisClient& redis, std::string sha) : redis_(redis), sha_(std::move(sha)) {}

  // The script's answer to one call at `now`, one array per request (owned by the result).
  struct Answer {
    ReplyPtr exec;
    const redisReply* script = nullptr;
    const redisReply& request(std::size_t i) const { return *script->element[i]; }
  };

  Answer Call(const std::vector<ScriptRequest>& requests, UnixMillis now) {
    clock_ = std::max(clock_, now);
    // TIME before MULTI: Redis may take the time of a command inside EXEC when EXEC starts.
    std::vector<Command> commands = {{"TIME"}, {"MULTI"}};
    DeleteIdleKeys(commands);
    const std::size_t first = commands.size() - 2;  // the script's reply within EXEC's
    commands.push_back(EvalCommand(sha_, requests, now));
    commands.push_back({"TIME"});
    const std::vector<const LimitCheck*> touched = LastCheckOfEachKey(requests);
    for (const LimitCheck* check : touched) {
      for (const char* verb : {"PEXPIRETIME", "GET", "PERSIST"}) commands.push_back({verb, check->counter_key});
    }
    commands.push_back({"EXEC"});

    Answer answer;
    std::vector<ReplyPtr> replies = redis_.Pipeline(commands);
    answer.exec = std::move(replies.back());
    const redisReply* exec = answer.exec.get();
    if (replies[0] == nullptr || exec == nullptr || exec->type != REDIS_REPLY_ARRAY ||
        exec->elements != commands.size() - 3) {
      ADD_FAILURE() << "the MULTI failed: " << Text(exec);
      return answer;
    }
    answer.script = exec->element[first];
    if (answer.script->type != REDIS_REPLY_ARRAY || answer.script->elements != requests.size()) {
      ADD_FAILURE() << "the script answered: " << Text(answer.script);
      answer.script = nullptr;
      return answer;
    }
    const UnixMillis before = TimeMillis(*replies[0]);
    const UnixMillis after = TimeMillis(*exec->element[first + 1]);
    for (std::size_t i = 0; i < touched.size(); ++i) {
      Track(*touched[i], now, before, after, exec->element[first + 2 + 3 * i]->integer,
            *exec->element[first + 3 + 3 * i]);
    }
    return answer;
  }

  AdmitAnswer Admit(const std::vector<LimitCheck>& checks, UnixMillis now) {
    Answer answer = Call({{'A', checks}}, now);
    return answer.script != nullptr ? DecodeAdmit(answer.request(0)) : AdmitAnswer{};
  }

  std::vector<Grant> Lease(const std::vector<LimitCheck>& checks, UnixMillis now) {
    Answer answer = Call({{'L', checks}}, now);
    return answer.script != nullptr ? DecodeLease(answer.request(0)) : std::vector<Grant>{};
  }

 private:
  // What the server would have expired by clock_.
  void DeleteIdleKeys(std::vector<Command>& commands) {
    for (auto it = idle_at_.begin(); it != idle_at_.end();) {
      if (it->second > clock_) {
        ++it;
        continue;
      }
      commands.push_back({"DEL", it->first});
      it = idle_at_.erase(it);
    }
  }

  // Each key once, with the last check that touched it (its params give the IdleAt).
  static std::vector<const LimitCheck*> LastCheckOfEachKey(const std::vector<ScriptRequest>& requests) {
    std::vector<const LimitCheck*> touched;
    for (const ScriptRequest& request : requests) {
      for (const LimitCheck& check : request.checks) {
        std::erase_if(touched, [&check](const LimitCheck* c) { return c->counter_key == check.counter_key; });
        touched.push_back(&check);
      }
    }
    return touched;
  }

  // Checks what the script left at a touched key and notes when it idles. The script's SET ran
  // between the server times `before` and `after`, so its PX = IdleAt − now puts the key's expiry
  // within [before, after] + IdleAt − now.
  void Track(const LimitCheck& check, UnixMillis now, UnixMillis before, UnixMillis after,
             long long expire_time, const redisReply& value) {
    const std::string& key = check.counter_key;
    if (expire_time == -2) {  // no key: never stored, or deleted as idle
      idle_at_.erase(key);
    } else if (expire_time == -1) {  // persisted by an earlier call and not written since
      EXPECT_TRUE(idle_at_.contains(key)) << key << " was stored without an expiry";
    } else {
      const std::optional<UnixMillis> idle_at = IdleAtOfStored(Text(&value), check);
      ASSERT_TRUE(idle_at.has_value()) << key << " holds " << Text(&value);
      EXPECT_GT(*idle_at, now) << key << " was stored although idle";
      EXPECT_GE(expire_time - (*idle_at - now), before) << key << " expires before its IdleAt";
      EXPECT_LE(expire_time - (*idle_at - now), after) << key << " expires after its IdleAt";
      idle_at_[key] = *idle_at;
    }
  }

  RedisClient& redis_;
  std::string sha_;
  UnixMillis clock_ = 0;
  std::map<std::string, UnixMillis> idle_at_;  // key → when the simulated server drops it
};

// The C++ side: a MemoryCounterStore swept at the same clock as ScriptRunner's.
class Reference {
 public:
  std::vector<LimitDecision> CheckAndCharge(const std::vector<LimitCheck>& checks, UnixMillis now) {
    clock_ = std::max(clock_, now);
    store_.Sweep(clock_, SIZE_MAX);
    std::vector<LimitDecision> decisions;
    store_.CheckAndCharge(checks, now, [&decisions](Result<std::vector<LimitDecision>> result) {
      ASSERT_TRUE(result.has_value()) << result.error().detail;
      decisions = std::move(*result);
    });
    store_.Sweep(clock_, SIZE_MAX);
    return decisions;
  }

  // The decision for `cost` without charging anything: asked together with a check that always
  // denies, the all-or-nothing call charges nothing and answers the check's Peek.
  LimitDecision Peek(LimitCheck check, std::int64_t cost, UnixMillis now) {
    check.cost = cost;
    const auto decisions = CheckAndCharge({check, Check("peek:never", LimitAlgorithm::kFixedWindow, 1, 1, 2)}, now);
    return decisions.empty() ? LimitDecision{} : decisions[0];
  }

  // What op L must answer for one check: the largest single request <= the chunk, charged. Asks
  // in several calls, swept in between, so `now` must not be behind an earlier call's.
  Grant Lease(const LimitCheck& check, UnixMillis now) {
    const std::int64_t granted = std::min(check.cost, Peek(check, 1, now).remaining);
    if (granted > 0) {
      LimitCheck grant = check;
      grant.cost = granted;
      EXPECT_TRUE(CheckAndCharge({grant}, now).at(0).allowed) << "the grant is not one admitted request";
    }
    const LimitDecision unit = Peek(check, 1, now);
    return {granted, unit.remaining, unit.reset_at};
  }

 private:
  MemoryCounterStore store_{{}, SipHashKey{}};
  UnixMillis clock_ = 0;
};

void ExpectSameDecisions(const std::vector<LimitDecision>& expected, const AdmitAnswer& got) {
  ASSERT_EQ(got.decisions.size(), expected.size());
  EXPECT_EQ(got.admitted, std::all_of(expected.begin(), expected.end(), [](auto& d) { return d.allowed; }));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("check " + std::to_string(i));
    EXPECT_EQ(got.decisions[i].allowed, expected[i].allowed);
    EXPECT_EQ(got.decisions[i].remaining, expected[i].remaining);
    EXPECT_EQ(got.decisions[i].reset_at, expected[i].reset_at);
  }
}

// ------------------------------------------------------------------------------ the fixture

class RedisScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* address = std::getenv("TOLLGATE_TEST_REDIS");
    if (address == nullptr || *address == '\0') {
      GTEST_SKIP() << "TOLLGATE_TEST_REDIS is not set: run this suite through ctest, which starts redis-server "
                      "(tests/scripts/redis.sh), or set it to <ip>:<port> of a redis-server you may flush";
    }
    redis_ = RedisClient::Connect(address);
    ASSERT_NE(redis_, nullptr) << "no redis-server answers at " << address;
    ASSERT_EQ(Text(redis_->Run({"FLUSHALL"}).get()), "OK");
    const ReplyPtr loaded = redis_->Run({"SCRIPT", "LOAD", std::string(kRedisLimiterScript)});
    ASSERT_TRUE(loaded != nullptr && loaded->type == REDIS_REPLY_STRING) << Text(loaded.get());
    sha_ = Text(loaded.get());
    script_.emplace(*redis_, sha_);
  }

  // Issues the same call to both sides and compares every decision.
  void ExpectSameAdmit(const std::vector<LimitCheck>& checks, UnixMillis now) {
    ExpectSameDecisions(reference_.CheckAndCharge(checks, now), script_->Admit(checks, now));
  }

  std::unique_ptr<RedisClient> redis_;
  std::string sha_;
  std::optional<ScriptRunner> script_;
  Reference reference_;
};

// ------------------------------------------------------------------ random equivalence runs

// Seeded random calls: counters with small or realistic limits and windows that now and then
// change, costs from 0 to above the limit, and time that stands still, creeps, jumps to window
// edges, idles for several windows and now and then steps back.
class RandomCalls {
 public:
  RandomCalls(std::uint64_t seed, std::span<const LimitAlgorithm> algorithms) : rng_(seed) {
    for (int i = 0; i < 4; ++i) {
      const LimitAlgorithm algorithm = algorithms[Uniform(0, static_cast<std::int64_t>(algorithms.size()) - 1)];
      counters_.push_back(Check("k:" + std::to_string(seed) + ":" + std::to_string(i), algorithm, 1, 1));
      Reshape(counters_.back());
    }
  }

  UnixMillis now() const { return now_; }

  // The next call: time moves, then one to three distinct counters with random costs.
  std::vector<LimitCheck> Next() {
    std::shuffle(counters_.begin(), counters_.end(), rng_);
    if (Uniform(0, 99) < 3) Reshape(counters_[0]);  // a limit or window changes under a live counter
    Advance(counters_[0]);
    std::vector<LimitCheck> checks(counters_.begin(), counters_.begin() + Uniform(1, 3));
    for (LimitCheck& check : checks) check.cost = Cost(check.limit);
    return checks;
  }

 private:
  std::int64_t Uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  template <std::size_t N>
  std::int64_t OneOf(const std::int64_t (&values)[N]) {
    return values[Uniform(0, N - 1)];
  }

  void Reshape(LimitCheck& check) {
    check.limit = Uniform(0, 9) < 6 ? Uniform(1, 10) : OneOf({20, 100, 1000, 100'000});
    check.window_ms = Uniform(0, 1) == 0 ? Uniform(1, 20) : OneOf({100, 1000, 60'000, 3'600'000, 86'400'000});
  }

  std::int64_t Cost(std::int64_t limit) {
    const std::int64_t mode = Uniform(0, 99);
    if (mode < 12) return 0;
    if (mode < 55) return 1;
    if (mode < 85) return Uniform(1, limit);
    if (mode < 98) return limit + Uniform(1, 3);
    return std::int64_t{1} << 62;
  }

  void Advance(const LimitCheck& counter) {
    const std::int64_t w = counter.window_ms;
    const std::int64_t spacing = std::max<std::int64_t>(1, w / counter.limit);
    const UnixMillis window_start = now_ - now_ % w;
    const std::int64_t mode = Uniform(0, 99);
    if (mode < 25) {
      // the same ms
    } else if (mode < 50) {
      now_ += Uniform(1, 2 * spacing);
    } else if (mode < 62) {
      now_ += Uniform(0, w);
    } else if (mode < 72) {
      now_ = std::max(now_, window_start + w - 1);  // the last ms of the window
    } else if (mode < 80) {
      now_ = window_start + w + Uniform(0, 1);  // the first ms of the next
    } else if (mode < 92) {
      now_ += Uniform(w, 3 * w);  // idle
    } else {
      now_ -= Uniform(1, 2 * w);  // the clock steps back
    }
  }

  std::mt19937_64 rng_;
  std::vector<LimitCheck> counters_;
  UnixMillis now_ = kT0 + 12'345;
};

// Both sides start empty, with their clocks at zero: a run's time may start before the last one's end.
void RunRandomCalls(RedisClient& redis, const std::string& sha, std::uint64_t seed,
                    std::span<const LimitAlgorithm> algorithms, int calls) {
  ASSERT_EQ(Text(redis.Run({"FLUSHALL"}).get()), "OK");
  ScriptRunner script(redis, sha);
  Reference reference;
  RandomCalls random(seed, algorithms);
  for (int i = 0; i < calls; ++i) {
    const std::vector<LimitCheck> checks = random.Next();
    SCOPED_TRACE("seed " + std::to_string(seed) + ", call " + std::to_string(i) + " at " +
                 std::to_string(random.now()) + ", first check " + checks[0].counter_key + " limit " +
                 std::to_string(checks[0].limit) + " window " + std::to_string(checks[0].window_ms) + " cost " +
                 std::to_string(checks[0].cost));
    ExpectSameDecisions(reference.CheckAndCharge(checks, random.now()), script.Admit(checks, random.now()));
    if (::testing::Test::HasFailure()) return;  // the first difference is the one to read
  }
}

TEST_F(RedisScriptTest, EachAlgorithmDecidesLikeTheMemoryStore) {
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    for (std::uint64_t seed : {1, 2}) RunRandomCalls(*redis_, sha_, seed, {&algorithm, 1}, 1000);
  }
}

TEST_F(RedisScriptTest, MixedMultiCheckCallsDecideLikeTheMemoryStore) {
  for (std::uint64_t seed : {3, 4, 5}) RunRandomCalls(*redis_, sha_, seed, kAllAlgorithms, 1200);
}

// Exact while limit × window_ms < 2^53 (the script's header): shapes at that edge.
TEST_F(RedisScriptTest, IsExactUpToLimitTimesWindowOf2To53) {
  const std::vector<LimitParams> shapes = {{(std::int64_t{1} << 53) - 1, 1, 1},
                                           {(std::int64_t{1} << 33) - 1, std::int64_t{1} << 20, 1},
                                           {(std::int64_t{1} << 13) - 1, kMaxWindowMs, 1},
                                           {3, (std::int64_t{1} << 40) - 7, 1}};
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    for (const LimitParams& shape : shapes) {
      SCOPED_TRACE(std::string(AlgorithmName(algorithm)) + " limit " + std::to_string(shape.limit));
      const LimitCheck counter = Check("edge:" + std::to_string(shape.limit), algorithm, shape.limit, shape.window_ms);
      std::mt19937_64 rng(shape.limit);
      UnixMillis now = kT0;
      for (int i = 0; i < 60; ++i) {
        LimitCheck check = counter;
        const std::int64_t step = i % 7 == 6 ? -1 : 1;
        now += step * std::uniform_int_distribution<std::int64_t>(0, shape.window_ms / 4)(rng);
        check.cost = std::uniform_int_distribution<std::int64_t>(0, shape.limit / 3 + 1)(rng);
        ExpectSameAdmit({check}, now);
      }
    }
  }
}

// ------------------------------------------------------------- changes on a live counter

TEST_F(RedisScriptTest, ALoweredLimitOrAnotherWindowActsLikeTheMemoryStore) {
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    const std::string key = std::string("change:") + AlgorithmName(algorithm);
    ExpectSameAdmit({Check(key, algorithm, 10, 1000, 8)}, kT0 + 400);
    ExpectSameAdmit({Check(key, algorithm, 5, 1000, 1)}, kT0 + 500);   // lowered below the count
    ExpectSameAdmit({Check(key, algorithm, 5, 1000, 0)}, kT0 + 1200);  // next window
    ExpectSameAdmit({Check(key, algorithm, 20, 1000, 3)}, kT0 + 1300);  // raised
    ExpectSameAdmit({Check(key, algorithm, 20, 1500, 3)}, kT0 + 1400);  // another window length
    ExpectSameAdmit({Check(key, algorithm, 20, 1500, 20)}, kT0 + 1500);
    ExpectSameAdmit({Check(key, algorithm, 20, 500, 1)}, kT0 + 1600);
    ExpectSameAdmit({Check(key, algorithm, 20, 500, 1)}, kT0 + 1000);  // and the clock steps back
  }
}

// MemoryCounterStore keeps a counter per (key, algorithm); a key that held another algorithm's
// state starts fresh, and keeps that state as long as the new algorithm stores nothing.
TEST_F(RedisScriptTest, AnotherAlgorithmOnTheSameKeyStartsFresh) {
  const std::string key = "k:key_1:requests";
  for (int i = 0; i < 3; ++i) ExpectSameAdmit({Check(key, LimitAlgorithm::kSlidingWindow, 3, 1000)}, kT0);
  ExpectSameAdmit({Check(key, LimitAlgorithm::kSlidingWindow, 3, 1000)}, kT0 + 1);  // denied
  ExpectSameAdmit({Check(key, LimitAlgorithm::kGcra, 3, 1000, 0)}, kT0 + 2);  // fresh; stores nothing
  ExpectSameAdmit({Check(key, LimitAlgorithm::kGcra, 3, 1000, 4)}, kT0 + 3);  // denied; stores nothing
  ExpectSameAdmit({Check(key, LimitAlgorithm::kSlidingWindow, 3, 1000)}, kT0 + 4);  // still denied
  ExpectSameAdmit({Check(key, LimitAlgorithm::kGcra, 3, 1000, 2)}, kT0 + 5);  // fresh: admitted
  ExpectSameAdmit({Check(key, LimitAlgorithm::kGcra, 3, 1000, 2)}, kT0 + 6);
}

// ---------------------------------------------------------------------------------- batching

TEST_F(RedisScriptTest, RequestsOfOneBatchApplyInOrder) {
  const LimitCheck per_key = Check("k:key_1:rps", LimitAlgorithm::kSlidingWindow, 3, 1000);
  const LimitCheck per_identity = Check("i:ident_1:rpm", LimitAlgorithm::kTokenBucket, 4, 60'000);
  const LimitCheck lease = Check("i:ident_2:rps", LimitAlgorithm::kFixedWindow, 10, 1000, 4);  // chunk 4
  const LimitCheck unit = Check("i:ident_2:rps", LimitAlgorithm::kFixedWindow, 10, 1000, 1);
  const std::vector<ScriptRequest> batch = {
      {'A', {per_key, per_identity}}, {'A', {per_key}}, {'L', {lease}}, {'A', {per_identity, per_key}},
      {'A', {per_key}},               {'L', {lease}},   {'A', {unit}},  {'L', {lease}}};
  const ScriptRunner::Answer answer = script_->Call(batch, kT0 + 10);
  ASSERT_NE(answer.script, nullptr);

  std::vector<bool> admitted;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    if (batch[i].op == 'A') {
      const AdmitAnswer got = DecodeAdmit(answer.request(i));
      ExpectSameDecisions(reference_.CheckAndCharge(batch[i].checks, kT0 + 10), got);
      admitted.push_back(got.admitted);
    } else {
      EXPECT_EQ(DecodeLease(answer.request(i)), std::vector<Grant>{reference_.Lease(batch[i].checks[0], kT0 + 10)});
    }
  }
  // per_key (3 per s) is spent by the third admission, so the fourth is denied; the unit
  // admission on the leased counter sees the 8 leased, and the last lease gets what is left.
  EXPECT_EQ(admitted, (std::vector<bool>{true, true, true, false, true}));
  EXPECT_EQ(DecodeLease(answer.request(2))[0], (Grant{4, 6, kT0 + 10}));
  EXPECT_EQ(DecodeLease(answer.request(5))[0], (Grant{4, 2, kT0 + 10}));
  EXPECT_EQ(DecodeLease(answer.request(7))[0], (Grant{1, 0, kT0 + 1000}));
}

// ------------------------------------------------------------------------------------- lease

TEST_F(RedisScriptTest, ALeaseGrantsWhatFitsUpToTheChunkAndChargesIt) {
  std::mt19937_64 rng(7);
  auto uniform = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  UnixMillis now = kT0 + 17;  // only forward: Reference::Lease asks in several calls
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    const std::string key = std::string("lease:") + AlgorithmName(algorithm);
    for (int i = 0; i < 400 && !HasFailure(); ++i) {
      const std::int64_t limit = i < 200 ? 10 : 7;  // and a lowered limit halfway
      const std::int64_t window = i < 300 ? 1000 : 700;
      now += uniform(0, 3) == 0 ? uniform(0, 400) : 0;
      SCOPED_TRACE("call " + std::to_string(i) + " at " + std::to_string(now));
      if (uniform(0, 3) == 0) {  // an admission between leases sees what they charged
        ExpectSameAdmit({Check(key, algorithm, limit, window, uniform(0, 3))}, now);
        continue;
      }
      const LimitCheck check = Check(key, algorithm, limit, window, uniform(0, 6));
      const std::vector<Grant> got = script_->Lease({check}, now);
      ASSERT_EQ(got.size(), 1u);
      // The largest: one request of one more than granted is not admitted (unless the chunk capped it).
      if (got[0].granted < check.cost) {
        EXPECT_FALSE(reference_.Peek(check, got[0].granted + 1, now).allowed);
      }
      EXPECT_EQ(got[0], reference_.Lease(check, now));
    }
  }
}

TEST_F(RedisScriptTest, AnExhaustedLeaseGrantsNothingAndSaysWhenAUnitIsNext) {
  const LimitCheck check = Check("lease:fixed", LimitAlgorithm::kFixedWindow, 5, 1000, 3);
  EXPECT_EQ(script_->Lease({check}, kT0 + 100), (std::vector<Grant>{{3, 2, kT0 + 100}}));
  EXPECT_EQ(script_->Lease({check}, kT0 + 200), (std::vector<Grant>{{2, 0, kT0 + 1000}}));
  EXPECT_EQ(script_->Lease({check}, kT0 + 300), (std::vector<Grant>{{0, 0, kT0 + 1000}}));
  const AdmitAnswer denied = script_->Admit({Check("lease:fixed", LimitAlgorithm::kFixedWindow, 5, 1000)}, kT0 + 300);
  EXPECT_FALSE(denied.admitted);
  EXPECT_EQ(denied.decisions.at(0).reset_at, kT0 + 1000);
  EXPECT_EQ(script_->Lease({check}, kT0 + 1000), (std::vector<Grant>{{3, 2, kT0 + 1000}}));

  // Each check of a lease is on its own: an exhausted one does not hold back the others.
  const LimitCheck gcra = Check("lease:gcra", LimitAlgorithm::kGcra, 4, 1000, 10);
  const std::vector<Grant> both = script_->Lease({check, gcra}, kT0 + 1000);
  EXPECT_EQ(both, (std::vector<Grant>{{2, 0, kT0 + 2000}, {4, 0, kT0 + 1250}}));
}

// --------------------------------------------------------------------------------- expiry

// In real time: the key's PTTL runs out at the state's IdleAt, and Redis drops it then.
TEST_F(RedisScriptTest, ACounterKeyExpiresAtItsIdleAt) {
  constexpr std::int64_t kWindow = 200;
  const UnixMillis now = TimeMillis(*redis_->Run({"TIME"}));
  const UnixMillis window_start = now - now % kWindow;
  struct Case {
    LimitAlgorithm algorithm;
    UnixMillis idle_at;
  };
  const std::vector<Case> cases = {
      {LimitAlgorithm::kSlidingWindow, window_start + 2 * kWindow},  // when `current` has aged out
      {LimitAlgorithm::kTokenBucket, now + 3 * kWindow / 10},        // 3 of 10 tokens refilled
      {LimitAlgorithm::kFixedWindow, window_start + kWindow},
      {LimitAlgorithm::kGcra, now + 3 * kWindow / 10}};
  UnixMillis last = now;
  for (const Case& c : cases) {
    const std::string key = std::string("ttl:") + AlgorithmName(c.algorithm);
    const auto replies = redis_->Pipeline({{"TIME"},
                                           {"MULTI"},
                                           EvalCommand(sha_, {{'A', {Check(key, c.algorithm, 10, kWindow, 3)}}}, now),
                                           {"TIME"},
                                           {"PEXPIRETIME", key},
                                           {"EXEC"}});
    const redisReply& exec = *replies.back();
    ASSERT_EQ(exec.type, REDIS_REPLY_ARRAY) << Text(&exec);
    EXPECT_TRUE(DecodeAdmit(*exec.element[0]->element[0]).admitted) << AlgorithmName(c.algorithm);
    const long long set_at = exec.element[2]->integer - (c.idle_at - now);  // when the SET ran
    EXPECT_GE(set_at, TimeMillis(*replies[0])) << AlgorithmName(c.algorithm);
    EXPECT_LE(set_at, TimeMillis(*exec.element[1])) << AlgorithmName(c.algorithm);
    last = std::max<UnixMillis>(last, exec.element[2]->integer);
  }
  // Wait (in server time) until every expiry has passed; then the keys are gone.
  while (TimeMillis(*redis_->Run({"TIME"})) <= last + 1) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (const Case& c : cases) {
    EXPECT_EQ(redis_->Run({"EXISTS", std::string("ttl:") + AlgorithmName(c.algorithm)})->integer, 0) << AlgorithmName(c.algorithm);
  }
}

// A state that is idle after a call is deleted at once, and one that is idle from the start is
// never written. Plain script calls: ScriptRunner would delete idle keys itself.
TEST_F(RedisScriptTest, AnIdleStateIsDeletedNotStored) {
  auto admit = [this](const LimitCheck& check, UnixMillis now) {
    const ReplyPtr reply = redis_->Run(EvalCommand(sha_, {{'A', {check}}}, now));
    EXPECT_TRUE(reply != nullptr && reply->type == REDIS_REPLY_ARRAY) << Text(reply.get());
    return reply != nullptr && reply->type == REDIS_REPLY_ARRAY ? DecodeAdmit(*reply->element[0]) : AdmitAnswer{};
  };
  for (LimitAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    const std::string key = std::string("idle:") + AlgorithmName(algorithm);
    EXPECT_TRUE(admit(Check(key, algorithm, 10, 60'000, 0), kT0).admitted);
    EXPECT_EQ(redis_->Run({"EXISTS", key})->integer, 0) << "asking with cost 0 stored a state";
    EXPECT_TRUE(admit(Check(key, algorithm, 10, 60'000, 4), kT0).admitted);
    EXPECT_GT(redis_->Run({"PTTL", key})->integer, 0);
    // Three windows later (in the caller's time; the key lives on in the server's) a cost-0 call
    // decides on the state, finds it idle and deletes it.
    EXPECT_EQ(admit(Check(key, algorithm, 10, 60'000, 0), kT0 + 180'000).decisions.at(0).remaining, 10);
    EXPECT_EQ(redis_->Run({"EXISTS", key})->integer, 0);
  }
}

// ---------------------------------------------------------------------------- bad input

// ------------------------------------------------------------------------ op Q and late_ms

// A raw script call: `args` after now, late_ms and R.
Command RawCall(const std::string& sha, const std::vector<std::string>& keys, UnixMillis now, std::int64_t late_ms,
                const std::vector<std::string>& requests_args, std::size_t requests = 1) {
  Command command = {"EVALSHA", sha, std::to_string(keys.size())};
  command.insert(command.end(), keys.begin(), keys.end());
  command.push_back(std::to_string(now));
  command.push_back(std::to_string(late_ms));
  command.push_back(std::to_string(requests));
  command.insert(command.end(), requests_args.begin(), requests_args.end());
  return command;
}

// The integers of a request's reply.
std::vector<long long> Integers(const redisReply& request) {
  std::vector<long long> values;
  for (std::size_t i = 0; i < request.elements; ++i) values.push_back(request.element[i]->integer);
  return values;
}

// Op Q with one fixed-window check (limit 3 per minute) at kT0: {code, count, allowed, remaining, reset}.
// keep_until is in the server's time (PXAT): a day after now by its clock, whatever kT0 says.
std::vector<long long> QuotaCall(RedisClient& redis, const std::string& sha, std::int64_t seed, std::int64_t blocks_at,
                                 std::int64_t cost = 1) {
  const UnixMillis keep_until = TimeMillis(*redis.Run({"TIME"})) / 1000 * 1000 + 86'400'000;
  const ReplyPtr reply = redis.Run(RawCall(sha, {"q:acme", "c:acme#3"}, kT0, 0,
                                           {"Q", std::to_string(seed), std::to_string(blocks_at),
                                            std::to_string(keep_until), "1", "3", "3", "60000", std::to_string(cost)}));
  EXPECT_TRUE(reply != nullptr && reply->type == REDIS_REPLY_ARRAY) << Text(reply.get());
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return {};
  return Integers(*reply->element[0]);
}

TEST_F(RedisScriptTest, OpQCountsTheQuotaOnlyWhenTheLimitsAdmit) {
  // A missing counter starts at the node's seed, and each admitted call adds one.
  // (reset_at of an admitted request is now: the limit admits another one now.)
  EXPECT_EQ(QuotaCall(*redis_, sha_, 40, -1), (std::vector<long long>{0, 41, 1, 2, kT0}));
  EXPECT_EQ(QuotaCall(*redis_, sha_, 0, -1), (std::vector<long long>{0, 42, 1, 1, kT0})) << "a lower seed changes nothing";
  // Denied by the limit: nothing counted.
  EXPECT_EQ(QuotaCall(*redis_, sha_, 0, -1, 5), (std::vector<long long>{3, 42, 0, 1, -1}));
  EXPECT_EQ(Text(redis_->Run({"GET", "q:acme"}).get()), "42");
  const ReplyPtr expiry = redis_->Run({"PTTL", "q:acme"});
  EXPECT_GT(expiry->integer, 86'400'000 - 60'000) << "kept until keep_until, a day from now";
}

TEST_F(RedisScriptTest, OpQCatchesUpWithANodeThatCountedWhileTheShardWasAway) {
  EXPECT_EQ(QuotaCall(*redis_, sha_, 0, -1)[1], 1);
  // The node counted 9 more on its own meanwhile: its view (the seed) wins over the stale count.
  EXPECT_EQ(QuotaCall(*redis_, sha_, 10, -1)[1], 11);
}

TEST_F(RedisScriptTest, OpQBlocksAtTheQuotaChargingNothing) {
  EXPECT_EQ(QuotaCall(*redis_, sha_, 1, 2), (std::vector<long long>{0, 2, 1, 2, kT0}));
  // The count reached blocks_at: code 2, the limit only peeked (still 2 remaining, reset now).
  EXPECT_EQ(QuotaCall(*redis_, sha_, 1, 2), (std::vector<long long>{2, 2, 1, 2, kT0}));
  EXPECT_EQ(Text(redis_->Run({"GET", "q:acme"}).get()), "2");
}

TEST_F(RedisScriptTest, LateMsKeepsAStatePastItsIdleAt) {
  // A fixed window of 1 s at kT0 idles at kT0 + 1000; with late_ms 5000 the key expires 5 s later.
  const std::vector<std::string> check = {"A", "1", "3", "2", "1000", "1"};
  const auto replies = redis_->Pipeline({RawCall(sha_, {"late#3"}, kT0, 5000, check), {"PTTL", "late#3"}});
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_GT(replies[1]->integer, 1000 + 5000 - 100);
  EXPECT_LE(replies[1]->integer, 1000 + 5000);
  // A call for the same window that arrives after the window ended still finds its state.
  const ReplyPtr again = redis_->Run(RawCall(sha_, {"late#3"}, kT0 + 1, 5000, check));
  const ReplyPtr third = redis_->Run(RawCall(sha_, {"late#3"}, kT0 + 2, 5000, check));
  EXPECT_EQ(Integers(*again->element[0])[0], 1);
  EXPECT_EQ(Integers(*third->element[0])[0], 0) << "the window's limit of 2 holds";
}

TEST_F(RedisScriptTest, MalformedCallsGetAnErrorReplyAndTheServerCarriesOn) {
  const std::vector<Command> malformed = {
      {"EVALSHA", sha_, "0"},                                  // no now
      {"EVALSHA", sha_, "0", std::to_string(kT0), "1", "X"},  // unknown op
      {"EVALSHA", sha_, "0", std::to_string(kT0), "1", "A", "1", "1", "10", "1000", "1"},  // a key short
      {"EVALSHA", sha_, "1", "k", std::to_string(kT0), "1", "A", "1", "9", "10", "1000", "1"},  // unknown alg
      {"EVALSHA", sha_, "1", "k", std::to_string(kT0), "1", "A", "1", "1", "0", "1000", "1"},   // limit 0
      {"EVALSHA", sha_, "1", "k", std::to_string(kT0), "1", "L", "1", "1", "10", "1000"},       // no chunk
  };
  for (const Command& command : malformed) {
    const ReplyPtr reply = redis_->Run(command);
    ASSERT_NE(reply, nullptr);
    EXPECT_EQ(reply->type, REDIS_REPLY_ERROR) << Text(reply.get());
    EXPECT_NE(Text(reply.get()).find("tollgate limiter script"), std::string::npos) << Text(reply.get());
  }
  EXPECT_EQ(Text(redis_->Run({"PING"}).get()), "PONG");
  EXPECT_EQ(redis_->Run({"DBSIZE"})->integer, 0);
}

}  // namespace
}  // namespace tollgate
