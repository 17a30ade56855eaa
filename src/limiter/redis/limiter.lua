-- tollgate's rate limiter inside Redis (issue 7): the four algorithms of src/limiter/ (sliding
-- window, token bucket, fixed window, GCRA) transliterated to Lua, so that one script call decides
-- a whole batch of requests atomically on one shard. The C++ files are the specification; every
-- function here names its C++ original, and tests/unit/limiter/redis_script_test.cc drives the
-- same random calls through this script and MemoryCounterStore and compares every decision.
--
-- Call: EVALSHA <sha> <#keys> <keys...> <now> <late_ms> <R> <request 1> ... <request R>
-- * KEYS: the counters' Redis keys, consumed in order by the requests (n keys for n checks); a
--   key may appear in several requests of one batch: they run in order, each sees the last.
-- * now: Unix ms; late_ms: how long past its IdleAt a state is kept (see save()); R: how many
--   requests follow. Each request is an op code and its checks:
--   "A" n (alg limit window_ms cost) × n  admit: all-or-nothing, MemoryCounterStore::CheckAndCharge.
--       Peek every check; if all allow, charge all (Decide), else charge nothing.
--       Reply {admitted, allowed_1, remaining_1, reset_at_1, allowed_2, ...}, booleans as 0/1.
--   "L" n (alg limit window_ms chunk) × n  lease: each check on its own is granted g, the
--       largest amount <= chunk that ONE request of cost g is admitted with now, and charged g.
--       Reply {g_1, remaining_1, reset_at_1, g_2, ...}: remaining and reset_at are those of a
--       unit request after the charge (reset_at: when a unit is next admitted; now if one is).
--   "Q" seed blocks_at keep_until n (alg limit window_ms cost) × n  op A with a monthly quota
--       counted in the same step (its counter is the request's first key); see quota() below.
--       Reply {code (0 admitted, 2 quota reached, 3 a limit denied), count after, then as A}.
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
-- algorithm's C++ State in declaration order, written with PX = IdleAt + late_ms − now (from
-- IdleAt on the state decides like a fresh one; late_ms covers calls that reach Redis after
-- later ones, see save()); a state idle even then is deleted instead. A missing key is a fresh State. Cost: a GET per check, and a SET or DEL per charge.
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
--
-- Why it is written this way: Redis runs the whole chunk on every call, so every function and
-- table it defines is created anew each time, and every table a check allocates is garbage by
-- the reply. So the algorithms are plain local functions passing numbers (no method tables, no
-- view / params / decision tables), the records of a request's checks are reused by the next
-- request, a lone check is decided at once (no Peek first), and a state is read with one
-- string.match and written with one string.format.
-- Cost (Redis 7.0.15 on a shared 2-core VM; server time per EVALSHA, SLOWLOG medians, which vary
-- about 2× with the machine's load): one "A" request of one check 15–37 µs, about a third less
-- than the method-table version (26–59 µs); a batch of 32 such requests 9–15 µs per request,
-- about half (18–26 µs). `EVAL "return 1" 0` takes 1–2 µs, a GET plus a SET from the script
-- about 2 µs. What is left is mostly the ~20 closures made per call, tonumber (strtod) of ARGV
-- and of the stored fields, and string.format '%.0f'. Not done: '%d' (faster, but it differs
-- from '%.0f' for a non-integer or a value beyond 2^63, which unvalidated input or a foreign
-- value can produce); memoizing tonumber within a call (no clear gain measured); keeping
-- functions across calls (globals are read-only, and a script must not keep state).

local fmod, min, max = math.fmod, math.min, math.max
local match, format, tonumber = string.match, string.format, tonumber
local NEVER = -1 -- kNeverAdmitted

-- ⌊a / b⌋ and ⌈a / b⌉ for integers a >= 0, b >= 1 (CeilDiv in limit_params.h).
local function div(a, b)
  return (a - fmod(a, b)) / b
end
local function ceil_div(a, b)
  local r = fmod(a, b)
  return (a - r) / b + (r ~= 0 and 1 or 0)
end

-- Every algorithm below is one function named after it: (charge, s1, s2, s3, limit, window, cost,
-- now) -> allowed, remaining, reset_at, s1, s2, s3. (s1, s2, s3) is the algorithm's C++ State in
-- declaration order (two fields but for the sliding window). Without `charge` it is the C++ Peek;
-- with it, Decide: the state returned is the one after charging if allowed, else the one given.
-- Their bodies follow the C++ See, Admits and Describe, marked as such.

---------------------------------------------------------------------------- sliding_window.cc
-- AdmitsAt: previous·(W − e) + (current + cost)·W <= L·W.
local function sw_admits_at(previous, current, offset, limit, w, cost)
  if cost > limit or current > limit - cost then return false end
  return previous * (w - offset) <= (limit - cost - current) * w
end

-- FirstAdmittingOffset: the earliest offset in [from, W) admitting cost, or W.
local function sw_first_admitting_offset(previous, current, from, limit, w, cost)
  if cost > limit or current > limit - cost then return w end
  if previous == 0 then return from end
  local span = div((limit - cost - current) * w, previous)
  return max(from, w - min(span, w))
end

-- ResetAt, for the view (start, offset, current, previous).
local function sw_reset_at(start, offset, current, previous, limit, w, cost, now)
  if cost > limit then return NEVER end
  if sw_admits_at(previous, current, offset, limit, w, cost) then return now end
  local here = sw_first_admitting_offset(previous, current, offset, limit, w, cost)
  if here < w then return start + here end
  local next = sw_first_admitting_offset(current, 0, 0, limit, w, cost) -- current becomes previous
  if next < w then return start + w + next end
  return start + 2 * w
end

-- State (window_start, current, previous).
local function sliding_window(charge, window_start, current, previous, limit, w, cost, now)
  -- See: the view (start, offset, cur, prev) at now.
  local offset = fmod(now, w)
  local start, cur, prev = now - offset, 0, 0
  if window_start == start - w then
    prev = min(current, limit)
  else
    if window_start > start and fmod(window_start, w) == 0 then
      start, offset = window_start, 0 -- the clock went back: judge at the stored window's start
    end
    if window_start == start then cur, prev = min(current, limit), min(previous, limit) end
  end
  local allowed = sw_admits_at(prev, cur, offset, limit, w, cost)
  if allowed and charge then
    cur = cur + cost
    window_start, current, previous = start, cur, prev
  end
  -- Describe
  local fits = limit
  if prev ~= 0 then fits = div(limit * w - prev * (w - offset), w) end
  return allowed, max(0, fits - cur), sw_reset_at(start, offset, cur, prev, limit, w, cost, now),
    window_start, current, previous
end

------------------------------------------------------------------------------ token_bucket.cc
-- State (updated_at, spent).
local function token_bucket(charge, updated_at, spent, _, limit, w, cost, now)
  -- See: the view (at, left) at now; `left` is the view's spent.
  local at = max(now, updated_at)
  local elapsed = min(at - updated_at, w)
  local left = max(0, min(spent, limit * w) - elapsed * limit)
  local allowed = cost <= limit and left <= (limit - cost) * w -- Admits
  if allowed and charge then
    left = left + cost * w
    updated_at, spent = at, left
  end
  -- Describe
  local reset_at = NEVER
  if cost <= limit then
    local excess = left - (limit - cost) * w
    reset_at = excess <= 0 and now or at + ceil_div(excess, limit)
  end
  return allowed, div(limit * w - left, w), reset_at, updated_at, spent
end

------------------------------------------------------------------------------ fixed_window.cc
-- State (window_start, count).
local function fixed_window(charge, window_start, count, _, limit, w, cost, now)
  -- See: the view (start, counted) at now.
  local start = now - fmod(now, w)
  if window_start > start and fmod(window_start, w) == 0 then
    start = window_start -- the clock went back: count against the stored window
  end
  local counted = window_start == start and min(count, limit) or 0
  local allowed = cost <= limit and counted <= limit - cost -- Admits
  if allowed and charge then
    counted = counted + cost
    window_start, count = start, counted
  end
  -- Describe
  local reset_at = NEVER
  if cost <= limit then reset_at = counted <= limit - cost and now or start + w end
  return allowed, limit - counted, reset_at, window_start, count
end

-------------------------------------------------------------------------------------- gcra.cc
-- Instants and durations are two numbers ms, frac: ms plus frac/L ms, frac in [0, L).
local function gcra_add(ms, frac, add_ms, add_frac, limit)
  ms, frac = ms + add_ms, frac + add_frac
  if frac >= limit then return ms + 1, frac - limit end
  return ms, frac
end

local function gcra_after(ms, frac, now)
  return ms > now or (ms == now and frac > 0)
end

-- FirstAdmitting: ⌈TAT + cost·T − W⌉. Requires cost <= limit.
local function gcra_first_admitting(ms, frac, emission_ms, emission_frac, limit, w)
  local finish_ms, finish_frac = gcra_add(ms, frac, emission_ms, emission_frac, limit)
  return finish_ms - w + (finish_frac > 0 and 1 or 0)
end

-- State (tat, tat_frac).
local function gcra(charge, tat, tat_frac, _, limit, w, cost, now)
  -- Tat: the stored TAT under the current limit (a remainder stored under a larger one is clamped).
  local ms, frac = tat, min(max(tat_frac, 0), limit - 1)
  local emission_ms, emission_frac = 0, 0
  if cost <= limit then -- EmissionTime: cost·T = cost·W/L ms, cost·W <= L·W
    local scaled = cost * w
    emission_ms, emission_frac = div(scaled, limit), fmod(scaled, limit)
  end
  local allowed = cost <= limit -- Admits
    and gcra_first_admitting(ms, frac, emission_ms, emission_frac, limit, w) <= now
  if allowed and charge then
    if not gcra_after(ms, frac, now) then ms, frac = now, 0 end
    ms, frac = gcra_add(ms, frac, emission_ms, emission_frac, limit)
    tat, tat_frac = ms, frac
  end
  -- Describe
  local remaining = 0
  if not gcra_after(ms, frac, now) then
    remaining = limit
  elseif ms - now < w then
    local debt = (ms - now) * limit + frac -- D·L < L·W
    remaining = div(limit * w - debt, w)
  end
  local reset_at = NEVER
  if cost <= limit then
    reset_at = max(now, gcra_first_admitting(ms, frac, emission_ms, emission_frac, limit, w))
  end
  return allowed, remaining, reset_at, tat, tat_frac
end

------------------------------------------------------------------------ the shared machinery
local algorithms = {sliding_window, token_bucket, fixed_window, gcra} -- by alg code

-- IdleAt of algorithm `code` for the state (s1, s2, s3).
local function idle_at(code, s1, s2, s3, limit, w)
  if code == 1 then -- SlidingWindow::IdleAt
    if s2 > 0 then return s1 + 2 * w end
    if s3 > 0 then return s1 + w end
    return 0
  elseif code == 2 then -- TokenBucket::IdleAt
    local spent = min(s2, limit * w)
    return spent > 0 and s1 + ceil_div(spent, limit) or 0
  elseif code == 3 then -- FixedWindow::IdleAt
    return s2 > 0 and s1 + w or 0
  end
  local frac = min(max(s2, 0), limit - 1) -- Gcra::IdleAt
  return s1 + (frac > 0 and 1 or 0)
end

-- The stored value: "<code>:<s1>:<s2>[:<s3>]", split on runs of ':' (an empty field is skipped).
local STATE3 = '^:*([^:]+):+([^:]+):+([^:]+):+([^:]+):*$'
local STATE2 = '^:*([^:]+):+([^:]+):+([^:]+):*$'

-- The counter at `key` as a state (s1, s2, s3) of algorithm `code`, and whether the key held one.
-- A missing key, or one holding another algorithm's (or an unreadable) value, is a fresh state.
local function load(key, code)
  local raw = redis.call('GET', key)
  if raw then
    local three = code == 1
    local stored_code, s1, s2, s3 = match(raw, three and STATE3 or STATE2)
    if stored_code and tonumber(stored_code) == code then
      s1, s2 = tonumber(s1), tonumber(s2)
      if three then s3 = tonumber(s3) else s3 = 0 end
      if s1 and s2 and s3 then return s1, s2, s3, true end
    end
  end
  return 0, 0, 0, false
end

-- Writes the state to expire late_ms after its IdleAt; a state idle by then is deleted if the key
-- was ours. %.0f: tostring would print 15+ digit numbers in exponent form.
--
-- Why late_ms: `now` is the node's clock when the verification began, and calls reach Redis
-- later (queued for a loop turn, batched, from several nodes), not in the order of their `now`.
-- A state dropped exactly at its IdleAt (e.g. a fixed window's end) would let a call still inside
-- that window, arriving a millisecond after, find a fresh counter and be admitted over the limit
-- (seen under load: 101-115 admitted of 100). Kept late_ms longer, such a call finds the state it
-- belongs to; a call later than that was long answered by its node's failure policy.
local late_ms = 0 -- set from ARGV below, before any request runs
local function save(key, code, s1, s2, s3, limit, w, now, owned)
  local idle = idle_at(code, s1, s2, s3, limit, w) + late_ms
  if idle > now then
    local value
    if code == 1 then
      value = format('1:%.0f:%.0f:%.0f', s1, s2, s3)
    else
      value = format('%d:%.0f:%.0f', code, s1, s2)
    end
    redis.call('SET', key, value, 'PX', format('%.0f', idle - now))
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

-- The current request's checks: checks[i] = {key, code, limit, window, amount (the cost, or op L's
-- chunk), and op A's loaded state s1, s2, s3, owned}. The next request reuses the records.
local checks = {}

-- Reads a request's checks (all of them before any is decided); returns how many.
local function next_checks()
  local count = 0
  for i = 1, next_number() do
    local code, limit, window, amount = next_number(), next_number(), next_number(), next_number()
    if algorithms[code] == nil or limit < 1 or window < 1 or amount < 0 then
      fail('invalid check before ARGV[' .. arg_index ..
           '] (alg 1-4, limit >= 1, window >= 1, cost >= 0)')
    end
    key_index = key_index + 1
    local key = KEYS[key_index]
    if key == nil then fail('the requests need more than ' .. #KEYS .. ' keys') end
    local c = checks[i]
    if c == nil then
      checks[i] = {key = key, code = code, limit = limit, window = window, amount = amount,
                   s1 = 0, s2 = 0, s3 = 0, owned = false}
    else
      c.key, c.code, c.limit, c.window, c.amount = key, code, limit, window, amount
    end
    count = i
  end
  return count
end

-- Op A: MemoryCounterStore::CheckAndCharge. Peek every check; if all allow, Decide each and save
-- it. One check is decided at once (its Peek would be its Decide's). No key repeats within one
-- request (ValidateLimitChecks), so the peeked states are still current when charging.
local function admit(now)
  local count = next_checks()
  local single = count == 1
  local reply, all_allow = {1}, true -- reply[1] (admitted) is set last
  for i = 1, count do
    local c = checks[i]
    local s1, s2, s3, owned = load(c.key, c.code)
    local allowed, remaining, reset_at
    allowed, remaining, reset_at, c.s1, c.s2, c.s3 =
      algorithms[c.code](single, s1, s2, s3, c.limit, c.window, c.amount, now)
    c.owned = owned
    reply[3 * i - 1], reply[3 * i], reply[3 * i + 1] = allowed and 1 or 0, remaining, reset_at
    all_allow = all_allow and allowed
  end
  if all_allow then
    for i = 1, count do
      local c = checks[i]
      if not single then
        local allowed, remaining, reset_at
        allowed, remaining, reset_at, c.s1, c.s2, c.s3 =
          algorithms[c.code](true, c.s1, c.s2, c.s3, c.limit, c.window, c.amount, now)
        reply[3 * i - 1], reply[3 * i], reply[3 * i + 1] = allowed and 1 or 0, remaining, reset_at
      end
      save(c.key, c.code, c.s1, c.s2, c.s3, c.limit, c.window, now, c.owned)
    end
  end
  reply[1] = all_allow and 1 or 0
  return reply
end

-- Op L: each check on its own: a unit Peek, a Decide of the grant, and a unit Peek after it.
local function lease(now)
  local count = next_checks()
  local reply = {}
  for i = 1, count do
    local c = checks[i]
    local key, code, limit, window, chunk = c.key, c.code, c.limit, c.window, c.amount
    local decide = algorithms[code]
    local s1, s2, s3, owned = load(key, code)
    local _, remaining, reset_at = decide(false, s1, s2, s3, limit, window, 1, now)
    local granted = min(chunk, remaining)
    if granted > 0 then
      local allowed
      allowed, _, _, s1, s2, s3 = decide(true, s1, s2, s3, limit, window, granted, now)
      if not allowed then fail('a grant within remaining was denied') end -- cannot happen
      save(key, code, s1, s2, s3, limit, window, now, owned)
      _, remaining, reset_at = decide(false, s1, s2, s3, limit, window, 1, now)
    end
    reply[3 * i - 2], reply[3 * i - 1], reply[3 * i] = granted, remaining, reset_at
  end
  return reply
end

-- Op Q: op A with a monthly quota counted in the same step. ARGV: seed, blocks_at, keep_until,
-- then op A's checks; KEYS: the quota counter, then the checks'. The count is at least `seed`
-- (the node's view), so a counter that was lost or is behind (a restarted shard) catches up. When blocks_at >= 0
-- and the count has reached it, nothing is charged: code 2, each check peeked at cost 0.
-- Otherwise op A decides; if it admits, the count goes up by one (code 0), else code 3. The
-- counter is written only when it grows, to expire keep_until − now from now. Reply: {code, count after,
-- then op A's (allowed, remaining, reset_at) per check}.
local function quota(now)
  local seed, blocks_at, keep_until = next_number(), next_number(), next_number()
  key_index = key_index + 1
  local key = KEYS[key_index]
  if key == nil then fail('the requests need more than ' .. #KEYS .. ' keys') end
  -- Never below the node's view: a shard that comes back with an old count (paused, or
  -- restarted from a snapshot) must not forget what the nodes counted while it was away.
  local stored = redis.call('GET', key)
  local used = max(stored and tonumber(stored) or 0, seed)
  if blocks_at >= 0 and used >= blocks_at then
    local reply = {2, used}
    for i = 1, next_checks() do
      local c = checks[i]
      local s1, s2, s3 = load(c.key, c.code)
      local allowed, remaining, reset_at = algorithms[c.code](false, s1, s2, s3, c.limit, c.window, 0, now)
      reply[3 * i], reply[3 * i + 1], reply[3 * i + 2] = allowed and 1 or 0, remaining, reset_at
    end
    return reply
  end
  local decided = admit(now)
  local admitted = decided[1] == 1
  if admitted then
    used = used + 1
    -- Relative, like every expiry here: the node's clock and the server's need not agree.
    redis.call('SET', key, format('%.0f', used), 'PX', format('%.0f', max(keep_until - now, late_ms, 1)))
  end
  local reply = {admitted and 0 or 3, used}
  for i = 2, #decided do reply[i + 1] = decided[i] end
  return reply
end

local now = next_number()
late_ms = next_number()
local replies = {}
for r = 1, next_number() do
  local op = ARGV[arg_index]
  if op ~= 'A' and op ~= 'L' and op ~= 'Q' then fail('ARGV[' .. arg_index .. '] must be an op code, A, L or Q') end
  arg_index = arg_index + 1
  if op == 'A' then
    replies[r] = admit(now)
  elseif op == 'L' then
    replies[r] = lease(now)
  else
    replies[r] = quota(now)
  end
end
return replies
