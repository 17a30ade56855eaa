// Issue 11: optional TLS (--tls-cert, --tls-key) for deployments without a proxy in front, with
// real TLS clients: Node's https, curl and openssl s_client, against a certificate that
// `openssl req` makes for the test. The port then speaks HTTPS only, TLS 1.2 and 1.3; plain HTTP
// and TLS 1.1 get no answer; a bad certificate stops the start with a message that says why.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { createApi, createKey, verify } from './lib/expect.mjs';
import { artifactsRoot, binaryPath, rawRequest, recordSecret, startServer } from './lib/server.mjs';

// A self-signed P-256 certificate for localhost and 127.0.0.1 in a folder of its own.
function makeCertificate(dir, stem) {
  const certFile = path.join(dir, `${stem}-cert.pem`);
  const keyFile = path.join(dir, `${stem}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'pipe' });
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile, ca: readFileSync(certFile, 'utf8') };
}

mkdirSync(artifactsRoot, { recursive: true });
const certDir = mkdtempSync(path.join(artifactsRoot, 'tls-certs-'));
const certificate = makeCertificate(certDir, 'server');

function curl(args) {
  return spawnSync('curl', ['--silent', '--show-error', '--max-time', '10', ...args], { encoding: 'utf8' });
}

test('HTTPS end to end: the API and verification over TLS from Node, curl and openssl', async (t) => {
  const server = await startServer({ tls: certificate });
  t.after(() => server.stop());
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(server.procState.stderr, /listening on 127\.0\.0\.1:\d+ \(https\)/);

  // Node's https, verifying the certificate against the test's CA: manage and verify a key.
  const apiId = await createApi(server, 'over-tls');
  const { key } = await createKey(server, apiId, { credits: { remaining: 5 } });
  const data = await verify(server, key);
  assert.equal(data.valid, true);
  assert.equal(data.credits, 4);

  // curl, verifying too, with the root key as a bearer token over TLS.
  const body = JSON.stringify({ key });
  recordSecret(key);
  const ok = curl(['--cacert', certificate.certFile, '--http1.1', '-w', '\\n%{http_code} %{ssl_verify_result}',
    '-H', 'content-type: application/json', '-H', `authorization: Bearer ${server.rootKey}`,
    '--data', body, `${server.url}/v2/keys.verifyKey`]);
  assert.equal(ok.status, 0, `curl over TLS: ${ok.stderr}`);
  const [json, codes] = ok.stdout.split('\n');
  assert.equal(codes, '200 0', 'HTTP 200 and a verified certificate');
  assert.equal(JSON.parse(json).data.credits, 3);
  // The same by name: the certificate's DNS name, resolved to the server.
  const byName = curl(['--cacert', certificate.certFile, '--resolve', `localhost:${server.port}:127.0.0.1`,
    '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${server.port}/livez`]);
  assert.equal(byName.stdout, '200', byName.stderr);

  // curl that does not trust the certificate refuses it (exit 60: peer certificate not verified).
  const untrusted = curl(['-o', '/dev/null', `${server.url}/livez`]);
  assert.equal(untrusted.status, 60, `untrusted certificate: ${untrusted.stderr}`);

  // openssl s_client: TLS 1.2 and 1.3 are spoken; TLS 1.1 is refused by the server even when the
  // client offers it (security level 0, so that the client may).
  const sClient = (flags) => spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`,
    '-servername', 'localhost', '-CAfile', certificate.certFile, '-verify_return_error', ...flags],
  { input: '', encoding: 'utf8', timeout: 10000 });
  for (const version of ['-tls1_2', '-tls1_3']) {
    const result = sClient([version]);
    assert.equal(result.status, 0, `${version}: ${result.stderr}`);
    assert.match(result.stdout, /Verify return code: 0 \(ok\)/, version);
  }
  const old = sClient(['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']);
  assert.notEqual(old.status, 0, 'TLS 1.1 must not be accepted');
  assert.match(old.stdout, /no peer certificate available/, 'no TLS 1.1 session is established');
  assert.match(old.stdout, /Cipher is \(NONE\)/);

  // Plain HTTP on the HTTPS port gets no HTTP answer: the bytes fail the handshake.
  await assert.rejects(rawRequest(`http://127.0.0.1:${server.port}/livez`, { method: 'GET' }),
    'plain HTTP must not be answered');
  // ... and the server keeps serving TLS clients afterwards.
  assert.equal((await verify(server, key)).credits, 2);

  // The command line over HTTPS: trusting the certificate through --ca-file (TOLLGATE_CA_FILE),
  // refusing it without, with the reason.
  const cliEnv = { PATH: process.env.PATH, TOLLGATE_URL: `https://localhost:${server.port}`,
    TOLLGATE_ROOT_KEY: server.rootKey };
  const listed = spawnSync(binaryPath, ['apis', 'get', apiId, '--json'],
    { encoding: 'utf8', timeout: 15000, env: { ...cliEnv, TOLLGATE_CA_FILE: certificate.certFile } });
  assert.equal(listed.status, 0, `tollgate apis get over https: ${listed.stderr}`);
  assert.equal(JSON.parse(listed.stdout).name, 'over-tls');
  const refused = spawnSync(binaryPath, ['apis', 'get', apiId], { encoding: 'utf8', timeout: 15000, env: cliEnv });
  assert.notEqual(refused.status, 0, 'the CLI must not trust an unknown certificate');
  assert.match(refused.stderr, /TLS handshake failed: .*certificate verify failed.*--ca-file/);
  assert.ok(!refused.stderr.includes(server.rootKey), 'the root key is not in the error');

  // No secret and no key material in the logs.
  const logs = readFileSync(path.join(server.dataDir, 'stderr.log'), 'utf8');
  assert.ok(!logs.includes(key) && !logs.includes('PRIVATE KEY'), 'logs hold no key');
});

test('a certificate that cannot serve stops the start with a message that says why', () => {
  const other = makeCertificate(certDir, 'other');
  const garbage = path.join(certDir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const cases = [
    [['--tls-cert', certificate.certFile], /--tls-cert needs --tls-key/],
    [['--tls-cert', path.join(certDir, 'missing.pem'), '--tls-key', certificate.keyFile],
      /cannot read the TLS certificate file '.*missing\.pem': No such file or directory/],
    [['--tls-cert', garbage, '--tls-key', certificate.keyFile], /holds no usable PEM certificate chain/],
    [['--tls-cert', certificate.certFile, '--tls-key', other.keyFile], /does not belong to the certificate/],
  ];
  for (const [flags, message] of cases) {
    const dataDir = mkdtempSync(path.join(artifactsRoot, 'tls-bad-'));
    const result = spawnSync(binaryPath, ['serve', '--listen', '127.0.0.1:0',
      '--store', `sqlite://${path.join(dataDir, 'tollgate.db')}`, ...flags],
    { encoding: 'utf8', timeout: 15000, env: { PATH: process.env.PATH, TOLLGATE_ROOT_KEY: 'tg_root_tlsTestKeyNotUsedForAnything1' } });
    assert.notEqual(result.status, 0, `${flags.join(' ')} must not start`);
    assert.match(result.stderr, message, `${flags.join(' ')}: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /listening on/);
  }
});
