// Test harness: starts a real `tollgate serve` on a free port with a SQLite store in its own data
// directory, and gives tests a small HTTP client bound to it.
//
// Every server gets a data directory under the artifacts root (kept after the test, because
// secrets_scan.test.mjs reads every file there afterwards) holding tollgate.db*, stdout.log and
// stderr.log. Every plaintext secret a test sees (root keys, API keys) must be passed to
// recordSecret(); the harness does it for root keys and for any `data.key` in a call() response.
//
// Environment:
//   TOLLGATE_BIN        the binary (default <repo>/build/src/app/tollgate)
//   TOLLGATE_ARTIFACTS  the artifacts root (default <repo>/tests/integration/artifacts)
// Inherited TOLLGATE_* variables are NOT passed to the server (they would silently change its
// flags); pass what a test needs through startServer({ env }).

import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const kRepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const kStartTimeoutMs = 15000;
// When a fresh store is expected to print its root key but the line has not arrived by the time
// the server is listening, wait this long for it (stdout and stderr are separate pipes).
const kRootKeyGraceMs = 2000;
// stop() escalates to SIGKILL after this long so that a hung server cannot hang the suite.
const kKillAfterMs = 20000;

export const binaryPath = process.env.TOLLGATE_BIN ?? path.join(kRepoRoot, 'build', 'src', 'app', 'tollgate');
export const artifactsRoot = process.env.TOLLGATE_ARTIFACTS ?? path.join(kRepoRoot, 'tests', 'integration', 'artifacts');
export const secretsFile = path.join(artifactsRoot, 'secrets.txt');

const liveProcesses = new Set();
process.on('exit', () => {
  for (const proc of liveProcesses) proc.kill('SIGKILL');
});

// Sanitizer builds (`make test`, tests/sanitizers/): a report on a server's stderr fails the
// test file even when the server kept answering: stop() rejects with it (e.g. a LeakSanitizer
// report at the exit after SIGTERM), and one from a server that died unstopped sets the exit code.
const kSanitizerReport = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer/;
const sanitizerReports = [];
process.on('exit', () => {
  if (sanitizerReports.length === 0) return;
  process.stderr.write(`tollgate sanitizer reports, see ${sanitizerReports.join(', ')}\n`);
  process.exitCode = 1;
});

// The error for a server whose stderr holds a sanitizer report, else null.
function sanitizerError(server) {
  const { stderr } = server.procState;
  const at = stderr.search(kSanitizerReport);
  if (at < 0) return null;
  return new Error(`tollgate reported a sanitizer error (${path.join(server.dataDir, 'stderr.log')}):\n` +
    stderr.slice(stderr.lastIndexOf('\n', at) + 1, at + 4000));
}

/** Appends a plaintext secret to <artifacts>/secrets.txt for secrets_scan.test.mjs. */
export function recordSecret(secret) {
  if (typeof secret !== 'string' || secret.length === 0) return;
  mkdirSync(artifactsRoot, { recursive: true });
  appendFileSync(secretsFile, `${secret}\n`);
}

/** The root key from the bootstrap line `TOLLGATE_ROOT_KEY=…` in stdout text, or null. */
export function rootKeyFromStdout(text) {
  const match = /^TOLLGATE_ROOT_KEY=(\S+)\s*$/m.exec(text);
  return match ? match[1] : null;
}

function freshDataDir() {
  mkdirSync(artifactsRoot, { recursive: true });
  const testFile = path.basename(process.argv[1] ?? 'server').replace(/\.test\.mjs$|\.mjs$/, '');
  return mkdtempSync(path.join(artifactsRoot, `${testFile}-`));
}

function childEnv(env) {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('TOLLGATE_')));
  return { ...inherited, ...env };
}

/**
 * One HTTP/1.1 request with full control over method, headers and body (fetch would add a
 * Content-Type of its own). Resolves with { status, headers (lower-case names), text }; rejects
 * on connection errors or a response cut short. An https:// URL goes over TLS, trusting `ca`
 * (PEM) when given, else the system's certificate authorities.
 */
export function rawRequest(url, { method = 'POST', headers = {}, body, agent = false, ca } = {}) {
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:')
      ? https.request(url, { method, headers, agent, ca })
      : http.request(url, { method, headers, agent });
    let settled = false;
    const fail = (error) => {
      if (!settled) {
        settled = true;
        reject(error);
      }
    };
    request.on('error', fail);
    request.on('response', (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', fail);
      response.on('aborted', () => fail(new Error(`response from ${method} ${url} was cut short`)));
      response.on('end', () => {
        if (settled) return;
        if (!response.complete) {
          fail(new Error(`response from ${method} ${url} was cut short`));
          return;
        }
        settled = true;
        resolve({
          status: response.statusCode,
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    if (body !== undefined) request.end(body);
    else request.end();
  });
}

/**
 * Starts `tollgate serve --listen 127.0.0.1:0 --store sqlite://<dataDir>/tollgate.db ...args`
 * (or `--store <store>` when given, e.g. a postgres:// URL from lib/backends.mjs, or a SQLite file
 * on a filesystem of the test's own) and resolves
 * once it logs `listening on <ip>:<port>` on stderr.
 *
 * tls: { certFile, keyFile, ca } serves HTTPS (--tls-cert/--tls-key): url is https://…, and
 * call() trusts ca (the PEM text of the certificate authority).
 *
 * Returns { url, port, rootKey, dataDir, proc, call, restart, stop }:
 *   call(path, body, { rootKey, method, headers, rawBody, contentType }) → { status, headers, json, text }
 *     rootKey defaults to server.rootKey; null sends no Authorization header. body is JSON-encoded
 *     unless rawBody (string or Buffer) is given; contentType null sends no Content-Type.
 *     headers in the result are lower-case (node:http), json is the parsed body or null.
 *   restart({ env, args }) stops the server with SIGTERM and starts it again on the same dataDir.
 *     It UPDATES THIS OBJECT IN PLACE (url, port, proc, rootKey may change) and returns it.
 *     env/args default to the ones of the previous start; the root key is kept unless the
 *     restarted server prints or is given a new one.
 *   stop(signal = 'SIGTERM') → { code, signal, elapsedMs } (idempotent; elapsedMs is the time from
 *     the signal to the exit; SIGKILL after 20 s as a last resort).
 * Also procState = { exited, code, signal, stdout, stderr } of the current process.
 * The root key is env.TOLLGATE_ROOT_KEY, else the bootstrap line on stdout; for a dataDir that
 * already holds a store (nothing printed) startServer waits 2 s for that line, then leaves
 * rootKey null: pass the key with call(…, { rootKey }) or set server.rootKey.
 */
export async function startServer({ env = {}, args = [], dataDir, store, tls } = {}) {
  if (tls) args = [...args, '--tls-cert', tls.certFile, '--tls-key', tls.keyFile];
  const server = {
    tls,
    url: null,
    port: null,
    rootKey: null,
    dataDir: dataDir ?? freshDataDir(),
    proc: null,
    env,
    args,
    store,
  };
  mkdirSync(server.dataDir, { recursive: true });

  server.call = async (urlPath, body, {
    rootKey = server.rootKey,
    method = 'POST',
    headers = {},
    rawBody,
    contentType = 'application/json',
  } = {}) => {
    const requestHeaders = {};
    if (rootKey !== null && rootKey !== undefined) requestHeaders.authorization = `Bearer ${rootKey}`;
    let payload = rawBody;
    if (payload === undefined && body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined) {
      if (contentType !== null) requestHeaders['content-type'] = contentType;
      requestHeaders['content-length'] = String(Buffer.byteLength(payload));
    }
    Object.assign(requestHeaders, headers);
    const response = await rawRequest(`${server.url}${urlPath}`,
      { method, headers: requestHeaders, body: payload, ca: server.tls?.ca });
    let json = null;
    try {
      json = JSON.parse(response.text);
    } catch {
      json = null;
    }
    if (typeof json?.data?.key === 'string') recordSecret(json.data.key);
    return { status: response.status, headers: response.headers, json, text: response.text };
  };

  server.stop = (signal = 'SIGTERM') => stopProcess(server, signal);

  server.restart = async ({ env: newEnv = server.env, args: newArgs = server.args } = {}) => {
    await server.stop('SIGTERM');
    server.env = newEnv;
    server.args = newArgs;
    await launch(server, { expectBootstrap: false });
    return server;
  };

  await launch(server, { expectBootstrap: true });
  return server;
}

// Spawns the process for `server` and waits for its listening line. expectBootstrap: the data
// directory may be empty, so wait a little for the root key line if it has not been seen yet.
function launch(server, { expectBootstrap }) {
  const storeArg = server.store ?? `sqlite://${path.join(server.dataDir, 'tollgate.db')}`;
  const argv = ['serve', '--listen', '127.0.0.1:0', '--store', storeArg, ...server.args];
  // A server-backed store keeps its usage spill file in the data directory too (a SQLite store
  // elsewhere keeps it next to its file, the server's default).
  if (server.store && !server.store.startsWith('sqlite://')) {
    argv.push('--usage-spill-file', path.join(server.dataDir, 'usage-spill.ndjson'));
  }
  const stdoutLog = path.join(server.dataDir, 'stdout.log');
  const stderrLog = path.join(server.dataDir, 'stderr.log');
  const envRootKey = server.env.TOLLGATE_ROOT_KEY;
  if (envRootKey) {
    recordSecret(envRootKey);
    server.rootKey = envRootKey;
  }

  const proc = spawn(binaryPath, argv, { env: childEnv(server.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const state = { stdout: '', stderr: '', exited: false, code: null, signal: null, signalSentAt: null };
  server.proc = proc;
  server.procState = state;
  proc.on('exit', () => {
    state.exitedAt = performance.now();
  });
  state.exitPromise = new Promise((resolve) => {
    // 'close' fires after both pipes are drained, so the logs are complete when it resolves.
    proc.on('close', (code, signal) => {
      state.exited = true;
      state.code = code;
      state.signal = signal;
      liveProcesses.delete(proc);
      if (kSanitizerReport.test(state.stderr)) sanitizerReports.push(path.join(server.dataDir, 'stderr.log'));
      resolve();
    });
  });
  liveProcesses.add(proc);

  return new Promise((resolve, reject) => {
    let done = false;
    let listening = false;
    let graceTimer = null;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(startTimer);
      clearTimeout(graceTimer);
      if (error) reject(error);
      else resolve(server);
    };
    const describe = (what) =>
      new Error(`tollgate ${what}\n  command: ${binaryPath} ${argv.join(' ')}\n  stderr:\n${state.stderr}` +
        `\n  stdout:\n${state.stdout.replace(/TOLLGATE_ROOT_KEY=\S+/g, 'TOLLGATE_ROOT_KEY=<redacted>')}`);

    const onRootKeyLine = () => {
      const printed = rootKeyFromStdout(state.stdout);
      if (printed && printed !== server.printedRootKey) {
        server.printedRootKey = printed;
        recordSecret(printed);
        if (!envRootKey) server.rootKey = printed;
      }
    };
    const maybeReady = () => {
      if (!listening || done) return;
      const needKey = expectBootstrap && !envRootKey && !server.rootKey;
      if (!needKey) finish();
      else if (!graceTimer) graceTimer = setTimeout(() => finish(), kRootKeyGraceMs);
    };

    proc.stdout.on('data', (chunk) => {
      appendFileSync(stdoutLog, chunk);
      state.stdout += chunk.toString('utf8');
      onRootKeyLine();
      maybeReady();
    });
    proc.stderr.on('data', (chunk) => {
      appendFileSync(stderrLog, chunk);
      state.stderr += chunk.toString('utf8');
      if (!listening) {
        const match = /listening on (\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):(\d+)/.exec(state.stderr);
        if (match) {
          listening = true;
          server.port = Number(match[2]);
          server.url = `${server.tls ? 'https' : 'http'}://${match[1]}:${server.port}`;
        }
      }
      maybeReady();
    });
    proc.on('error', (error) => {
      finish(new Error(`cannot start ${binaryPath} (${error.message}); build it or set TOLLGATE_BIN`));
    });
    state.exitPromise.then(() => {
      finish(describe(`exited before listening (code ${state.code}, signal ${state.signal})`));
    });
    const startTimer = setTimeout(() => {
      proc.kill('SIGKILL');
      finish(describe(`did not log "listening on <ip>:<port>" within ${kStartTimeoutMs} ms`));
    }, kStartTimeoutMs);
  });
}

function stopProcess(server, signal) {
  const state = server.procState;
  if (!state) return Promise.resolve({ code: null, signal: null, elapsedMs: 0 });
  state.stopPromise ??= (async () => {
    if (state.exited) return { code: state.code, signal: state.signal, elapsedMs: 0 };
    const proc = server.proc;
    const sentAt = performance.now();
    proc.kill(signal);
    const killTimer = setTimeout(() => proc.kill('SIGKILL'), kKillAfterMs);
    await state.exitPromise;
    clearTimeout(killTimer);
    const exitedAt = state.exitedAt ?? performance.now();
    return { code: state.code, signal: state.signal, elapsedMs: Math.round(exitedAt - sentAt) };
  })().then((result) => {
    const error = sanitizerError(server);
    if (error) throw error;
    return result;
  });
  return state.stopPromise;
}
