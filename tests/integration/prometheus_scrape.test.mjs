// Issue 8, Done-when 1: tollgate's GET /metrics after a test load, as Prometheus and an operator
// read it. One server (embedded store, limits in one Redis shard, so that the Redis families are
// served too) verifies keys with known outcomes: VALID on a free-tier key and on a key without a
// tier, RATE_LIMITED on that key once its own limit (2 an hour) is spent, NOT_FOUND on a key that
// does not exist. Then:
//   * `promtool check metrics` reads the body from stdin and has nothing to say;
//   * the body, read by lib/exposition.mjs: one HELP and TYPE per family, histograms cumulative
//     up to le="+Inf" = _count, the contract's buckets, and tollgate_verifications_total, the
//     limiter's decisions and the request duration histogram counting exactly what the test did,
//     and the shard's round trips under its host:port;
//   * every metric named by deploy/prometheus/alerts.yml or deploy/grafana/tollgate.json is
//     served, and every family served is on the dashboard;
//   * no plaintext key and no root key in it (also left in the artifacts for secrets_scan);
//   * a real Prometheus (tests/scripts/prometheus.sh) scrapes tollgate every second as job
//     "tollgate" with alerts.yml loaded: up == 1, sum(tollgate_verifications_total) is what the
//     test did, the recording rules give the request rate and the verifyKey p99, every rule
//     evaluates without error, and a healthy node raises no alert.
//
// The counts asserted are those of the answers the test got, so a window boundary passing
// during the test (the key's limit is per hour) changes the split, never the check.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { kAlertsPath, kDashboardPath, familyOf, referencedFamilies } from '../prometheus/referenced_metrics.mjs';
import { startRedis } from './lib/backends.mjs';
import { timeUntil } from './lib/cluster.mjs';
import { createApi, createKey, randomBase58, verify } from './lib/expect.mjs';
import { parseExposition, samplesOf, sumOf } from './lib/exposition.mjs';
import { startPrometheus } from './lib/prometheus.mjs';
import { rawRequest, startServer } from './lib/server.mjs';

const kHour = 3_600_000;
const kContentType = 'text/plain; version=0.0.4; charset=utf-8';
const kDurationBuckets = ['0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1',
  '0.25', '0.5', '1', '2.5', '+Inf'];
const kVerifyRoute = '/v2/keys.verifyKey';
const kScrapeWaitMs = 30_000;  // Prometheus applies new targets up to 5 s after start, then scrapes every 1 s

let redis;
let server;
let keys;  // { free, limited, unknown }: plaintext keys
let outcomes;  // Map "code tier" → count, from the answers
let verifications = 0;
let metrics;  // { res, text, exposition }

// Verifies `key` and counts the answer under its code and tier ("none": no tier, or no key).
async function verifyCounted(key) {
  const data = await verify(server, key);
  const id = `${data.code} ${data.tier ?? 'none'}`;
  outcomes.set(id, (outcomes.get(id) ?? 0) + 1);
  verifications += 1;
  return data;
}

function countOf(code) {
  return [...outcomes].filter(([id]) => id.startsWith(`${code} `)).reduce((total, [, n]) => total + n, 0);
}

async function scrape() {
  const res = await rawRequest(`${server.url}/metrics`, { method: 'GET' });
  return { res, text: res.text, exposition: res.status === 200 ? parseExposition(res.text) : null };
}

// The parsed /metrics body of before(), once it is known to have been served.
function served() {
  assert.equal(metrics.res.status, 200, `GET /metrics: ${metrics.text}`);
  return metrics.exposition;
}

// Runs promtool with `input` on its stdin: { code, stdout, stderr, error }.
function promtool(args, input) {
  return new Promise((resolve) => {
    const child = execFile(process.env.PROMTOOL ?? 'promtool', args, (error, stdout, stderr) => {
      resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr, error });
    });
    child.stdin.on('error', () => {});  // promtool missing or gone: the callback reports it
    child.stdin.end(input);
  });
}

before(async () => {
  redis = await startRedis({ shards: 1 });
  server = await startServer({ args: ['--limiter', redis.url] });
  outcomes = new Map();
  const apiId = await createApi(server, 'metrics');
  keys = {
    free: (await createKey(server, apiId, { tier: 'free' })).key,
    limited: (await createKey(server, apiId,
      { ratelimits: [{ name: 'per-key', limit: 2, duration: kHour, autoApply: true }] })).key,
    unknown: `sk_${randomBase58(24)}`,
  };
  for (let i = 0; i < 4; ++i) await verifyCounted(keys.free);
  for (let i = 0; i < 5; ++i) await verifyCounted(keys.limited);
  for (let i = 0; i < 3; ++i) await verifyCounted(keys.unknown);
  assert.ok(countOf('VALID') >= 6 && countOf('RATE_LIMITED') >= 1 && countOf('NOT_FOUND') === 3,
    `unexpected outcomes ${JSON.stringify([...outcomes])}`);
  metrics = await scrape();
  // For secrets_scan.test.mjs, which reads every artifact after the run.
  writeFileSync(path.join(server.dataDir, 'metrics.txt'), metrics.text);
});

after(async () => {
  await server?.stop();
  await redis?.stop();
});

test('GET /metrics answers 200 in the text format 0.0.4, without authentication', () => {
  assert.ok(served().samples.length > 0, 'no samples');
  assert.equal(metrics.res.headers['content-type'], kContentType);
});

test('/metrics holds no plaintext API key and no root key', () => {
  served();
  for (const [what, secret] of [['root key', server.rootKey], ['free key', keys.free], ['limited key', keys.limited],
    ['unknown key', keys.unknown]]) {
    assert.ok(typeof secret === 'string' && secret.length > 10, what);
    assert.ok(!metrics.text.includes(secret), `the ${what} appears in /metrics`);
  }
});

test('promtool check metrics accepts the output without a complaint', async () => {
  served();
  const result = await promtool(['check', 'metrics'], metrics.text);
  if (result.error?.code === 'ENOENT') assert.fail('promtool not found: install the Debian package prometheus (make deps)');
  assert.equal(`${result.stdout}${result.stderr}`, '', `promtool check metrics complains:\n${result.stdout}${result.stderr}`);
  assert.equal(result.code, 0);
});

test('every family has one HELP and one TYPE before its samples, in one block', () => {
  const { families, samples } = served();
  for (const family of families.values()) {
    assert.ok(family.help && family.help.length > 0, `${family.name}: no HELP`);
    assert.ok(family.type, `${family.name}: no TYPE`);
    for (const sample of family.samples) {
      assert.ok(sample.line > family.helpLine && sample.line > family.typeLine, `${sample.name} on line ${sample.line} comes before its HELP/TYPE`);
    }
  }
  // The samples of a family stand together: no family starts again after another one.
  const order = samples.map((s) => s.family).filter((name, i, all) => i === 0 || all[i - 1] !== name);
  assert.equal(new Set(order).size, order.length, `families interleaved: ${order.join(', ')}`);
  for (const sample of samples) {
    const family = families.get(sample.family);
    if (family.type === 'counter') assert.match(sample.name, /_total$/, `counter ${sample.name}`);
    if (family.type !== 'histogram') assert.equal(sample.name, family.name, `${sample.name} in family ${family.name}`);
  }
});

test('histograms: buckets cumulative and ending in le="+Inf" equal to _count, with a _sum', () => {
  const histograms = [...served().families.values()].filter((f) => f.type === 'histogram');
  assert.ok(histograms.some((f) => f.name === 'tollgate_http_request_duration_seconds'), 'no request duration histogram');
  for (const family of histograms) {
    // One series per label set without `le`.
    const series = new Map();
    for (const sample of family.samples) {
      const { le, ...labels } = sample.labels;
      const id = JSON.stringify(Object.entries(labels).sort());
      if (!series.has(id)) series.set(id, { labels, buckets: [], sum: null, count: null });
      const entry = series.get(id);
      if (sample.name === `${family.name}_bucket`) entry.buckets.push({ le, value: sample.value });
      else if (sample.name === `${family.name}_sum`) entry.sum = sample.value;
      else if (sample.name === `${family.name}_count`) entry.count = sample.value;
      else assert.fail(`${sample.name} in histogram ${family.name}`);
    }
    for (const { labels, buckets, sum, count } of series.values()) {
      const what = `${family.name}${JSON.stringify(labels)}`;
      assert.ok(buckets.length > 1, `${what}: ${buckets.length} buckets`);
      assert.equal(buckets.at(-1).le, '+Inf', `${what}: the last bucket must be +Inf`);
      const bound = (le) => (le === '+Inf' ? Infinity : Number(le));
      for (let i = 1; i < buckets.length; ++i) {
        assert.ok(bound(buckets[i].le) > bound(buckets[i - 1].le), `${what}: le ${buckets[i - 1].le} then ${buckets[i].le}`);
        assert.ok(buckets[i].value >= buckets[i - 1].value, `${what}: bucket le=${buckets[i].le} below the one before: not cumulative`);
      }
      assert.equal(count, buckets.at(-1).value, `${what}: _count must equal the +Inf bucket`);
      assert.ok(sum !== null && sum >= 0, `${what}: no _sum`);
    }
  }
});

test('tollgate_verifications_total counts this test\'s verifications by code and tier', () => {
  const exposition = served();
  assert.equal(exposition.families.get('tollgate_verifications_total')?.type, 'counter');
  for (const code of ['VALID', 'RATE_LIMITED', 'NOT_FOUND']) {
    assert.equal(sumOf(exposition, 'tollgate_verifications_total', { code }), countOf(code), `code ${code}`);
  }
  const byCodeAndTier = Object.fromEntries(samplesOf(exposition, 'tollgate_verifications_total')
    .filter((s) => s.value > 0).map((s) => [`${s.labels.code} ${s.labels.tier}`, s.value]));
  assert.deepEqual(byCodeAndTier, Object.fromEntries(outcomes), 'by code and tier');
});

test('the limiter\'s decisions and the Redis shard\'s round trips are counted', () => {
  const exposition = served();
  // Each key here has one limit, so one decision per verification of a key that exists.
  const decisions = (decision) => sumOf(exposition, 'tollgate_limiter_decisions_total', { backend: 'redis', decision });
  assert.equal(decisions('allowed'), countOf('VALID'));
  assert.equal(decisions('limited'), countOf('RATE_LIMITED'));
  assert.equal(sumOf(exposition, 'tollgate_limiter_decisions_total', { backend: 'memory' }), 0);
  const shard = redis.url.replace('redis://', '');
  assert.deepEqual(samplesOf(exposition, 'tollgate_redis_shard_up').map((s) => [s.labels.shard, s.value]), [[shard, 1]]);
  assert.ok(sumOf(exposition, 'tollgate_redis_command_duration_seconds_count', { shard }) > 0, `no round trip to ${shard}`);
  assert.equal(sumOf(exposition, 'tollgate_redis_errors_total', { shard }), 0);
});

test('the request duration histogram counts every verifyKey, in the contract\'s buckets', () => {
  const exposition = served();
  const labels = { route: kVerifyRoute, status: '200' };
  assert.equal(sumOf(exposition, 'tollgate_http_request_duration_seconds_count', labels), verifications);
  assert.deepEqual(samplesOf(exposition, 'tollgate_http_request_duration_seconds_bucket', labels).map((s) => s.labels.le),
    kDurationBuckets);
  const sum = sumOf(exposition, 'tollgate_http_request_duration_seconds_sum', labels);
  assert.ok(sum > 0 && sum < verifications, `${verifications} verifications took ${sum} s in all`);
  assert.equal(samplesOf(exposition, 'tollgate_build_info').length, 1);
  assert.equal(samplesOf(exposition, 'tollgate_build_info')[0].value, 1);
  assert.equal(sumOf(exposition, 'tollgate_ready'), 1, 'a fresh embedded node is ready');
});

test('every metric alerts.yml and the Grafana dashboard name is served, and every family served is on the dashboard', () => {
  const families = new Set([...served().families.keys()].map(familyOf));
  const dashboard = referencedFamilies(readFileSync(kDashboardPath, 'utf8'));
  const alerts = referencedFamilies(readFileSync(kAlertsPath, 'utf8'));
  assert.deepEqual(alerts.filter((name) => !families.has(name)), [], 'alerts.yml names metrics tollgate does not serve');
  assert.deepEqual(dashboard.filter((name) => !families.has(name)), [], 'the dashboard names metrics tollgate does not serve');
  assert.deepEqual([...families].filter((name) => !dashboard.includes(name)).sort(), [], 'families served but not on the dashboard');
});

test('a real Prometheus scrapes tollgate, answers sum(tollgate_verifications_total) and evaluates alerts.yml quietly', async (t) => {
  const prometheus = await startPrometheus({ targets: [`127.0.0.1:${server.port}`], rules: kAlertsPath });
  t.after(() => prometheus.stop());
  const valueOf = async (expr) => {
    const result = await prometheus.query(expr);
    return result.length === 1 ? Number(result[0].value[1]) : null;
  };

  const upAfter = await timeUntil(async () => (await valueOf('up{job="tollgate"}')) === 1,
    { timeoutMs: kScrapeWaitMs, intervalMs: 250 });
  assert.ok(upAfter !== null, `up{job="tollgate"} is not 1 after ${kScrapeWaitMs} ms: ` +
    JSON.stringify(await prometheus.get('targets')));
  assert.equal(await valueOf('sum(tollgate_verifications_total)'), verifications);
  const byCode = await prometheus.query('sum by (code) (tollgate_verifications_total)');
  assert.deepEqual(Object.fromEntries(byCode.map((r) => [r.metric.code, Number(r.value[1])])),
    { VALID: countOf('VALID'), RATE_LIMITED: countOf('RATE_LIMITED'), NOT_FOUND: countOf('NOT_FOUND') });

  // Traffic while Prometheus watches, for the rates of the recording rules.
  for (let i = 0; i < 5; ++i) await verifyCounted(keys.free);
  const seenAfter = await timeUntil(async () => (await valueOf('sum(tollgate_verifications_total)')) === verifications,
    { timeoutMs: kScrapeWaitMs, intervalMs: 250 });
  assert.ok(seenAfter !== null, `sum(tollgate_verifications_total) never reached ${verifications}`);
  const rateAfter = await timeUntil(async () => (await valueOf('instance_job:tollgate_http_requests:rate5m{job="tollgate"}')) > 0,
    { timeoutMs: kScrapeWaitMs, intervalMs: 250 });
  assert.ok(rateAfter !== null, 'the recording rule instance_job:tollgate_http_requests:rate5m has no positive value');
  const p99 = await valueOf('instance_job:tollgate_verify_duration_seconds:p99_5m{job="tollgate"}');
  assert.ok(p99 > 0 && p99 <= 2.5, `verifyKey p99 from the recording rule: ${p99}`);

  // Every rule has been evaluated, without error, and none is pending or firing.
  const { groups } = await prometheus.get('rules');
  const rules = groups.flatMap((g) => g.rules);
  const ruleCount = readFileSync(kAlertsPath, 'utf8').match(/^\s*- (record|alert):/gm).length;
  assert.equal(rules.length, ruleCount, `Prometheus loaded ${rules.length} of the ${ruleCount} rules of alerts.yml`);
  for (const rule of rules) {
    assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
    assert.notEqual(rule.lastEvaluation, '0001-01-01T00:00:00Z', `${rule.name} never evaluated`);
  }
  assert.deepEqual((await prometheus.get('alerts')).alerts, [], 'a healthy node raises no alert');
});
