// The command line for people (`tollgate apis|keys|rootkeys|usage …`, src/cli/) against a real server:
// the binary's client commands run as child processes, configured only through TOLLGATE_URL and
// TOLLGATE_ROOT_KEY as a person's shell would. Exit codes: 0 ok, 1 the server refused, 2 usage or
// connection error, 3 `keys verify` of a key that is not valid.
//
// The tests in this file run in order and share one server and one key's life: created, listed,
// verified, disabled, revoked. `tollgate usage` is then checked on a key of its own, whose
// verifications are known, against what the server's usage.* endpoints answer.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';

import { expectOk } from './lib/expect.mjs';
import { binaryPath, recordSecret, startServer } from './lib/server.mjs';

const kCliTimeoutMs = 20000;

let server;
// Everything any CLI run printed, to check at the end that the root key never appears.
const transcripts = [];

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/**
 * Runs `tollgate ...args` against the server. Resolves with { code, stdout, stderr } whatever
 * the exit code; env adds to (or, set to undefined, removes from) TOLLGATE_URL/TOLLGATE_ROOT_KEY.
 */
function cli(args, { env = {}, input } = {}) {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('TOLLGATE_')));
  const childEnv = { ...inherited, TOLLGATE_URL: server.url, TOLLGATE_ROOT_KEY: server.rootKey, ...env };
  for (const [name, value] of Object.entries(childEnv)) {
    if (value === undefined) delete childEnv[name];
  }
  return new Promise((resolve, reject) => {
    const child = execFile(binaryPath, args, { env: childEnv, timeout: kCliTimeoutMs }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`tollgate ${args.join(' ')} did not run: ${error.message}\nstderr: ${stderr}`));
        return;
      }
      const result = { code: error ? error.code : 0, stdout, stderr };
      transcripts.push({ args, ...result });
      resolve(result);
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

function describe(args, result) {
  return `tollgate ${args.join(' ')} → exit ${result.code}\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`;
}

/** Runs the command and asserts its exit code; returns { code, stdout, stderr }. */
async function expectExit(code, args, options) {
  const result = await cli(args, options);
  assert.equal(result.code, code, describe(args, result));
  return result;
}

/** The value of a "Label   value" line of a record (at least two spaces apart), or undefined. */
function recordValue(stdout, label) {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped} {2,}(.*)$`, 'm').exec(stdout)?.[1];
}

const life = {};

test('apis create prints the bare API id', async () => {
  const { stdout } = await expectExit(0, ['apis', 'create', '--name', 'cli-test']);
  assert.match(stdout, /^api_[1-9A-HJ-NP-Za-km-z]+\n$/);
  life.apiId = stdout.trim();

  const got = await expectExit(0, ['apis', 'get', life.apiId]);
  assert.equal(recordValue(got.stdout, 'API ID'), life.apiId, got.stdout);
  assert.equal(recordValue(got.stdout, 'Name'), 'cli-test', got.stdout);
});

test('keys create prints the key id and the key once', async () => {
  const args = ['keys', 'create', '--api-id', life.apiId, '--prefix', 'cli', '--name', 'checkout',
    '--external-id', 'acme', '--credits', '10', '--expires-in', '30d', '--meta', '{"plan":"pro"}'];
  const result = await expectExit(0, args);
  life.keyId = recordValue(result.stdout, 'Key ID');
  life.key = recordValue(result.stdout, 'Key');
  recordSecret(life.key);
  assert.match(life.keyId ?? '', /^key_/, describe(args, result));
  assert.match(life.key ?? '', /^cli_[1-9A-HJ-NP-Za-km-z]+$/, describe(args, result));
  assert.match(result.stderr, /shown only once/);
});

test('keys list shows the key in a table, without its secret', async () => {
  const { stdout } = await expectExit(0, ['keys', 'list', '--api-id', life.apiId]);
  const [header, ...rows] = stdout.trimEnd().split('\n');
  assert.match(header, /^KEY ID +START +NAME +IDENTITY +ENABLED +EXPIRES +CREDITS +CREATED$/);
  const row = rows.find((r) => r.startsWith(`${life.keyId} `));
  assert.ok(row, `no row for ${life.keyId}:\n${stdout}`);
  const cells = row.split(/ {2,}/);
  assert.equal(cells[0], life.keyId);
  assert.ok(life.key.startsWith(cells[1]), `START ${cells[1]} is a prefix of the key`);
  assert.deepEqual(cells.slice(2, 4), ['checkout', 'acme']);
  assert.equal(cells[4], 'yes');
  assert.match(cells[5], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'EXPIRES is ISO-8601 UTC');
  assert.equal(cells[6], '10');
  assert.match(cells[7], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'CREATED is ISO-8601 UTC');
  assert.ok(!stdout.includes(life.key), 'keys list must not print the key');
});

test('--json prints the raw data, which parses', async () => {
  const list = JSON.parse((await expectExit(0, ['keys', 'list', '--api-id', life.apiId, '--json'])).stdout);
  assert.ok(Array.isArray(list), 'keys list --json prints an array');
  const listed = list.find((k) => k.keyId === life.keyId);
  assert.equal(listed?.name, 'checkout');
  assert.deepEqual(listed?.meta, { plan: 'pro' });

  const key = JSON.parse((await expectExit(0, ['keys', 'get', life.keyId, '--json'])).stdout);
  assert.equal(key.keyId, life.keyId);
  assert.equal(key.enabled, true);

  const api = JSON.parse((await expectExit(0, ['apis', 'get', life.apiId, '--json'])).stdout);
  assert.deepEqual(api, { id: life.apiId, name: 'cli-test' });
});

test('keys verify says VALID and exits 0; the key can come from stdin', async () => {
  const { stdout } = await expectExit(0, ['keys', 'verify', life.key]);
  assert.equal(recordValue(stdout, 'Code'), 'VALID', stdout);
  assert.equal(recordValue(stdout, 'Key ID'), life.keyId, stdout);
  assert.ok(!stdout.includes(life.key), 'verify does not echo the key');

  const piped = await expectExit(0, ['keys', 'verify', '-'], { input: `${life.key}\n` });
  assert.equal(recordValue(piped.stdout, 'Code'), 'VALID', piped.stdout);
});

test('keys update --disable, then keys verify shows DISABLED and exits 3', async () => {
  const updated = await expectExit(0, ['keys', 'update', life.keyId, '--disable']);
  assert.equal(updated.stdout, `Updated key ${life.keyId}\n`);

  const { stdout } = await expectExit(3, ['keys', 'verify', life.key]);
  assert.equal(recordValue(stdout, 'Code'), 'DISABLED', stdout);
  assert.equal(recordValue(stdout, 'Valid'), 'no', stdout);

  const json = JSON.parse((await expectExit(3, ['keys', 'verify', life.key, '--json'])).stdout);
  assert.equal(json.code, 'DISABLED');
  assert.equal(json.valid, false);
});

test('keys revoke, then keys get fails with exit 1 and the request id', async () => {
  const revoked = await expectExit(0, ['keys', 'revoke', life.keyId]);
  assert.equal(revoked.stdout, `Revoked key ${life.keyId}\n`);

  const { stdout, stderr } = await expectExit(1, ['keys', 'get', life.keyId]);
  assert.equal(stdout, '');
  assert.match(stderr, /^error: \S.*\n/, 'the first line names the error');
  assert.match(stderr, /^request id: req_\S+$/m);

  const verified = await expectExit(3, ['keys', 'verify', life.key]);
  assert.notEqual(recordValue(verified.stdout, 'Code'), 'VALID', verified.stdout);
});

test('keys reroll prints a new key that works', async () => {
  const created = await expectExit(0, ['keys', 'create', '--api-id', life.apiId, '--json']);
  const old = JSON.parse(created.stdout);
  recordSecret(old.key);

  const rerolled = await expectExit(0, ['keys', 'reroll', old.keyId, '--expiration', '1h']);
  const newKey = recordValue(rerolled.stdout, 'Key');
  recordSecret(newKey);
  assert.ok(newKey && newKey !== old.key, describe(['keys', 'reroll'], rerolled));
  assert.match(rerolled.stderr, /keeps working for 1h/);
  await expectExit(0, ['keys', 'verify', newKey]);
  await expectExit(0, ['keys', 'verify', old.key]);
});

test('rootkeys create, list and delete', async () => {
  const created = await expectExit(0, ['rootkeys', 'create', '--name', 'cli-ci', '--permission', 'api.*.read_api']);
  const keyId = recordValue(created.stdout, 'Key ID');
  const key = recordValue(created.stdout, 'Key');
  recordSecret(key);
  assert.ok(keyId && key, describe(['rootkeys', 'create'], created));

  // The new root key works for what it may do and is refused the rest (exit 1).
  await expectExit(0, ['apis', 'get', life.apiId], { env: { TOLLGATE_ROOT_KEY: key } });
  const refused = await expectExit(1, ['apis', 'create', '--name', 'nope'], { env: { TOLLGATE_ROOT_KEY: key } });
  assert.match(refused.stderr, /^error: /);

  const listed = await expectExit(0, ['rootkeys', 'list']);
  assert.match(listed.stdout, /^KEY ID +NAME +START +PERMISSIONS +CREATED$/m);
  assert.match(listed.stdout, new RegExp(`^${keyId} +cli-ci +\\S+ +api\\.\\*\\.read_api `, 'm'));
  assert.ok(!listed.stdout.includes(key), 'rootkeys list must not print a root key');

  await expectExit(0, ['rootkeys', 'delete', keyId]);
  await expectExit(1, ['apis', 'get', life.apiId], { env: { TOLLGATE_ROOT_KEY: key } });
});

test('usage and connection errors exit 2 with a clear message', async () => {
  const duration = await expectExit(2, ['keys', 'create', '--api-id', life.apiId, '--expires-in', '3w']);
  assert.match(duration.stderr, /invalid duration "3w"/);

  const meta = await expectExit(2, ['keys', 'create', '--api-id', life.apiId, '--meta', 'not json']);
  assert.match(meta.stderr, /--meta must be a JSON object/);

  const noKey = await expectExit(2, ['apis', 'get', life.apiId], { env: { TOLLGATE_ROOT_KEY: undefined } });
  assert.match(noKey.stderr, /no root key: set TOLLGATE_ROOT_KEY or pass --root-key/);

  // Port 1 on loopback: nothing listens there.
  const unreachable = await expectExit(2, ['apis', 'get', life.apiId, '--url', 'http://127.0.0.1:1']);
  assert.match(unreachable.stderr, /cannot reach tollgate at http:\/\/127\.0\.0\.1:1: Connection refused/);

  const badUrl = await expectExit(2, ['apis', 'get', life.apiId], { env: { TOLLGATE_URL: 'ftp://example.test' } });
  assert.match(badUrl.stderr, /invalid tollgate URL "ftp:\/\/example\.test": expected http\[s\]:\/\/host/);
  // https to a plain HTTP listener: the handshake fails, and says so (tls.test.mjs has the real one).
  const plain = await expectExit(2, ['apis', 'get', life.apiId], { env: { TOLLGATE_URL: server.url.replace('http:', 'https:') } });
  assert.match(plain.stderr, /TLS handshake failed/);
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const kMinuteMs = 60000;
const kHourMs = 3600000;

/**
 * Splits `tollgate usage` output into the table's header, its rows as
 * { start, total, valid, passed?, denied, credits, bar } and the totals record as an object.
 */
function parseUsage(stdout) {
  const [table, record] = stdout.split('\n\n');
  const [header, ...lines] = table.split('\n');
  const columns = header.trim().split(/ {2,}/).slice(1).map((name) => name.toLowerCase());
  const rows = lines.map((line) => {
    const match = /^(\d{4}-\d\d-\d\d(?: \d\d:\d\d)?) +([\d, ]+?)(?: {2}([#x]+))?$/.exec(line);
    assert.ok(match, `not a usage row: "${line}"\n${stdout}`);
    const numbers = match[2].trim().split(/ +/).map((n) => Number(n.replaceAll(',', '')));
    assert.equal(numbers.length, columns.length, `row "${line}" under "${header}"`);
    const start = Date.parse(`${match[1].replace(' ', 'T')}${match[1].length > 10 ? ':00' : 'T00:00:00'}Z`);
    return { start, ...Object.fromEntries(columns.map((c, i) => [c, numbers[i]])), bar: match[3] ?? '' };
  });
  const totals = Object.fromEntries(record.trimEnd().split('\n').map((line) => {
    const [, label, value] = /^(\S+) {2,}(.*)$/.exec(line);
    return [label, value];
  }));
  return { header, rows, totals };
}

const usage = {};

test('usage shows a key\'s verifications per minute over the last hour, with bars and totals', async () => {
  const created = JSON.parse((await expectExit(0, ['keys', 'create', '--api-id', life.apiId,
    '--external-id', 'usage-cli', '--credits', '3', '--json'])).stdout);
  recordSecret(created.key);
  usage.keyId = created.keyId;
  // 3 credits: 3 VALID, then 2 USAGE_EXCEEDED.
  for (let i = 0; i < 3; ++i) await expectExit(0, ['keys', 'verify', created.key]);
  for (let i = 0; i < 2; ++i) await expectExit(3, ['keys', 'verify', created.key]);
  await sleep(300);  // the server writes usage every 100 ms

  const args = ['usage', '--key', created.keyId, '--since', '1h', '--ascii'];
  const { stdout } = await expectExit(0, args);
  const { header, rows, totals } = parseUsage(stdout);
  assert.match(header, /^MINUTE \(UTC\) +TOTAL +VALID +DENIED +CREDITS$/);
  // Every minute of the hour is a row, empty ones too: 61 unless the hour began on a minute.
  assert.ok(rows.length === 61 || rows.length === 60, describe(args, { code: 0, stdout, stderr: '' }));
  rows.forEach((row, i) => i > 0 && assert.equal(row.start - rows[i - 1].start, kMinuteMs, stdout));
  assert.ok(rows.at(-1).start <= Date.now() && Date.now() - rows.at(-1).start < 2 * kMinuteMs, stdout);

  const sum = (field) => rows.reduce((total, row) => total + row[field], 0);
  assert.deepEqual([sum('total'), sum('valid'), sum('denied'), sum('credits')], [5, 3, 2, 3], stdout);
  // The busiest minute has the whole bar (40 characters here); a bar's 'x' part is its denials.
  const busiest = Math.max(...rows.map((row) => row.total));
  for (const row of rows) {
    if (row.total === 0) assert.equal(row.bar, '', stdout);
    if (row.total === busiest) assert.equal(row.bar.length, 40, stdout);
    assert.equal(row.bar.includes('x'), row.denied > 0, stdout);
  }
  assert.equal(totals.Scope, `key ${created.keyId}`);
  assert.equal(totals.Total, '5');
  assert.equal(totals.Valid, '3 (60.0%)');
  assert.equal(totals.Denied, '2 (40.0%): 2 USAGE_EXCEEDED');
  assert.equal(totals.Credits, '3');
});

test('usage totals over a range agree with usage.summary, and --top ranks the key', async () => {
  // Three whole hours around now: per hour by default, and the range needs no widening.
  const from = Math.floor(Date.now() / kHourMs) * kHourMs - kHourMs;
  const to = from + 3 * kHourMs;
  const iso = (t) => new Date(t).toISOString().replace('.000Z', 'Z');
  const args = ['usage', '--from', iso(from), '--to', iso(to), '--top', '10', '--ascii'];
  const { stdout } = await expectExit(0, args);
  const summary = expectOk(await server.call('/v2/usage.summary', { start: from, end: to }), 'usage.summary');

  const [report, ...tops] = stdout.split('\nTop ');
  const { header, rows, totals } = parseUsage(report);
  assert.match(header, /^HOUR \(UTC\) +TOTAL +VALID +DENIED +CREDITS$/, stdout);
  assert.deepEqual(rows.map((row) => row.start), [from, from + kHourMs, from + 2 * kHourMs]);
  assert.equal(totals.Scope, 'everything');
  assert.equal(totals.Total, String(summary.total), stdout);
  assert.match(totals.Valid, new RegExp(`^${summary.valid} \\(`), stdout);
  assert.equal(totals.Credits, String(summary.creditsSpent), stdout);
  const denied = Object.entries(summary.byCode).filter(([code]) => code !== 'VALID');
  assert.equal(Number(totals.Denied.split(' ')[0]), denied.reduce((n, [, count]) => n + count, 0), stdout);
  for (const [code, count] of denied) assert.ok(totals.Denied.includes(`${count} ${code}`), stdout);

  const topKeys = tops.find((t) => t.startsWith('keys\n')) ?? '';
  assert.match(topKeys, new RegExp(`^${usage.keyId} +5 +3 +3$`, 'm'), stdout);
  const topIdentities = tops.find((t) => t.startsWith('identities\n')) ?? '';
  assert.match(topIdentities, /^usage-cli +5 +3 +3$/m, stdout);
});

test('usage --json prints what usage.timeseries answers, with the range', async () => {
  const printed = JSON.parse((await expectExit(0, ['usage', '--identity', 'usage-cli', '--since', '2h',
    '--by', 'minute', '--top', '3', '--json'])).stdout);
  assert.equal(printed.granularity, 'minute');
  assert.equal(printed.start % kMinuteMs, 0, 'the start is a whole minute');
  assert.ok(printed.end - printed.start >= 2 * kHourMs && printed.end - printed.start < 2 * kHourMs + kMinuteMs);
  const series = expectOk(await server.call('/v2/usage.timeseries', {
    start: printed.start, end: printed.end, externalId: 'usage-cli', granularity: 'minute', groupBy: 'outcome',
  }), 'usage.timeseries');
  assert.deepEqual(printed.points, series.points);
  assert.equal(printed.points.reduce((n, p) => n + p.count, 0), 5);
  assert.deepEqual(printed.topKeys, [{ keyId: usage.keyId, count: 5, valid: 3, credits: 3 }]);
  assert.ok(!('topIdentities' in printed), '--identity already names the one identity');
});

test('usage: bad flags exit 2, a root key without usage.*.read exits 1', async () => {
  const duration = await expectExit(2, ['usage', '--since', '3w']);
  assert.match(duration.stderr, /--since: invalid duration "3w"/);
  const rows = await expectExit(2, ['usage', '--since', '30d', '--by', 'minute']);
  assert.match(rows.stderr, /--by minute gives 4320[01] rows over this range, more than 10000/);  // 43201 unless now is a whole minute
  await expectExit(2, ['usage', '--by', 'week']);
  assert.equal((await expectExit(2, ['usage', '--since', '1h', '--from', '2024-01-01'])).stdout, '');

  const created = await expectExit(0, ['rootkeys', 'create', '--name', 'no-usage', '--permission', 'api.*.read_api']);
  const key = recordValue(created.stdout, 'Key');
  recordSecret(key);
  const refused = await expectExit(1, ['usage'], { env: { TOLLGATE_ROOT_KEY: key } });
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /^error: .*\n/);
  assert.match(refused.stderr, /usage\.\*\.read/);
  assert.match(refused.stderr, /^request id: req_\S+$/m);
});

test('no command printed the root key', () => {
  for (const { args, stdout, stderr } of transcripts) {
    assert.ok(!stdout.includes(server.rootKey) && !stderr.includes(server.rootKey),
      `tollgate ${args.join(' ')} printed the root key`);
  }
});
