// Issue 2, Done-when 1: the first root key is printed once on an empty store (or taken from
// TOLLGATE_ROOT_KEY), survives restarts, and is never printed again.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { describeResponse, expectError, expectOk, randomBase58 } from './lib/expect.mjs';
import { recordSecret, rootKeyFromStdout, startServer } from './lib/server.mjs';

const kRootKeyLine = /^TOLLGATE_ROOT_KEY=/;

function stdoutLines(server) {
  return readFileSync(path.join(server.dataDir, 'stdout.log'), { encoding: 'utf8', flag: 'a+' }).split('\n');
}

test('an empty store prints the root key once; a restart prints nothing and the key still works', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());

  const stopped = await server.stop();
  assert.equal(stopped.code, 0, `SIGTERM must exit 0: ${JSON.stringify(stopped)}`);
  let lines = stdoutLines(server);
  const keyLines = lines.filter((l) => kRootKeyLine.test(l));
  assert.equal(keyLines.length, 1, `stdout must carry exactly one TOLLGATE_ROOT_KEY= line, got ${keyLines.length}`);
  const printed = rootKeyFromStdout(lines.join('\n'));
  assert.match(printed, /^tg_root_[1-9A-HJ-NP-Za-km-z]+$/, 'the root key looks like tg_root_<base58>');
  assert.equal(server.rootKey, printed);
  const index = lines.findIndex((l) => kRootKeyLine.test(l));
  assert.ok(index > 0 && /created the first root key/.test(lines[index - 1]),
    `the key line follows "tollgate: created the first root key…": ${JSON.stringify(lines.slice(0, index + 1).map((l) => l.replace(printed, '<key>')))}`);

  // Restart on the same data directory: the server is brought back up and the old key works.
  await server.restart();
  const apiId = expectOk(await server.call('/v2/apis.createApi', { name: 'after-restart' }, { rootKey: printed }),
    'createApi with the bootstrap key after a restart').apiId;
  expectOk(await server.call('/v2/apis.getApi', { apiId }), 'getApi');
  await server.restart();
  const got = expectOk(await server.call('/v2/apis.getApi', { apiId }, { rootKey: printed }), 'getApi after a second restart');
  assert.equal(got.name, 'after-restart', 'data survives restarts');
  await server.stop();

  lines = stdoutLines(server);
  assert.equal(lines.filter((l) => kRootKeyLine.test(l)).length, 1,
    'restarts on a non-empty store must not print another root key');
  assert.equal(lines.filter((l) => /created the first root key/.test(l)).length, 1);
  assert.ok(!readFileSync(path.join(server.dataDir, 'stderr.log'), 'utf8').includes(printed),
    'the root key must not appear in stderr (logs)');
});

test('TOLLGATE_ROOT_KEY on an empty store: nothing printed, that value authenticates', async (t) => {
  const provided = `tg_root_${randomBase58(40)}`;
  recordSecret(provided);
  const server = await startServer({ env: { TOLLGATE_ROOT_KEY: provided } });
  t.after(() => server.stop());
  assert.equal(server.rootKey, provided);

  const res = await server.call('/v2/apis.createApi', { name: 'env-key' });
  const apiId = expectOk(res, 'createApi with the TOLLGATE_ROOT_KEY value').apiId;
  expectError(await server.call('/v2/apis.getApi', { apiId }, { rootKey: `tg_root_${randomBase58(40)}` }), 401, 'another key');
  const listRes = await server.call('/v2/rootKeys.listRootKeys', {});
  const list = expectOk(listRes, 'listRootKeys');
  assert.ok(Array.isArray(list), `listRootKeys data must be an array\n  ${describeResponse(listRes)}`);

  await server.stop();
  const lines = stdoutLines(server);
  assert.equal(lines.filter((l) => kRootKeyLine.test(l)).length, 0,
    `no root key may be printed when TOLLGATE_ROOT_KEY is set; stdout: ${JSON.stringify(lines.join('\n').replaceAll(provided, '<provided>'))}`);
  assert.ok(!lines.join('\n').includes(provided), 'the provided key must not be echoed on stdout');
});
