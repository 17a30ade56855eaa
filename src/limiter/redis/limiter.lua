-- tollgate's rate limiter inside Redis (issue 7): the four algorithms of src/limiter/ (sliding
-- window, token bucket, fixed window, GCRA) transliterated to Lua, so that one script call decides
-- a whole batch of requests atomically on one shard. The C++ files are the specification; every
-- function here names its C++ original, and tests/unit/limiter/redis_script_test.cc drives the
-- same random calls through this script and MemoryCounterStore and compares every decision.
--
-- Call: EVALSHA <sha> <#keys> <keys...> <now> <R> <request 1> ... <request R>
-- * KEYS: the counters' Redis keys, consumed in order by the requests (n keys for n checks); a
--   key may appear in several requests of one batch: they run in order, each sees the last.
-- * now: Unix ms; R: how many requests follow. Each request is an op code and its checks:
--   "A" n (alg limit window_ms cost) × n  admit: all-or-nothing, MemoryCounterStore::CheckAndCharge.
--       Peek every check; if all allow, charge all (Decide), else charge nothing.
--       Reply {admitted, allowed_1, remaining_1, reset_at_1, allowed_2, ...}, booleans as 0/1.
--   "L" n (alg limit window_ms chunk) × n  lease: each check on its own is granted g, the
--       largest amount <= chunk that ONE request of cost g is admitted with now, and charged g.
--       Reply {g_1, remaining_1, reset_at_1, g_2, ...}: remaining and reset_at are those of a
--       unit request after the charge (reset_at: when a unit is next admitted; now if one is).
--   alg: 1 sliding window, 2 token bucket, 3 fixed window, 4 GCRA. reset_at -1 is
--   kNeverAdmitted (cost > limit).
-- * Reply: one array per request, in order.
--
-- Why g = min(chunk, remaining of a unit peek) is right for every algorithm: `remaining` is how
-- many unit requests fit now, and each algorithm admits one request of cost g exactly when
-- g <= remaining (fixed window: count + g <= L; token bucket: spent + g·W <= L·W; sliding
-- window: previous·(W − e) + (current + g)·W <= L·W; GCRA: g·W <= L·W − debt), so no search is
-- needed and the grant is a single Decide.
--
-- State: one Redis string per counter, "<alg>:<field>:<field>[:<field>]" with the fields of the
-- algorithm's C++ State in declaration order, written with PX = IdleAt − now (from IdleAt on the
-- state decides like a fresh one, so Redis may forget it); a state already idle is deleted
-- instead. A missing key is a fresh State. Cost: a GET per check, and a SET or DEL per charge.
--
-- Where this can differ from the C++ store:
-- * Beyond 2^53. Lua 5.1 numbers are doubles. Every quantity here is a sum, difference or product
--   of at most limit × window_ms, or an instant plus at most 2 windows; integer division is
--   (a − fmod(a, b)) / b (fmod is exact, and the quotient of a multiple of b is exact). So the
--   script is exact while limit × window_ms < 2^53 (e.g. 10^6 per 104 days, 10^9 per 2.5 hours)
--   and now + 2·window_ms <= 2^53 (the year 287 000), for any cost (a cost that rounds still
--   exceeds a limit below 2^53). Beyond that (the C++ allows limit × window_ms up to 2^62)
--   products and stored token-bucket units round to 53 bits, so a decision close to the limit
--   may go either way and remaining / reset_at may be off by a few units.
-- * Another algorithm on the same key. MemoryCounterStore keeps one counter per (key,
--   algorithm). Here a key holds one algorithm's state: a call under another algorithm starts
--   from a fresh state, as in C++, and leaves the other state alone unless it stores a state of
--   its own, which replaces it; switching back then starts fresh again where the C++ store would
--   resume the old counter until it idles. Put the algorithm into the key for exact equivalence.
-- * Expiry follows the Redis server's clock (PX is relative, so a constant offset between the
--   nodes' clocks and the server's does not matter); MemoryCounterStore drops idle counters in
--   its own time. A state read after its IdleAt decides like a fresh one whenever time moves
--   forward, so this only matters after a clock step back or a change of limit or window.
--
-- Input is validated by the C++ side (ValidateLimitChecks); malformed input gets an error reply.

local fmod, min, max = math.fmod, math.min, math.max
local NEVER = -1 -- kNeverAdmitted

-- ⌊a / b⌋ and ⌈a / b⌉ for integers a >= 0, b >= 1 (CeilDiv in limit_params.h).
local function div(a, b)
  return (a - fmod(a, b)) / b
end
local function ceil_div(a, b)
  local r = fmod(a, b)
  return (a - r) / b + (r ~= 0 and 1 or 0)
end

local function decision(allowed, remaining, reset_at)
  return {allowed = allowed, remaining = remaining, reset_at = reset_at}
end

-- Every algorithm below: see(state, p, now) -> view, admits(view, p, now), describe(view, p,
-- now, allowed) -> decision, charge(view, p, now) -> new state (updating view), idle_at(state,
-- p); p = {limit, window, cost}. They follow the C++ functions of the same names.

---------------------------------------------------------------------------- sliding_window.cc
local sliding_window = {code = 1, fields = {'window_start', 'current', 'previous'}}

function sliding_window.see(s, p, now)
  local w, limit = p.window, p.limit
  local offset = fmod(now, w)
  local v = {start = now - offset, offset = offset, current = 0, previous = 0}
  if s.window_start == v.start - w then
    v.previous = min(s.current, limit)
    return v
  end
  if s.window_start > v.start and fmod(s.window_start, w) == 0 then
    v.start, v.offset = s.window_start, 0 -- the clock went back: judge at the stored window's start
  end
  if s.window_start == v.start then
    v.current, v.previous = min(s.current, limit), min(s.previous, limit)
  end
  return v
end

-- AdmitsAt: previous·(W − e) + (current + cost)·W <= L·W.
local function sw_admits_at(previous, current, offset, p)
  if p.cost > p.limit or current > p.limit - p.cost then return false end
  return previous * (p.window - offset) <= (p.limit - p.cost - current) * p.window
end

-- FirstAdmittingOffset: the earliest offset in [from, W) admitting cost, or W.
local function sw_first_admitting_offset(previous, current, from, p)
  local w = p.window
  if p.cost > p.limit or current > p.limit - p.cost then return w end
  if previous == 0 then return from end
  local span = div((p.limit - p.cost - current) * w, previous)
  return max(from, w - min(span, w))
end

function sliding_window.admits(v, p)
  return sw_admits_at(v.previous, v.current, v.offset, p)
end

local function sw_reset_at(v, p, now)
  if p.cost > p.limit then return NEVER end
  if sw_admits_at(v.previous, v.current, v.offset, p) then return now end
  local w = p.window
  local here = sw_first_admitting_offset(v.previous, v.current, v.offset, p)
  if here < w then return v.start + here end
  local next = sw_first_admitting_offset(v.current, 0, 0, p) -- current becomes previous
  if next < w then return v.start + w + next end
  return v.start + 2 * w
end

function sliding_window.describe(v, p, now, allowed)
  local w, limit = p.window, p.limit
  local fits = limit
  if v.previous ~= 0 then fits = div(limit * w - v.previous * (w - v.offset), w) end
  return decision(allowed, max(0, fits - v.current), sw_reset_at(v, p, now))
end

function sliding_window.charge(v, p)
  v.current = v.current + p.cost
  return {window_start = v.start, current = v.current, previous = v.previous}
end

function sliding_window.idle_at(s, p)
  if s.current > 0 then return s.window_start + 2 * p.window end
  if s.previous > 0 then return s.window_start + p.window end
  return 0
end

------------------------------------------------------------------------------ token_bucket.cc
local token_bucket = {code = 2, fields = {'updated_at', 'spent'}}

function token_bucket.see(s, p, now)
  local at = max(now, s.updated_at)
  local elapsed = min(at - s.updated_at, p.window)
  local spent = min(s.spent, p.limit * p.window)
  return {at = at, spent = max(0, spent - elapsed * p.limit)}
end

function token_bucket.admits(v, p)
  return p.cost <= p.limit and v.spent <= (p.limit - p.cost) * p.window
end

function token_bucket.describe(v, p, now, allowed)
  local w = p.window
  local reset_at = NEVER
  if p.cost <= p.limit then
    local excess = v.spent - (p.limit - p.cost) * w
    reset_at = excess <= 0 and now or v.at + ceil_div(excess, p.limit)
  end
  return decision(allowed, div(p.limit * w - v.spent, w), reset_at)
end

function token_bucket.charge(v, p)
  v.spent = v.spent + p.cost * p.window
  return {updated_at = v.at, spent = v.spent}
end

function token_bucket.idle_at(s, p)
  local spent = min(s.spent, p.limit * p.window)
  return spent > 0 and s.updated_at + ceil_div(spent, p.limit) or 0
end

------------------------------------------------------------------------------ fixed_window.cc
local fixed_window = {code = 3, fields = {'window_start', 'count'}}

function fixed_window.see(s, p, now)
  local start = now - fmod(now, p.window)
  if s.window_start > start and fmod(s.window_start, p.window) == 0 then
    start = s.window_start -- the clock went back: count against the stored window
  end
  return {start = start, count = s.window_start == start and min(s.count, p.limit) or 0}
end

function fixed_window.admits(v, p)
  return p.cost <= p.limit and v.count <= p.limit - p.cost
end

function fixed_window.describe(v, p, now, allowed)
  local reset_at = NEVER
  if p.cost <= p.limit then
    reset_at = v.count <= p.limit - p.cost and now or v.start + p.window
  end
  return decision(allowed, p.limit - v.count, reset_at)
end

function fixed_window.charge(v, p)
  v.count = v.count + p.cost
  return {window_start = v.start, count = v.count}
end

function fixed_window.idle_at(s, p)
  return s.count > 0 and s.window_start + p.window or 0
end

-------------------------------------------------------------------------------------- gcra.cc
-- Instants and durations are {ms, frac}: ms plus frac/L ms, frac in [0, L).
local gcra = {code = 4, fields = {'tat', 'tat_frac'}}

local function gcra_add(a, b, limit)
  local ms, frac = a.ms + b.ms, a.frac + b.frac
  if frac >= limit then return {ms = ms + 1, frac = frac - limit} end
  return {ms = ms, frac = frac}
end

local function gcra_after(t, now)
  return t.ms > now or (t.ms == now and t.frac > 0)
end

-- The stored TAT under the current limit (a remainder stored under a larger limit is clamped).
local function gcra_tat(s, p)
  return {ms = s.tat, frac = min(max(s.tat_frac, 0), p.limit - 1)}
end

-- FirstAdmitting: ⌈TAT + cost·T − W⌉. Requires cost <= limit.
local function gcra_first_admitting(tat, emission, p)
  local finish = gcra_add(tat, emission, p.limit)
  return finish.ms - p.window + (finish.frac > 0 and 1 or 0)
end

function gcra.see(s, p)
  local emission = {ms = 0, frac = 0}
  if p.cost <= p.limit then -- EmissionTime: cost·T = cost·W/L ms, cost·W <= L·W
    local scaled = p.cost * p.window
    emission = {ms = div(scaled, p.limit), frac = fmod(scaled, p.limit)}
  end
  return {tat = gcra_tat(s, p), emission = emission}
end

function gcra.admits(v, p, now)
  return p.cost <= p.limit and gcra_first_admitting(v.tat, v.emission, p) <= now
end

function gcra.describe(v, p, now, allowed)
  local w, limit, tat = p.window, p.limit, v.tat
  local remaining = 0
  if not gcra_after(tat, now) then
    remaining = limit
  elseif tat.ms - now < w then
    local debt = (tat.ms - now) * limit + tat.frac -- D·L < L·W
    remaining = div(limit * w - debt, w)
  end
  local reset_at = NEVER
  if p.cost <= limit then reset_at = max(now, gcra_first_admitting(tat, v.emission, p)) end
  return decision(allowed, remaining, reset_at)
end

function gcra.charge(v, p, now)
  if not gcra_after(v.tat, now) then v.tat = {ms = now, frac = 0} end
  v.tat = gcra_add(v.tat, v.emission, p.limit)
  return {tat = v.tat.ms, tat_frac = v.tat.frac}
end

function gcra.idle_at(s, p)
  local tat = gcra_tat(s, p)
  return tat.ms + (tat.frac > 0 and 1 or 0)
end

------------------------------------------------------------------------ the shared machinery
local algorithms = {sliding_window, token_bucket, fixed_window, gcra}

-- Peek: the decision for p.cost at now, charging nothing.
local function peek(alg, state, p, now)
  local view = alg.see(state, p, now)
  return alg.describe(view, p, now, alg.admits(view, p, now))
end

-- Decide: the same decision and, if allowed, the state after charging p.cost (else nil).
local function decide(alg, state, p, now)
  local view = alg.see(state, p, now)
  if not alg.admits(view, p, now) then return alg.describe(view, p, now, false), nil end
  local charged = alg.charge(view, p, now)
  return alg.describe(view, p, now, true), charged
end

-- The counter at `key` as a state of `alg`, and whether the key held one. A missing key, or one
-- holding another algorithm's (or an unreadable) value, is a fresh state.
local function load(key, alg)
  local raw = redis.call('GET', key)
  local state = {}
  if raw then
    local values, count = {}, 0
    for field in string.gmatch(raw, '[^:]+') do
      count = count + 1
      values[count] = tonumber(field)
    end
    if count == #alg.fields + 1 and values[1] == alg.code then
      local complete = true
      for i, name in ipairs(alg.fields) do
        state[name] = values[i + 1]
        complete = complete and state[name] ~= nil
      end
      if complete then return state, true end
    end
  end
  for _, name in ipairs(alg.fields) do state[name] = 0 end
  return state, false
end

local function integer(x)
  return string.format('%.0f', x) -- tostring would print 15+ digit numbers in exponent form
end

-- Writes `state` to expire at its IdleAt; a state idle already is deleted if the key was ours.
local function save(key, alg, state, p, now, owned)
  local idle_at = alg.idle_at(state, p)
  if idle_at > now then
    local parts = {alg.code}
    for i, name in ipairs(alg.fields) do parts[i + 1] = integer(state[name]) end
    redis.call('SET', key, table.concat(parts, ':'), 'PX', integer(idle_at - now))
  elseif owned then
    redis.call('DEL', key)
  end
end

------------------------------------------------------------------------------ the protocol
local arg_index, key_index = 1, 0

local function fail(message)
  error({err = 'ERR tollgate limiter script: ' .. message}, 0)
end

local function next_number()
  local value = tonumber(ARGV[arg_index])
  if value == nil then fail('ARGV[' .. arg_index .. '] must be a number') end
  arg_index = arg_index + 1
  return value
end

local function next_key()
  key_index = key_index + 1
  if KEYS[key_index] == nil then fail('the requests need more than ' .. #KEYS .. ' keys') end
  return KEYS[key_index]
end

-- One check: its key, algorithm and params; `amount` is the cost (op A) or the chunk (op L).
local function next_check()
  local code, limit, window, amount = next_number(), next_number(), next_number(), next_number()
  local alg = algorithms[code]
  if alg == nil or limit < 1 or window < 1 or amount < 0 then
    fail('invalid check before ARGV[' .. arg_index .. '] (alg 1-4, limit >= 1, window >= 1, cost >= 0)')
  end
  return {key = next_key(), alg = alg, p = {limit = limit, window = window, cost = amount}}
end

local function next_checks()
  local checks = {}
  for i = 1, next_number() do checks[i] = next_check() end
  return checks
end

local function flag(b)
  return b and 1 or 0
end

-- Op A: MemoryCounterStore::CheckAndCharge. No key repeats within one request
-- (ValidateLimitChecks), so the peeked states are still current when charging.
local function admit(checks, now)
  local decisions, all_allow = {}, true
  for i, c in ipairs(checks) do
    c.state, c.owned = load(c.key, c.alg)
    decisions[i] = peek(c.alg, c.state, c.p, now)
    all_allow = all_allow and decisions[i].allowed
  end
  if all_allow then
    for i, c in ipairs(checks) do
      local charged
      decisions[i], charged = decide(c.alg, c.state, c.p, now)
      save(c.key, c.alg, charged, c.p, now, c.owned)
    end
  end
  local reply = {flag(all_allow)}
  for _, d in ipairs(decisions) do
    reply[#reply + 1] = flag(d.allowed)
    reply[#reply + 1] = d.remaining
    reply[#reply + 1] = d.reset_at
  end
  return reply
end

-- Op L: each check on its own.
local function lease(checks, now)
  local reply = {}
  for _, c in ipairs(checks) do
    local state, owned = load(c.key, c.alg)
    local unit = {limit = c.p.limit, window = c.p.window, cost = 1}
    local before = peek(c.alg, state, unit, now)
    local granted = min(c.p.cost, before.remaining)
    local after = before
    if granted > 0 then
      local grant = {limit = unit.limit, window = unit.window, cost = granted}
      local _, charged = decide(c.alg, state, grant, now)
      if charged == nil then fail('a grant within remaining was denied') end -- cannot happen
      save(c.key, c.alg, charged, grant, now, owned)
      after = peek(c.alg, charged, unit, now)
    end
    reply[#reply + 1] = granted
    reply[#reply + 1] = after.remaining
    reply[#reply + 1] = after.reset_at
  end
  return reply
end

local ops = {A = admit, L = lease}

local now = next_number()
local replies = {}
for r = 1, next_number() do
  local op = ops[ARGV[arg_index]]
  if op == nil then fail('ARGV[' .. arg_index .. '] must be an op code, A or L') end
  arg_index = arg_index + 1
  replies[r] = op(next_checks(), now)
end
return replies
