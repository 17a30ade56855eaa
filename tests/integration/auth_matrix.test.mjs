// Issue 11, Security: every route of the API × every way of not being allowed to call it gets 401
// or 403 with the error envelope, and changes nothing.
//
// The table kRoutes names each route once, with the scope it needs (README "Root-key scopes";
// src/http/*_routes.cc), whether the scope names a resource (an API, a ratelimit namespace) and a
// request that would succeed and change something if the check were missing. A first test checks
// that the table covers every route registered in src/http/*_routes.cc and every resource.action
// in docs/API_CONTRACT.md. The routes that take no root key are in kPublicRoutes, each with why.
//
// Cases (401 per the contract for the first five, 403 for the last two):
//   none      no Authorization header
//   garbage   "Bearer" and bytes that are no root key
//   basic     the full-power root key itself, sent as Basic credentials
//   unknown   a well-formed root key tollgate never issued
//   revoked   a root key that was created and deleted
//   noScope   a root key holding every scope of the table but the ones granting this route
//   otherApi  a root key holding every api.<other API>.* (or ratelimit.<other namespace>.*) scope,
//             for the routes that name an API, a key of one, or a namespace
//
// "Changes nothing": the SQLite store (every table, by rows) and what a full-power root key reads
// through the API (keys with their live credits, identities, tiers, root keys, usage, meters,
// invoices, alert rules and alerts, webhooks and deliveries, overrides) are the same before and
// after the matrix, and so are the in-memory limiter counters and the log level.
//
// The fixture has a closed invoice, so the server runs under libfaketime: October 2026 is set up on
// 2026-10-15 and closed on 2026-11-02, where the rest of the test runs.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { createApi, createKey, createRootKey, describeResponse, expectError, expectOk, randomBase58 } from './lib/expect.mjs';
import { startServer } from './lib/server.mjs';

const kRepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const kFaketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const serverClockAt = (when) => ({ LD_PRELOAD: kFaketime, FAKETIME: `@${when}`, FAKETIME_DONT_FAKE_MONOTONIC: '1' });

const kHour = 3_600_000;
const kNsA = 'sec-ns-a';  // the namespace the routes name
const kNsB = 'sec-ns-b';  // another one
const kLimitA = 5;        // ratelimit.limit's limit on kNsA/probe
const kCreditsA = 100;    // key A's credits at creation
const kRequestsA = 1000;  // key A's own rate limit per hour
const kVerifiesA = 3;     // verifications of key A in the fixture
// November 2026 in unix ms: the range of every usage query (the server's clock is in it).
const kUsageRange = { start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1) };

const kApiActions = ['read_api', 'delete_api', 'create_key', 'read_key', 'update_key', 'delete_key', 'verify_key'];
const kNamespaceActions = ['limit', 'set_override', 'read_override', 'delete_override'];

// Every route that takes a root key. scope(fx): the scope it needs for this request; over: 'api'
// or 'namespace' when that scope names the fixture's API or namespace (then a root key scoped to
// the other one must get 403); detail(fx): what the 403's detail must name (the scope by
// default); url(fx) for a route whose path carries the resource; body(fx): the request.
const apiScope = (action) => (fx) => `api.${fx.apiA}.${action}`;
const nsScope = (action) => () => `ratelimit.${kNsA}.${action}`;
const nsDetail = (action) => () => `ratelimit.*.${action}`;
const global = (scope) => () => scope;
const kRoutes = [
  { route: '/v2/apis.createApi', scope: global('api.*.create_api'), body: () => ({ name: 'forbidden-api' }) },
  { route: '/v2/apis.getApi', scope: apiScope('read_api'), over: 'api', body: (fx) => ({ apiId: fx.apiA }) },
  { route: '/v2/apis.deleteApi', scope: apiScope('delete_api'), over: 'api', body: (fx) => ({ apiId: fx.apiA }) },
  { route: '/v2/apis.listKeys', scope: apiScope('read_key'), over: 'api', body: (fx) => ({ apiId: fx.apiA }) },

  { route: '/v2/keys.createKey', scope: apiScope('create_key'), over: 'api', body: (fx) => ({ apiId: fx.apiA, name: 'forbidden' }) },
  { route: '/v2/keys.getKey', scope: apiScope('read_key'), over: 'api', body: (fx) => ({ keyId: fx.keyA.keyId }) },
  { route: '/v2/keys.whoami', scope: apiScope('read_key'), over: 'api', body: (fx) => ({ key: fx.keyA.key }) },
  { route: '/v2/keys.updateKey', scope: apiScope('update_key'), over: 'api', body: (fx) => ({ keyId: fx.keyA.keyId, enabled: false, name: 'forbidden' }) },
  { route: '/v2/keys.deleteKey', scope: apiScope('delete_key'), over: 'api', body: (fx) => ({ keyId: fx.keyA.keyId, permanent: true }) },
  { route: '/v2/keys.rerollKey', scope: apiScope('create_key'), over: 'api', body: (fx) => ({ keyId: fx.keyA.keyId, expiration: 0 }) },
  { route: '/v2/keys.updateCredits', scope: apiScope('update_key'), over: 'api', body: (fx) => ({ keyId: fx.keyA.keyId, operation: 'set', value: 1_000_000 }) },
  { route: '/v2/keys.verifyKey', scope: apiScope('verify_key'), over: 'api', body: (fx) => ({ key: fx.keyA.key }) },

  { route: '/v2/identities.createIdentity', scope: global('identity.*.create_identity'), body: () => ({ externalId: 'forbidden' }) },
  { route: '/v2/identities.getIdentity', scope: global('identity.*.read_identity'), body: () => ({ identity: 'cust-a' }) },
  { route: '/v2/identities.listIdentities', scope: global('identity.*.read_identity'), body: () => ({}) },
  { route: '/v2/identities.updateIdentity', scope: global('identity.*.update_identity'), body: () => ({ identity: 'cust-a', tier: 'enterprise' }) },
  { route: '/v2/identities.deleteIdentity', scope: global('identity.*.delete_identity'), body: () => ({ identity: 'cust-a' }) },

  { route: '/v2/ratelimit.limit', scope: nsScope('limit'), detail: nsDetail('limit'), over: 'namespace',
    body: () => ({ namespace: kNsA, identifier: 'probe', limit: kLimitA, duration: kHour }) },
  { route: '/v2/ratelimit.multiLimit', scope: nsScope('limit'), detail: nsDetail('limit'), over: 'namespace',
    body: () => [{ namespace: kNsA, identifier: 'probe', limit: kLimitA, duration: kHour }] },
  { route: '/v2/ratelimit.setOverride', scope: nsScope('set_override'), detail: nsDetail('set_override'), over: 'namespace',
    body: () => ({ namespace: kNsA, identifier: 'probe', limit: 1_000_000, duration: kHour }) },
  { route: '/v2/ratelimit.getOverride', scope: nsScope('read_override'), detail: nsDetail('read_override'), over: 'namespace',
    body: () => ({ namespace: kNsA, identifier: 'vip' }) },
  { route: '/v2/ratelimit.listOverrides', scope: nsScope('read_override'), detail: nsDetail('read_override'), over: 'namespace',
    body: () => ({ namespace: kNsA }) },
  { route: '/v2/ratelimit.deleteOverride', scope: nsScope('delete_override'), detail: nsDetail('delete_override'), over: 'namespace',
    body: () => ({ namespace: kNsA, identifier: 'vip' }) },

  { route: '/v2/tiers.createTier', scope: global('tier.*.create_tier'), body: () => ({ name: 'forbidden' }) },
  { route: '/v2/tiers.getTier', scope: global('tier.*.read_tier'), body: () => ({ name: 'sec-tier' }) },
  { route: '/v2/tiers.listTiers', scope: global('tier.*.read_tier'), body: () => ({}) },
  { route: '/v2/tiers.updateTier', scope: global('tier.*.update_tier'), body: () => ({ name: 'sec-tier', description: 'forbidden' }) },
  { route: '/v2/tiers.deleteTier', scope: global('tier.*.delete_tier'), body: () => ({ name: 'sec-tier' }) },

  { route: '/v2/rootKeys.createRootKey', scope: global('rootkey.*.create'),
    // A scope every noScope key holds, so that only the missing rootkey.*.create can refuse it.
    body: () => ({ name: 'forbidden', permissions: ['tier.*.read_tier'] }) },
  { route: '/v2/rootKeys.listRootKeys', scope: global('rootkey.*.read'), body: () => ({}) },
  { route: '/v2/rootKeys.deleteRootKey', scope: global('rootkey.*.delete'), body: (fx) => ({ keyId: fx.victimRootKeyId }) },

  { route: '/v2/usage.summary', scope: global('usage.*.read'), body: () => ({ ...kUsageRange }) },
  { route: '/v2/usage.timeseries', scope: global('usage.*.read'), body: () => ({ ...kUsageRange, granularity: 'day' }) },
  { route: '/v2/usage.topKeys', scope: global('usage.*.read'), body: () => ({ ...kUsageRange }) },
  { route: '/v2/usage.topIdentities', scope: global('usage.*.read'), body: () => ({ ...kUsageRange }) },
  { route: '/v2/usage.export', scope: global('usage.*.read'), body: () => ({ ...kUsageRange, format: 'csv' }) },
  { route: '/v2/usage.ingest', scope: global('usage.*.ingest'),
    body: () => ({ events: [{ eventId: 'forbidden-1', externalId: 'cust-a', meter: 'tokens', quantity: 1_000_000 }] }) },

  { route: '/v2/billing.previewInvoice', scope: global('billing.*.read'), body: () => ({ externalId: 'cust-a' }) },
  { route: '/v2/billing.closePeriod', scope: global('billing.*.write'), body: () => ({ period: '2026-09' }) },
  { route: '/v2/billing.listInvoices', scope: global('billing.*.read'), body: () => ({}) },
  { route: '/v2/billing.exportInvoices', scope: global('billing.*.read'), body: () => ({ format: 'csv' }) },
  { route: '/v2/billing.getInvoice', scope: global('billing.*.read'), body: (fx) => ({ invoiceId: fx.invoiceId }) },
  { route: '/v2/billing.voidInvoice', scope: global('billing.*.write'), body: (fx) => ({ invoiceId: fx.invoiceId, reason: 'forbidden' }) },
  { route: '/billing/invoices/*', method: 'GET', scope: global('billing.*.read'), url: (fx) => `/billing/invoices/${fx.invoiceId}.html` },

  { route: '/v2/alerts.createRule', scope: global('alerts.*.write'), body: () => ({ kind: 'credits_below', threshold: 50, externalId: 'cust-a' }) },
  { route: '/v2/alerts.listRules', scope: global('alerts.*.read'), body: () => ({}) },
  { route: '/v2/alerts.deleteRule', scope: global('alerts.*.write'), body: (fx) => ({ ruleId: fx.ruleId }) },
  { route: '/v2/alerts.list', scope: global('alerts.*.read'), body: () => ({}) },
  { route: '/v2/webhooks.createWebhook', scope: global('webhooks.*.write'), body: () => ({ url: 'https://forbidden.example.com/hook' }) },
  { route: '/v2/webhooks.listWebhooks', scope: global('webhooks.*.read'), body: () => ({}) },
  { route: '/v2/webhooks.deleteWebhook', scope: global('webhooks.*.write'), body: (fx) => ({ webhookId: fx.webhookId }) },
  { route: '/v2/webhooks.listDeliveries', scope: global('webhooks.*.read'), body: () => ({}) },

  { route: '/v2/operations.setLogLevel', scope: global('operations.*.write'), body: () => ({ level: 'trace' }) },
];

// The routes that take no root key, and why that is right.
const kPublicRoutes = [
  { route: '/livez', reason: 'liveness probe for orchestrators and load balancers; answers {"status":"ok"} and nothing else' },
  { route: '/readyz', reason: 'readiness probe; names at most the failing check ("store"), no data' },
  { route: '/v2/liveness', reason: "Unkey v2's liveness route, which its SDK calls without credentials" },
  { route: '/metrics', reason: 'Prometheus scrape (scrapers rarely hold secrets); counters by route, status and code, nothing that names a customer or carries a key (operations_routes.cc)' },
  { route: '/v2/keys.authorize', reason: 'for gateways: authenticated by the API key it is asked about (Authorization or X-API-Key), not by a root key; unknown keys answer 401 and are throttled per client address' },
  { route: '/dashboard', reason: 'a redirect to /dashboard/' },
  { route: '/dashboard/*', reason: "the dashboard's static files (dashboard_routes.h): no data of their own; the page signs in with a root key and calls the API like any client" },
];

// ---- the table against the source ----

// Route paths registered in src/http/*_routes.cc: every string literal starting with "/" there is
// a path given to AddRpc / AddPlain / AddPrefix / AddPublicPrefix (or to a helper or constant that
// passes it on); a literal ending in "/" is a prefix, labelled with "*" as the Router labels it
// (it stands for the folder's own path too, e.g. GET /dashboard/).
function routesInSource() {
  const dir = path.join(kRepoRoot, 'src', 'http');
  const routes = new Set();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('_routes.cc'))) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const [, literal] of text.matchAll(/"(\/[^"\s]*)"/g)) routes.add(literal.endsWith('/') ? `${literal}*` : literal);
  }
  return routes;
}

// Source files other than the routes' own that register routes (which routesInSource would miss).
function otherRegistrations() {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(cc|h)$/.test(entry.name) && !/_routes\.cc$|^router\.(cc|h)$/.test(entry.name) &&
               /\bAdd\w*(Rpc|Plain|Prefix)\s*\(/.test(fs.readFileSync(full, 'utf8'))) {
        found.push(path.relative(kRepoRoot, full));
      }
    }
  };
  walk(path.join(kRepoRoot, 'src'));
  return found;
}

test('the table names every route registered in src/http/*_routes.cc and every call of the contract', () => {
  const tabled = [...kRoutes.map((r) => r.route), ...kPublicRoutes.map((r) => r.route)];
  assert.equal(new Set(tabled).size, tabled.length, `a route is in the tables twice: ${tabled.join(' ')}`);
  const source = routesInSource();
  assert.ok(source.size >= 50, `found only ${source.size} routes in src/http/*_routes.cc: is the parser broken?`);
  const missing = [...source].filter((r) => !tabled.includes(r));
  assert.deepEqual(missing, [], 'routes registered in src/http/*_routes.cc but missing from kRoutes / kPublicRoutes');
  const gone = tabled.filter((r) => !source.has(r));
  assert.deepEqual(gone, [], 'routes in the tables that src/http/*_routes.cc no longer registers');
  assert.deepEqual(otherRegistrations(), [], 'files outside src/http/*_routes.cc register routes: add their parsing here');

  const contract = fs.readFileSync(path.join(kRepoRoot, 'docs', 'API_CONTRACT.md'), 'utf8');
  const resources = new Set(tabled.map((r) => /^\/v2\/(\w+)\./.exec(r)?.[1]).filter(Boolean));
  const named = new Set([...contract.matchAll(/\b([a-zA-Z]+)\.([a-z][A-Za-z]+)\b/g)]
    .filter(([, resource]) => resources.has(resource)).map(([, resource, action]) => `/v2/${resource}.${action}`));
  assert.ok(named.size >= 10, `found only ${named.size} calls in docs/API_CONTRACT.md`);
  assert.deepEqual([...named].filter((r) => !tabled.includes(r)), [], 'calls of docs/API_CONTRACT.md missing from the tables');
});

// ---- scopes ----

// Whether the granted scope covers the required one: "*", or the same three segments where a
// granted "*" segment stands for any (README "Root-key scopes").
function grants(granted, required) {
  if (granted === '*') return true;
  const g = granted.split('.');
  const r = required.split('.');
  return g.length === r.length && g.every((segment, i) => segment === '*' || segment === r[i]);
}

// Every scope the table knows, in its wildcard form and for both APIs and namespaces.
function scopeUniverse(fx) {
  const all = new Set(kRoutes.map((r) => r.scope(fx)));
  for (const action of kApiActions) {
    for (const api of ['*', fx.apiA, fx.apiB]) all.add(`api.${api}.${action}`);
  }
  for (const action of kNamespaceActions) {
    for (const ns of ['*', kNsA, kNsB]) all.add(`ratelimit.${ns}.${action}`);
  }
  all.add('api.*.create_api');
  return [...all].sort();
}

// ---- state ----

// The reads of a full-power root key that show what the matrix could have changed.
function stateReads(fx) {
  return [
    ['apis.getApi', { apiId: fx.apiA }], ['apis.getApi', { apiId: fx.apiB }],
    ['apis.listKeys', { apiId: fx.apiA }], ['apis.listKeys', { apiId: fx.apiB }],
    ['keys.getKey', { keyId: fx.keyA.keyId }], ['keys.getKey', { keyId: fx.keyB.keyId }],
    ['identities.listIdentities', {}], ['tiers.listTiers', {}], ['rootKeys.listRootKeys', {}],
    ['ratelimit.listOverrides', { namespace: kNsA }], ['ratelimit.listOverrides', { namespace: kNsB }],
    ['usage.summary', kUsageRange], ['usage.timeseries', { ...kUsageRange, granularity: 'day', groupBy: 'meter' }],
    ['billing.listInvoices', {}], ['alerts.listRules', {}], ['alerts.list', {}],
    ['webhooks.listWebhooks', {}], ['webhooks.listDeliveries', {}],
  ];
}

async function apiState(server, fx) {
  const state = {};
  for (const [call, body] of stateReads(fx)) {
    const res = await server.call(`/v2/${call}`, body);
    expectOk(res, `state read ${call}`);
    state[`${call} ${JSON.stringify(body)}`] = { data: res.json.data, pagination: res.json.pagination };
  }
  return state;
}

// What the server's own background work rewrites while nothing is asked of it: the alert
// evaluation's heartbeat (a table of its own) and the outbox relay's bookkeeping.
const kBackgroundTables = ['alert_nodes'];
const kBackgroundColumns = { outbox: ['claimed_by', 'claimed_until', 'sent_at'] };

function sqlite(db, sql) {
  const out = execFileSync('sqlite3', ['-readonly', '-json', db, sql], { encoding: 'utf8' });
  return out.trim() === '' ? [] : JSON.parse(out);
}

// Every row of every table, each table's rows sorted, without the background columns.
function storeState(db) {
  const state = {};
  for (const { name } of sqlite(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) {
    if (kBackgroundTables.includes(name)) continue;
    const ignored = kBackgroundColumns[name] ?? [];
    state[name] = sqlite(db, `SELECT * FROM "${name}"`)
      .map((row) => JSON.stringify(Object.fromEntries(Object.entries(row).filter(([column]) => !ignored.includes(column)))))
      .sort();
  }
  return state;
}

// The store once the writes in flight have landed: usage every 100 ms, credit balances and quota
// counters every second. Two snapshots 1.2 s apart that agree.
async function settledStoreState(db) {
  let previous = storeState(db);
  for (let attempt = 0; attempt < 8; ++attempt) {
    await sleep(1200);
    const current = storeState(db);
    if (JSON.stringify(current) === JSON.stringify(previous)) return current;
    previous = current;
  }
  assert.fail(`the store did not settle within 10 s:\n${storeDiff(previous, storeState(db))}`);
}

// Per table, the rows only before and only after (the whole dump is too long to read).
function storeDiff(before, after) {
  const lines = [];
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was = new Set(before[table] ?? []);
    const is = new Set(after[table] ?? []);
    for (const row of was) if (!is.has(row)) lines.push(`  ${table} - ${row}`);
    for (const row of is) if (!was.has(row)) lines.push(`  ${table} + ${row}`);
  }
  return lines.join('\n');
}

// ---- the fixture ----

async function rpc(server, call, body, options) {
  return expectOk(await server.call(`/v2/${call}`, body, options), call);
}

async function waitFor(what, check, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result.ok) return;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(result.seen)} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

// Two APIs with a key each (A's with credits, a rate limit and an identity), a custom tier, a
// closed October invoice, metered usage, two namespaces with an override each, an alert rule, a
// webhook, verifications of key A (in the usage tables), and the root keys of the cases.
async function buildFixture(server) {
  const fx = {};
  await rpc(server, 'tiers.createTier', { name: 'sec-tier' });
  await rpc(server, 'identities.createIdentity', { externalId: 'cust-a', tier: 'pro' });
  await rpc(server, 'usage.ingest', { events: [{ eventId: 'oct-1', externalId: 'cust-a', meter: 'tokens', quantity: 1000 }] });

  await server.restart({ env: serverClockAt('2026-11-02 12:00:00') });
  const closed = await rpc(server, 'billing.closePeriod', { period: '2026-10' });
  assert.ok(closed.invoices.length > 0, `closePeriod 2026-10 made no invoice: ${JSON.stringify(closed)}`);
  fx.invoiceId = closed.invoices[0].invoiceId;

  fx.apiA = await createApi(server, 'sec-api-a');
  fx.apiB = await createApi(server, 'sec-api-b');
  fx.keyA = await createKey(server, fx.apiA, {
    name: 'key a', externalId: 'cust-a', credits: { remaining: kCreditsA },
    ratelimits: [{ name: 'requests', limit: kRequestsA, duration: kHour, autoApply: true }],
  });
  fx.keyB = await createKey(server, fx.apiB, { name: 'key b' });
  for (const ns of [kNsA, kNsB]) {
    await rpc(server, 'ratelimit.setOverride', { namespace: ns, identifier: 'vip', limit: 100, duration: kHour });
  }
  fx.ruleId = (await rpc(server, 'alerts.createRule', { kind: 'credits_below', threshold: 3, externalId: 'cust-a' })).ruleId;
  fx.webhookId = (await rpc(server, 'webhooks.createWebhook', { url: 'https://hooks.example.com/tollgate' })).webhookId;
  assert.equal(typeof fx.ruleId, 'string');
  assert.equal(typeof fx.webhookId, 'string');
  for (let i = 0; i < kVerifiesA; ++i) {
    const data = await rpc(server, 'keys.verifyKey', { key: fx.keyA.key });
    assert.equal(data.code, 'VALID', JSON.stringify(data));
  }

  fx.victimRootKeyId = (await createRootKey(server, ['tier.*.read_tier'], 'victim')).keyId;
  const revoked = await createRootKey(server, ['*.*.*'], 'revoked');
  await rpc(server, 'rootKeys.deleteRootKey', { keyId: revoked.keyId });
  fx.revokedRootKey = revoked.key;
  fx.otherApiKey = (await createRootKey(server, kApiActions.map((a) => `api.${fx.apiB}.${a}`), 'other api')).key;
  fx.otherNamespaceKey = (await createRootKey(server, kNamespaceActions.map((a) => `ratelimit.${kNsB}.${a}`), 'other namespace')).key;
  // One root key per needed scope, holding every other scope of the table.
  fx.universe = scopeUniverse(fx);
  fx.noScopeKeys = new Map();
  for (const needed of new Set(kRoutes.map((r) => r.scope(fx)))) {
    const permissions = fx.universe.filter((s) => !grants(s, needed));
    assert.ok(permissions.length >= fx.universe.length - 3, `${needed}: ${permissions.length} of ${fx.universe.length}`);
    fx.noScopeKeys.set(needed, (await createRootKey(server, permissions, `all but ${needed}`)).key);
  }

  // The verifications are in the store (usage is written every 100 ms).
  await waitFor('usage of the fixture in usage.summary', async () => {
    const summary = await rpc(server, 'usage.summary', kUsageRange);
    return { ok: summary.total === kVerifiesA, seen: summary };
  });
  return fx;
}

// ---- the matrix ----

function caseList(fullKey, fx, entry) {
  const bearer = (key) => ({ rootKey: key });
  const cases = [
    { name: 'none', status: 401, auth: { rootKey: null } },
    { name: 'garbage', status: 401, auth: { rootKey: null, headers: { authorization: 'Bearer %%% not a root key %%%' } } },
    { name: 'basic', status: 401, auth: { rootKey: null, headers: { authorization: `Basic ${Buffer.from(`root:${fullKey}`).toString('base64')}` } } },
    { name: 'unknown', status: 401, auth: bearer(`tg_root_${randomBase58(40)}`) },
    { name: 'revoked', status: 401, auth: bearer(fx.revokedRootKey) },
    { name: 'noScope', status: 403, auth: bearer(fx.noScopeKeys.get(entry.scope(fx))) },
  ];
  if (entry.over === 'api') cases.push({ name: 'otherApi', status: 403, auth: bearer(fx.otherApiKey) });
  if (entry.over === 'namespace') cases.push({ name: 'otherNamespace', status: 403, auth: bearer(fx.otherNamespaceKey) });
  return cases;
}

// One request of the matrix: the status, the envelope, the 403's detail, and no secret echoed.
async function checkCase(server, fx, entry, kase) {
  const method = entry.method ?? 'POST';
  const url = entry.url ? entry.url(fx) : entry.route;
  const body = entry.body ? entry.body(fx) : undefined;
  const res = await server.call(url, body, { method, ...kase.auth });
  const what = `${kase.name}: ${method} ${url} ${body === undefined ? '' : JSON.stringify(body).slice(0, 120)}`;
  const error = expectError(res, kase.status, what);
  if (kase.status === 403) {
    const named = entry.detail ? entry.detail(fx) : entry.scope(fx);
    assert.ok(error.detail.includes(named), `${what}: the 403 must name '${named}'\n  ${describeResponse(res)}`);
  }
  for (const secret of [server.rootKey, fx.keyA.key, kase.auth.rootKey].filter(Boolean)) {
    assert.ok(!res.text.includes(secret), `${what}: the answer echoes a secret\n  ${describeResponse(res)}`);
  }
}

test('every route × no key, garbage, Basic, unknown, revoked, missing scope, other API → 401/403, nothing changes', async (t) => {
  assert.ok(fs.existsSync(kFaketime), `${kFaketime} is missing: make deps installs libfaketime`);
  const server = await startServer({ env: serverClockAt('2026-10-15 12:00:00') });
  t.after(() => server.stop());
  const fx = await buildFixture(server);
  const db = path.join(server.dataDir, 'tollgate.db');

  const storeBefore = await settledStoreState(db);
  const apiBefore = await apiState(server, fx);
  assert.ok(storeBefore.keys.length >= 2 && storeBefore.invoices.length >= 1 && storeBefore.usage_events.length === kVerifiesA,
    `the fixture is not in the store: ${JSON.stringify({ keys: storeBefore.keys.length, invoices: storeBefore.invoices.length, usage: storeBefore.usage_events.length })}`);

  let requests = 0;
  for (const entry of kRoutes) {
    await t.test(entry.route, async () => {
      const failures = [];
      for (const kase of caseList(server.rootKey, fx, entry)) {
        ++requests;
        try {
          await checkCase(server, fx, entry, kase);
        } catch (error) {
          failures.push(error.message);
        }
      }
      assert.equal(failures.length, 0, failures.join('\n\n'));
    });
  }

  await t.test(`after the ${kRoutes.length} routes' refused requests, nothing changed`, async () => {
    assert.ok(requests >= kRoutes.length * 6, `only ${requests} requests were made`);
    // Anything a refused request had changed in memory is written within a second or two.
    const storeAfter = await settledStoreState(db);
    assert.equal(storeDiff(storeBefore, storeAfter), '', 'the SQLite store changed (- before, + after)');
    assert.deepEqual(await apiState(server, fx), apiBefore, 'what a full-power root key reads through the API changed');
  });

  await t.test('nor did the limiter counters, the credits or the log level (in memory)', async () => {
    const limited = await rpc(server, 'ratelimit.limit', { namespace: kNsA, identifier: 'probe', limit: kLimitA, duration: kHour });
    assert.equal(limited.remaining, kLimitA - 1, `ratelimit.limit was charged by a refused request: ${JSON.stringify(limited)}`);
    const verified = await rpc(server, 'keys.verifyKey', { key: fx.keyA.key });
    assert.equal(verified.credits, kCreditsA - kVerifiesA - 1, `key A's credits: ${JSON.stringify(verified)}`);
    const requestsLimit = verified.ratelimits?.find((l) => l.name === 'requests');
    assert.equal(requestsLimit?.remaining, kRequestsA - kVerifiesA - 1, `key A's rate limit was charged: ${JSON.stringify(verified)}`);
    const level = await rpc(server, 'operations.setLogLevel', { level: 'info' });
    assert.equal(level.previous, 'info', `the log level was changed: ${JSON.stringify(level)}`);
  });
});

test('the public routes answer without a root key, and keys.authorize takes no root key for an API key', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const apiId = await createApi(server, 'public-routes');
  const apiKey = await createKey(server, apiId, { name: 'gateway key' });
  const get = (url, headers = {}) => server.call(url, undefined, { method: 'GET', rootKey: null, headers });

  // The dashboard answers 200 when this build has it, 404 saying how to build it otherwise.
  const kPublicAnswers = { '/dashboard': [301], '/dashboard/*': [200, 404] };
  for (const { route } of kPublicRoutes.filter((r) => r.route !== '/v2/keys.authorize')) {
    const url = route.replace(/\*$/, 'index.html');
    const res = await get(url);
    const expected = kPublicAnswers[route] ?? [200];
    assert.ok(expected.includes(res.status), `GET ${url} without a key: expected ${expected.join(' or ')}\n  ${describeResponse(res)}`);
    for (const secret of [server.rootKey, apiKey.key]) {
      assert.ok(!res.text.includes(secret), `GET ${url} shows a secret\n  ${describeResponse(res)}`);
    }
  }

  const authorize = '/v2/keys.authorize';
  const refusals = [
    ['no key', {}],
    ['garbage', { authorization: 'Bearer %%% garbage %%%' }],
    ['the full-power root key as Bearer', { authorization: `Bearer ${server.rootKey}` }],
    ['the full-power root key as X-API-Key', { 'x-api-key': server.rootKey }],
  ];
  for (const [what, headers] of refusals) {
    const res = await get(authorize, headers);
    assert.equal(res.status, 401, `keys.authorize with ${what}\n  ${describeResponse(res)}`);
    assert.ok(!res.text.includes(server.rootKey), `keys.authorize echoes the root key\n  ${describeResponse(res)}`);
  }
  const ok = await get(authorize, { 'x-api-key': apiKey.key });
  assert.equal(ok.status, 200, `keys.authorize with the API key\n  ${describeResponse(ok)}`);
});

// A root key that may not do something must learn nothing from trying: the scope is checked
// before the request's resources are looked up, and a refused call records nothing.
test('a root key without the scope learns nothing about resources and records nothing', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const apiId = await createApi(server, 'oracle');
  const key = await createKey(server, apiId, { externalId: 'owner-x' });
  const tiersOnly = await createRootKey(server, ['tier.*.read_tier'], 'tiers only');
  const asTiersOnly = { rootKey: tiersOnly.key };

  await t.test('usage.ingest without usage.*.ingest → 403, not the owner of a key id', async () => {
    const res = await server.call('/v2/usage.ingest', {
      events: [{ eventId: 'probe-1', keyId: key.keyId, externalId: 'guess', meter: 'tokens', quantity: 1 }],
    }, asTiersOnly);
    assert.ok(!res.text.includes('owner-x'), `a root key without usage.*.ingest learns who owns ${key.keyId}\n  ${describeResponse(res)}`);
    expectError(res, 403, 'usage.ingest naming a key id, without usage.*.ingest');
  });

  await t.test('keys.verifyKey without any verify_key scope → 403 for an unknown key too, and no usage event', async () => {
    const res = await server.call('/v2/keys.verifyKey', { key: `zz_${randomBase58(22)}` }, asTiersOnly);
    await sleep(500);
    const summary = await rpc(server, 'usage.summary', { start: Date.now() - kHour, end: Date.now() + kHour });
    assert.equal(summary.total, 0, `verifyKey by a root key holding no verify_key scope was recorded as usage: ` +
      `${JSON.stringify(summary)}\n  the answer: ${describeResponse(res)}`);
    expectError(res, 403, 'verifyKey of an unknown key by a root key holding no verify_key scope');
  });

  await t.test('keys.whoami / getKey without any read_key scope → 403, whether or not the key exists', async () => {
    const failures = [];
    for (const [call, body] of [
      ['keys.whoami', { key: key.key }], ['keys.whoami', { key: `zz_${randomBase58(22)}` }],
      ['keys.getKey', { keyId: key.keyId }], ['keys.getKey', { keyId: 'key_doesnotexist' }],
    ]) {
      const res = await server.call(`/v2/${call}`, body, asTiersOnly);
      if (res.status !== 403) failures.push(`${call} ${JSON.stringify(body)}: ${res.status} ${res.text}`);
      else expectError(res, 403, `${call} ${JSON.stringify(body)} by a root key without read_key`);
    }
    assert.deepEqual(failures, [], 'answers other than 403 to a root key holding no read_key scope');
  });
});
