// Issue 8, Done-when 3: customer alerts delivered by signed webhooks, against a real server and a
// local receiver (node:http on a free port). A pro customer with a quota of 10 crosses 80 % and then
// 100 %: the receiver gets exactly one signed alert each time, in tollgate's format and in
// Alertmanager's; the signature is recomputed here from the secret. Then the receiver goes down, a
// second customer crosses 80 %, the deliveries are retried (attempts climb, status pending), the
// receiver comes back on the same port, and each event arrives exactly once, with no attempt after
// the success. Also: alerts.list history and its pages, credits_below and ratelimit_breaches
// alerts with a top-up that resolves, the edge's validation, and private addresses (the receiver
// here is on 127.0.0.1): allowed with --webhook-allow-private-addresses true, refused without it,
// both when a webhook is created and when a delivery is attempted.

import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createApi, createKey, createRootKey, expectError, expectFieldError, expectOk, verify } from './lib/expect.mjs';
import { startServer } from './lib/server.mjs';

// The receivers of these tests listen on 127.0.0.1, a loopback address: private addresses must be allowed.
const kAllowPrivate = ['--webhook-allow-private-addresses', 'true'];
// Small backoff so that a receiver outage of a few seconds sees several attempts.
const kRetryArgs = ['--webhook-retry-base-ms', '200', '--webhook-retry-max-ms', '800', '--webhook-max-attempts', '100'];
const kWaitMs = 15_000;

async function call(server, route, body, what = route) {
  return expectOk(await server.call(`/v2/${route}`, body), what);
}

async function waitFor(what, check, timeoutMs = kWaitMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** A webhook receiver that records every request and answers 200 (or `status`). */
class Receiver {
  constructor() {
    this.requests = [];
    this.status = 200;
    this.server = null;
    this.port = 0;
  }

  listen(port = 0) {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (chunk) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.requests.push({ method: req.method, path: req.url, headers: req.headers, body, json: JSON.parse(body) });
        res.writeHead(this.status, { 'content-type': 'text/plain' });
        res.end('ok');
      });
    });
    return new Promise((resolve) => {
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this.port);
      });
    });
  }

  close() {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  on(path) {
    return this.requests.filter((r) => r.path === path);
  }
}

/** Checks Tollgate-Signature: t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, as a receiver would. */
function assertSigned(request, secret) {
  const header = request.headers['tollgate-signature'];
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  assert.ok(match, `Tollgate-Signature must be t=<seconds>,v1=<64 hex>, got ${header}`);
  const [, t, v1] = match;
  const expected = createHmac('sha256', secret).update(`${t}.${request.body}`).digest('hex');
  assert.ok(timingSafeEqual(Buffer.from(v1, 'hex'), Buffer.from(expected, 'hex')),
    `the signature does not verify with the webhook's secret\n  header ${header}\n  body ${request.body}`);
  assert.ok(Math.abs(Date.now() / 1000 - Number(t)) < 300, `signature timestamp ${t} is not current`);
  // A body changed in transit no longer verifies.
  const tampered = createHmac('sha256', secret).update(`${t}.${request.body} `).digest('hex');
  assert.notEqual(tampered, v1);
}

function assertTollgateHeaders(request, type) {
  assert.equal(request.method, 'POST');
  assert.equal(request.headers['content-type'], 'application/json');
  assert.match(request.headers['user-agent'], /^tollgate\/\d+\.\d+\.\d+$/);
  assert.equal(request.headers['tollgate-event-type'], type);
  assert.match(request.headers['tollgate-event-id'], /^evt_/);
}

async function verifyTimes(server, key, times) {
  for (let i = 0; i < times; ++i) assert.equal((await verify(server, key)).code, 'VALID', `verification ${i + 1}`);
}

test('a pro customer crossing 80 % and 100 % of its quota gets one signed webhook each, retried through an outage', async (t) => {
  const receiver = new Receiver();
  const port = await receiver.listen();
  t.after(() => receiver.server.listening && receiver.close());
  const server = await startServer({ args: [...kAllowPrivate, ...kRetryArgs] });
  t.after(() => server.stop());

  await call(server, 'tiers.updateTier', { name: 'pro', includedQuota: 10 });
  const acme = await call(server, 'identities.createIdentity', { externalId: 'acme', tier: 'pro' });
  const apiId = await createApi(server, 'alerts');
  const acmeKey = await createKey(server, apiId, { externalId: 'acme' });
  const at80 = await call(server, 'alerts.createRule', { name: 'pro at 80%', kind: 'quota_percent', threshold: 80, tier: 'pro' });
  const at100 = await call(server, 'alerts.createRule', { name: 'pro at 100%', kind: 'quota_percent', threshold: 100, tier: 'pro' });
  assert.match(at80.ruleId, /^arule_/);
  assert.equal(at80.resolveThreshold, 75, 'default resolve threshold: 5 points under');
  assert.equal(at80.scope, 'tier');
  const hook = await call(server, 'webhooks.createWebhook', { url: `http://127.0.0.1:${port}/tollgate`, description: 'ops' });
  const am = await call(server, 'webhooks.createWebhook', { url: `http://127.0.0.1:${port}/am`, format: 'alertmanager' });
  assert.match(hook.webhookId, /^wh_/);
  assert.match(hook.secret, /^whsec_[1-9A-HJ-NP-Za-km-z]{20,}$/);
  assert.deepEqual(hook.events, ['alert.firing', 'alert.resolved']);
  const listed = await call(server, 'webhooks.listWebhooks', {});
  assert.equal(listed.length, 2);
  for (const w of listed) {
    assert.equal(w.secret, undefined, 'listWebhooks must not show the secret');
    assert.equal(w.secretStart.length, 10);
  }

  // 8 of 10: 80 %. Exactly one alert, at 80, and nothing for the 100 % rule.
  await verifyTimes(server, acmeKey.key, 8);
  await waitFor('the 80 % alert', () => receiver.on('/tollgate').length >= 1 && receiver.on('/am').length >= 1);
  await sleep(2500);  // two evaluations more: nothing else may come
  assert.equal(receiver.on('/tollgate').length, 1, `one alert at 80 %: ${JSON.stringify(receiver.requests.map((r) => r.json))}`);
  const first = receiver.on('/tollgate')[0];
  assertTollgateHeaders(first, 'alert.firing');
  assertSigned(first, hook.secret);
  assert.equal(first.json.id, first.headers['tollgate-event-id']);
  assert.equal(first.json.type, 'alert.firing');
  const alert80 = first.json.data;
  assert.match(alert80.alertId, /^alert_/);
  assert.equal(alert80.ruleId, at80.ruleId);
  assert.equal(alert80.kind, 'quota_percent');
  assert.equal(alert80.state, 'firing');
  assert.equal(alert80.value, 80);
  assert.equal(alert80.threshold, 80);
  assert.deepEqual(alert80.subject, { identityId: acme.identityId, externalId: 'acme', tier: 'pro' });
  assert.equal(alert80.resolvedAt, null);

  // The same alert in Alertmanager's webhook format, signed with that webhook's own secret.
  const amFirst = receiver.on('/am')[0];
  assertSigned(amFirst, am.secret);
  assert.equal(amFirst.headers['tollgate-event-id'], first.headers['tollgate-event-id'], 'one event, one id for every webhook');
  const payload = amFirst.json;
  assert.equal(payload.version, '4');
  assert.equal(payload.status, 'firing');
  assert.equal(payload.truncatedAlerts, 0);
  assert.equal(payload.alerts.length, 1);
  const amAlert = payload.alerts[0];
  assert.equal(amAlert.status, 'firing');
  assert.deepEqual(amAlert.labels, {
    alertname: 'TollgateQuotaPercent', kind: 'quota_percent', rule: at80.ruleId, identity: 'acme',
    identity_id: acme.identityId, tier: 'pro',
  });
  assert.deepEqual(payload.commonLabels, amAlert.labels);
  assert.match(amAlert.annotations.summary, /acme: 80% of the monthly quota used/);
  assert.equal(amAlert.startsAt, new Date(alert80.firedAt).toISOString());
  assert.equal(amAlert.endsAt, '0001-01-01T00:00:00Z');
  assert.match(amAlert.fingerprint, /^[0-9a-f]{16}$/);
  assert.match(payload.groupKey, /^\{\}:\{alertname="TollgateQuotaPercent", rule="arule_/);

  // 10 of 10: 100 %. One more alert, for the 100 % rule only (the 80 % one is still firing).
  await verifyTimes(server, acmeKey.key, 2);
  await waitFor('the 100 % alert', () => receiver.on('/tollgate').length >= 2 && receiver.on('/am').length >= 2);
  await sleep(2500);
  assert.equal(receiver.on('/tollgate').length, 2, `one more alert at 100 %: ${JSON.stringify(receiver.requests.map((r) => r.json))}`);
  const second = receiver.on('/tollgate')[1];
  assertSigned(second, hook.secret);
  assert.equal(second.json.data.ruleId, at100.ruleId);
  assert.equal(second.json.data.value, 100);
  assert.notEqual(second.json.id, first.json.id);

  // History, newest first, in pages.
  const history = await call(server, 'alerts.list', { identityId: acme.identityId });
  assert.deepEqual(history.map((a) => [a.ruleId, a.state, a.value]), [[at100.ruleId, 'firing', 100], [at80.ruleId, 'firing', 80]]);
  const page1 = await server.call('/v2/alerts.list', { identityId: acme.identityId, limit: 1 });
  expectOk(page1);
  assert.equal(page1.json.pagination.hasMore, true);
  const page2 = await server.call('/v2/alerts.list', { identityId: acme.identityId, limit: 1, cursor: page1.json.pagination.cursor });
  assert.deepEqual(expectOk(page2).map((a) => a.ruleId), [at80.ruleId]);
  assert.equal(page2.json.pagination.hasMore, false);
  assert.deepEqual(await call(server, 'alerts.list', { state: 'resolved' }), []);
  assert.equal((await call(server, 'alerts.list', { ruleId: at100.ruleId })).length, 1);
  const delivered = await call(server, 'webhooks.listDeliveries', { webhookId: hook.webhookId });
  assert.deepEqual(delivered.map((d) => [d.eventType, d.status, d.attempts, d.lastStatusCode]),
    [['alert.firing', 'delivered', 1, 200], ['alert.firing', 'delivered', 1, 200]]);

  // The receiver goes down; a second pro customer crosses 80 %.
  await receiver.close();
  await call(server, 'identities.createIdentity', { externalId: 'globex', tier: 'pro' });
  const globexKey = await createKey(server, apiId, { externalId: 'globex' });
  await verifyTimes(server, globexKey.key, 8);
  const retrying = await waitFor('attempts > 1 on the pending delivery', async () => {
    const pending = await call(server, 'webhooks.listDeliveries', { webhookId: hook.webhookId, status: 'pending' });
    return pending.length === 1 && pending[0].attempts > 1 ? pending[0] : null;
  });
  assert.equal(retrying.lastStatusCode, null, 'no HTTP answer while the receiver is down');
  assert.match(retrying.lastError, /connect/);
  assert.ok(retrying.nextAttemptAt >= Date.now() - 1000, 'a pending delivery says when it is tried next');

  // Back on the same port: the delivery arrives, once, and is not attempted again.
  receiver.requests = [];
  await receiver.listen(port);
  await waitFor('the delayed alert', () => receiver.on('/tollgate').length >= 1 && receiver.on('/am').length >= 1);
  const late = receiver.on('/tollgate')[0];
  assertSigned(late, hook.secret);
  assert.equal(late.headers['tollgate-event-id'], retrying.eventId, 'the idempotency id is the same on every attempt');
  assert.equal(late.json.data.subject.externalId, 'globex');
  const settled = await waitFor('the delivery marked delivered', async () => {
    const all = await call(server, 'webhooks.listDeliveries', { webhookId: hook.webhookId });
    const d = all.find((x) => x.deliveryId === retrying.deliveryId);
    return d.status === 'delivered' ? d : null;
  });
  await sleep(3000);  // several backoff intervals (at most 800 ms each)
  const after = (await call(server, 'webhooks.listDeliveries', { webhookId: hook.webhookId }))
    .find((x) => x.deliveryId === retrying.deliveryId);
  assert.equal(after.attempts, settled.attempts, 'no attempt after the success');
  assert.equal(after.nextAttemptAt, null);
  assert.ok(after.deliveredAt >= settled.deliveredAt);
  const counts = {};
  for (const r of receiver.requests) {
    const id = `${r.path} ${r.headers['tollgate-event-id']}`;
    counts[id] = (counts[id] ?? 0) + 1;
  }
  assert.deepEqual(Object.values(counts), [1, 1], `each event once per webhook: ${JSON.stringify(counts)}`);
  assert.deepEqual(await call(server, 'webhooks.listDeliveries', { status: 'pending' }), []);
});

test('credits below a threshold and a burst of rate-limited verifications alert too; a top-up resolves', async (t) => {
  const receiver = new Receiver();
  const port = await receiver.listen();
  t.after(() => receiver.close());
  const server = await startServer({ args: kAllowPrivate });
  t.after(() => server.stop());

  const hook = await call(server, 'webhooks.createWebhook', { url: `http://127.0.0.1:${port}/hook` });
  const apiId = await createApi(server, 'alerts');
  const metered = await createKey(server, apiId, { externalId: 'initech', credits: { remaining: 5 } });
  const limited = await createKey(server, apiId, {
    ratelimits: [{ name: 'requests', limit: 1, duration: 60000, autoApply: true }],
  });
  const low = await call(server, 'alerts.createRule', { kind: 'credits_below', threshold: 3, externalId: 'initech' });
  const burst = await call(server, 'alerts.createRule', { kind: 'ratelimit_breaches', threshold: 2, windowSeconds: 60 });
  assert.equal(low.resolveThreshold, 4);

  await verifyTimes(server, metered.key, 3);  // 2 credits left
  const codes = [];
  for (let i = 0; i < 3; ++i) codes.push((await verify(server, limited.key)).code);
  assert.deepEqual(codes, ['VALID', 'RATE_LIMITED', 'RATE_LIMITED']);
  await waitFor('the credits and the breaches alerts', () => receiver.requests.length >= 2);
  const byRule = Object.fromEntries(receiver.requests.map((r) => [r.json.data.ruleId, r.json.data]));
  assert.equal(byRule[low.ruleId]?.value, 2, JSON.stringify(receiver.requests.map((r) => r.json)));
  assert.deepEqual(byRule[low.ruleId].subject.keyId, metered.keyId);
  assert.equal(byRule[low.ruleId].subject.externalId, 'initech');
  assert.equal(byRule[burst.ruleId]?.value, 2);
  assert.deepEqual(byRule[burst.ruleId].subject, { keyId: limited.keyId });
  for (const r of receiver.requests) assertSigned(r, hook.secret);

  // A top-up past the resolve threshold resolves the credits alert, with no verification needed.
  await call(server, 'keys.updateCredits', { keyId: metered.keyId, operation: 'increment', value: 10 });
  await waitFor('the credits alert resolved', () => receiver.requests.find((r) => r.json.type === 'alert.resolved'));
  const resolved = receiver.requests.find((r) => r.json.type === 'alert.resolved');
  assertTollgateHeaders(resolved, 'alert.resolved');
  assert.equal(resolved.json.data.ruleId, low.ruleId);
  assert.equal(resolved.json.data.value, 2, 'the value it fired at');
  assert.equal(resolved.json.data.resolvedValue, 12);
  assert.ok(resolved.json.data.resolvedAt >= resolved.json.data.firedAt);
  const history = await call(server, 'alerts.list', { ruleId: low.ruleId });
  assert.deepEqual(history.map((a) => a.state), ['resolved']);
});

test('without --webhook-allow-private-addresses nothing goes to a private address', async (t) => {
  const receiver = new Receiver();
  const port = await receiver.listen();
  t.after(() => receiver.close());
  const server = await startServer({ args: [...kAllowPrivate, ...kRetryArgs] });
  t.after(() => server.stop());
  const hook = await call(server, 'webhooks.createWebhook', { url: `http://127.0.0.1:${port}/hook` });

  // The operator turns private addresses off (the default): the webhook made before stays, but
  // its deliveries are refused at the address, and no new webhook may name one.
  await server.restart({ args: kRetryArgs });
  for (const url of [`http://127.0.0.1:${port}/x`, 'http://169.254.169.254/latest/meta-data/', 'http://10.0.0.8/x',
    'http://[::1]:8080/x', 'http://localhost:8080/x']) {
    const refused = expectFieldError(await server.call('/v2/webhooks.createWebhook', { url }), 'body.url', url);
    assert.match(refused.errors[0].message, /^points at .+, a (loopback|link-local|private) address/, url);
    assert.match(refused.errors[0].fix, /--webhook-allow-private-addresses=true/);
  }

  const apiId = await createApi(server, 'ssrf');
  const key = await createKey(server, apiId, { credits: { remaining: 1 } });
  const rule = await call(server, 'alerts.createRule', { kind: 'credits_below', threshold: 5 });
  const attempted = await waitFor('an attempt at the alert\'s delivery', async () => {
    const [delivery] = await call(server, 'webhooks.listDeliveries', { webhookId: hook.webhookId });
    return delivery?.attempts >= 1 ? delivery : null;
  });
  assert.equal(attempted.status, 'pending', 'retried like any failed attempt, up to --webhook-max-attempts');
  assert.equal(attempted.lastStatusCode, null);
  assert.match(attempted.lastError, /^refused: 127\.0\.0\.1 is a loopback address; .*--webhook-allow-private-addresses/);
  const [alert] = await call(server, 'alerts.list', { ruleId: rule.ruleId });
  assert.equal(alert.subject.keyId, key.keyId);
  await sleep(1000);
  assert.equal(receiver.requests.length, 0, 'nothing reached the receiver');
});

test('rules and webhooks are validated at the edge with messages that say what to change', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());

  const rule = (body) => server.call('/v2/alerts.createRule', body);
  expectFieldError(await rule({ threshold: 80 }), 'body.kind');
  expectFieldError(await rule({ kind: 'quota', threshold: 80 }), 'body.kind');
  expectFieldError(await rule({ kind: 'quota_percent', threshold: 0 }), 'body.threshold');
  expectFieldError(await rule({ kind: 'quota_percent', threshold: 1001 }), 'body.threshold');
  expectFieldError(await rule({ kind: 'quota_percent', threshold: 80.5 }), 'body.threshold');
  const resolve = expectFieldError(await rule({ kind: 'quota_percent', threshold: 80, resolveThreshold: 90 }), 'body.resolveThreshold');
  assert.match(resolve.errors[0].message, /below the threshold 80/);
  expectFieldError(await rule({ kind: 'credits_below', threshold: 10, resolveThreshold: 5 }), 'body.resolveThreshold');
  expectFieldError(await rule({ kind: 'quota_percent', threshold: 80, windowSeconds: 60 }), 'body.windowSeconds');
  expectFieldError(await rule({ kind: 'ratelimit_breaches', threshold: 5, windowSeconds: 86401 }), 'body.windowSeconds');
  expectFieldError(await rule({ kind: 'quota_percent', threshold: 80, tier: 'nope' }), 'body.tier');
  expectFieldError(await rule({ kind: 'quota_percent', threshold: 80, externalId: 'nobody' }), 'body.externalId');
  const both = expectError(await rule({ kind: 'quota_percent', threshold: 80, tier: 'pro', externalId: 'x' }), 400);
  assert.match(both.detail, /more than one of identityId, externalId and tier/);

  const credits = await call(server, 'alerts.createRule', { kind: 'credits_below', threshold: 100 });
  assert.equal(credits.resolveThreshold, 110);
  assert.equal(credits.scope, 'global');
  const breaches = await call(server, 'alerts.createRule', { kind: 'ratelimit_breaches', threshold: 9 });
  assert.equal(breaches.resolveThreshold, 4);
  assert.equal(breaches.windowSeconds, 60);
  // Oldest first; two rules of the same millisecond come in the order of their (random) ids.
  assert.deepEqual((await call(server, 'alerts.listRules', {})).map((r) => r.ruleId).sort(),
    [credits.ruleId, breaches.ruleId].sort());
  await call(server, 'alerts.deleteRule', { ruleId: credits.ruleId });
  expectError(await server.call('/v2/alerts.deleteRule', { ruleId: credits.ruleId }), 404);
  assert.deepEqual((await call(server, 'alerts.listRules', {})).map((r) => r.ruleId), [breaches.ruleId]);
  expectFieldError(await server.call('/v2/alerts.list', { state: 'open' }), 'body.state');
  expectFieldError(await server.call('/v2/alerts.list', { cursor: 'abc' }), 'body.cursor');

  const hook = (body) => server.call('/v2/webhooks.createWebhook', body);
  expectFieldError(await hook({}), 'body.url');
  expectFieldError(await hook({ url: 'ftp://example.com/x' }), 'body.url');
  expectFieldError(await hook({ url: 'https://user:pw@example.com/x' }), 'body.url');
  expectFieldError(await hook({ url: 'https://example.com/x', format: 'slack' }), 'body.format');
  expectFieldError(await hook({ url: 'https://example.com/x', events: ['key.created'] }), 'body.events[0]');
  expectFieldError(await hook({ url: 'https://example.com/x', events: [] }), 'body.events');
  const only = await call(server, 'webhooks.createWebhook', { url: 'https://example.com/x', events: ['alert.resolved'] });
  assert.deepEqual(only.events, ['alert.resolved']);
  await call(server, 'webhooks.deleteWebhook', { webhookId: only.webhookId });
  expectError(await server.call('/v2/webhooks.deleteWebhook', { webhookId: only.webhookId }), 404);
  expectFieldError(await server.call('/v2/webhooks.listDeliveries', { status: 'sent' }), 'body.status');

  // Scopes: reading does not allow writing, alerts do not allow webhooks.
  const reader = await createRootKey(server, ['alerts.*.read']);
  const asReader = { rootKey: reader.key };
  expectOk(await server.call('/v2/alerts.listRules', {}, asReader));
  expectError(await server.call('/v2/alerts.createRule', { kind: 'credits_below', threshold: 5 }, asReader), 403);
  expectError(await server.call('/v2/webhooks.listWebhooks', {}, asReader), 403);
});
