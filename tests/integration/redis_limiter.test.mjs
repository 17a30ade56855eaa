// Issue 7, Done-when 1: two tollgate nodes share one key's rate limit through three Redis shards.
// The nodes run on one PostgreSQL and one RabbitMQ (lib/cluster.mjs, as in multinode.test.mjs) so
// that both know the key; 16 clients per node, always in flight, verify that one key, whose limit
// is L per fixed window of 1 s, for several whole windows. Admissions are counted per window as
// the server names it (the limit's `reset` in each answer), for the windows the load covered from
// end to end, after the first of them (lib/windows.mjs says why).
//
// exact: every decision is one atomic script call on the key's shard, so no window admits more
// than L. And a fixed window denies only a request that would take its window past L: a window
// that saw one denial admitted exactly L. The load (thousands of requests a second against 100)
// is checked to have met a denial in every window, so the margin below L is 0. The nodes run
// with the fail-closed policy and a 1 s shard timeout: a Redis failure, which this test is not
// about, would then show as a window short of L instead of passing unseen as local admissions.
//
// lease: each node takes chunks of C = max(1, floor(L × P / 100)) units of a window from Redis and
// admits from them locally, until the chunk is used up or its window ends. The bound the issue
// sets is L + nodes × C per window (RedisCounterStore documents nodes × workers × C in general,
// and none for fixed windows, since a chunk is charged in Redis when it is taken and expires with
// its window). Every worker of every node may hold one chunk it has not used up when the window
// ends, hence the floor of L − nodes × workers × C.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startRedis } from './lib/backends.mjs';
import { kRootKey, startCluster, timeUntil, verifyCode } from './lib/cluster.mjs';
import { createApi, createKey } from './lib/expect.mjs';
import { latencyOf, startVerifyLoad } from './lib/load.mjs';
import { countBy, countByWindow, settledWindowStarts, wallClock } from './lib/windows.mjs';

const kLimit = 100;
const kWindowMs = 1000;
const kLeasePercent = 5;
const kChunk = Math.max(1, Math.floor((kLimit * kLeasePercent) / 100));
const kNodeNames = ['a', 'b'];
const kWorkers = 2;  // per node, so that the number of lease holders is known
const kClientsPerNode = 16;
// 6.6 s of load covers at least 5 whole aligned windows, wherever in a second it starts; the
// first is not counted.
const kLoadMs = 6600;
const kMinWindows = 4;
const kExactMargin = 0;  // see the header

let redis;
let cluster;
let nodes;
let key;

function limiterArgs(mode) {
  const args = ['--workers', String(kWorkers), '--limiter', redis.url, '--limiter-mode', mode,
    '--limiter-timeout-ms', '1000', '--limiter-failure-policy', 'fail-closed'];
  return mode === 'lease' ? [...args, '--limiter-lease-percent', String(kLeasePercent)] : args;
}

/**
 * Stops the running nodes (if any) and starts a and b in `mode` on the shared store, one after the
 * other: on a fresh store the first one bootstraps the root key.
 */
async function startNodes(mode) {
  await Promise.all(cluster.nodes.map((node) => node.stop()));
  const started = [];
  for (const name of kNodeNames) started.push(await cluster.startNode(name, limiterArgs(mode)));
  return started;
}

before(async () => {
  [redis, cluster] = await Promise.all([startRedis({ shards: 3 }), startCluster()]);
  nodes = await startNodes('exact');
  const [nodeA, nodeB] = nodes;
  const apiId = await createApi(nodeA, 'redis-limiter');
  ({ key } = await createKey(nodeA, apiId, {
    ratelimits: [{ name: 'requests', limit: kLimit, duration: kWindowMs, autoApply: true, algorithm: 'fixed_window' }],
  }));
  const learned = await timeUntil(async () => (await verifyCode(nodeB, key)) === 'VALID', { timeoutMs: 10_000 });
  assert.ok(learned !== null, 'node b never learned of the key created on node a');
});

after(async () => {
  await cluster?.stop();
  await redis?.stop();
});

/**
 * Runs the load through both nodes at once; returns the figures of the whole windows it covered:
 * { figures (printed), windows: [{ start, admitted, denied, other, admittedBy: { a, b } }] }.
 */
async function loadBothNodes(t, mode) {
  const loads = nodes.map((node) => startVerifyLoad({
    url: node.url, rootKey: kRootKey, keys: [key], concurrency: kClientsPerNode, durationMs: kLoadMs, keepRatelimits: true,
  }));
  await Promise.all(loads.map((load) => load.done));
  const samples = loads.flatMap((load, i) => load.samples.map((sample) => ({ ...sample, node: kNodeNames[i] })));
  const sent = samples.map((sample) => wallClock(sample.sentAt));
  const from = sent.reduce((a, b) => Math.min(a, b), Infinity);
  const to = sent.reduce((a, b) => Math.max(a, b), -Infinity);
  const { at, unplaced } = countByWindow(samples, { name: 'requests', windowMs: kWindowMs, tagOf: (sample) => sample.node });
  const windows = settledWindowStarts(from, to, kWindowMs).map(at);
  const figures = {
    mode,
    requests: samples.length,
    answers: countBy(samples.map((sample) => sample.code ?? sample.error ?? `HTTP ${sample.status}`)),
    admittedByNode: countBy(samples.filter((sample) => sample.valid).map((sample) => sample.node)),
    unplaced: unplaced.length,
    latencyMs: latencyOf(samples, -Infinity, Infinity),
    perWindow: windows.map((w) => `${new Date(w.start).toISOString().slice(11, 23)} admitted ${w.admitted} ` +
      `(${kNodeNames.map((name) => `${name} ${w.admittedBy[name] ?? 0}`).join(', ')}), denied ${w.denied}`),
  };
  const text = JSON.stringify(figures, null, 1);
  t.diagnostic(text);
  console.log(`redis_limiter ${mode}: ${text}`);

  assert.deepEqual(Object.keys(figures.answers).sort(), ['RATE_LIMITED', 'VALID'],
    `only VALID and RATE_LIMITED answers, every request answered: ${text}`);
  assert.equal(figures.unplaced, 0, `every answer names its window (ratelimits[].reset of "requests"): ${text}`);
  assert.ok(windows.length >= kMinWindows, `the load covered ${windows.length} whole windows, want ${kMinWindows}: ${text}`);
  for (const w of windows) {
    assert.ok(w.denied > 0, `the load did not saturate the window at ${new Date(w.start).toISOString()}: ${text}`);
    assert.equal(w.other, 0, `other answers in a window: ${text}`);
  }
  for (const name of kNodeNames) assert.ok(figures.admittedByNode[name] > 0, `node ${name} admitted nothing: ${text}`);
  return { figures, windows, text };
}

test(`exact mode: each window admits L = ${kLimit} through two nodes, never more, at most ${kExactMargin} fewer`, async (t) => {
  const { windows, text } = await loadBothNodes(t, 'exact');
  for (const w of windows) {
    const when = new Date(w.start).toISOString();
    assert.ok(w.admitted <= kLimit, `window at ${when} admitted ${w.admitted} > L = ${kLimit} (${w.repeated.join('; ')}): ${text}`);
    assert.ok(w.admitted >= kLimit - kExactMargin,
      `window at ${when} admitted ${w.admitted} < L - ${kExactMargin} although it denied requests: ${text}`);
  }
});

test(`lease mode (${kLeasePercent} %, chunk ${kChunk}): each window admits at most L + nodes × chunk`, async (t) => {
  nodes = await startNodes('lease');
  const { windows, text } = await loadBothNodes(t, 'lease');
  const most = kLimit + kNodeNames.length * kChunk;
  const least = kLimit - kNodeNames.length * kWorkers * kChunk;
  const overshoot = windows.map((w) => w.admitted - kLimit);
  const line = `overshoot per window (admitted - L): ${JSON.stringify(overshoot)}, bound ${most - kLimit} (floor ${least - kLimit})`;
  t.diagnostic(line);
  console.log(`redis_limiter lease: ${line}`);
  for (const w of windows) {
    const when = new Date(w.start).toISOString();
    assert.ok(w.admitted <= most, `window at ${when} admitted ${w.admitted} > L + nodes × chunk = ${most}: ${text}`);
    assert.ok(w.admitted >= least,
      `window at ${when} admitted ${w.admitted} < L - nodes × workers × chunk = ${least} although it denied requests: ${text}`);
  }
});
