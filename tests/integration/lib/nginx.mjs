// Test harness for the nginx gateway: runs a real nginx (auth_request) in front of a small echo
// upstream, with tollgate's GET /v2/keys.authorize as the authorizer.
//
// The nginx configuration is the shipped deploy/nginx/tollgate-gateway.conf itself: only the
// three addresses on its lines marked `# test: tollgate|app|listen` are replaced (each marker must
// occur exactly once, so a reshaped deploy file fails here instead of silently testing something
// else), and it is included into a minimal nginx.conf whose pid, logs and temp paths all live in
// the gateway's own directory under the artifacts root (kept after the run; secrets_scan reads it).
//
// nginx runs in the foreground (`daemon off`) as a child of the test: master + one worker. As root
// the worker runs as root too (`user root root;`), so that it can use the 0700 directory. stop()
// sends SIGQUIT (graceful) and escalates to SIGKILL for the master and its workers.
//
// Environment: NGINX_BIN, the nginx binary (default /usr/sbin/nginx, else `nginx` on PATH).

import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { artifactsRoot } from './server.mjs';

const kRepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const kStartTimeoutMs = 10000;
const kQuitTimeoutMs = 10000;
// nginx retries a failed bind() for ~2.5 s before giving up; a port taken in between our probe
// and nginx's bind is retried with a fresh port this many times.
const kStartAttempts = 3;

export const gatewayConfPath = path.join(kRepoRoot, 'deploy', 'nginx', 'tollgate-gateway.conf');
export const nginxBinary = process.env.NGINX_BIN ??
  (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx');

const liveNginx = new Set();
process.on('exit', () => {
  for (const proc of liveNginx) killTree(proc.pid);
});

// The pids of a process's children (Linux /proc), or [] when it is gone.
function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killTree(pid) {
  const children = childPids(pid);
  for (const p of [pid, ...children]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Throws, naming the package to install, unless nginx exists and has ngx_http_auth_request_module.
 * Debian 12: package `nginx` (nginx-light is a transitional package depending on it).
 */
export function assertNginxWithAuthRequest() {
  // `nginx -V` prints its configure arguments to stderr.
  const result = spawnSync(nginxBinary, ['-V'], { encoding: 'utf8' });
  if (result.error) {
    throw new Error(`cannot run ${nginxBinary} (${result.error.message}): install nginx ` +
      '(Debian 12: apt-get install nginx) or set NGINX_BIN');
  }
  if (!/--with-http_auth_request_module/.test(`${result.stdout}${result.stderr}`)) {
    throw new Error(`${nginxBinary} lacks ngx_http_auth_request_module (see \`${nginxBinary} -V\`); ` +
      'on Debian 12 the package `nginx` has it');
  }
}

/** A port that was free on `host` a moment ago (bind port 0, read it, close). */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function hostPort(urlOrAddress) {
  const text = String(urlOrAddress);
  return text.includes('://') ? new URL(text).host : text;
}

/**
 * The deploy file with the marked addresses replaced:
 *   `server …;  # test: tollgate` → `server <tollgate>;`, `# test: app` likewise, and
 *   `listen …;  # test: listen` → `listen <listen>;`.
 */
export function renderGatewayConf({ tollgate, app, listen }) {
  let text = readFileSync(gatewayConfPath, 'utf8');
  const replacements = [
    ['tollgate', /^(\s*)server\s+\S+;\s*# test: tollgate\s*$/gm, (indent) => `${indent}server ${hostPort(tollgate)};`],
    ['app', /^(\s*)server\s+\S+;\s*# test: app\s*$/gm, (indent) => `${indent}server ${hostPort(app)};`],
    ['listen', /^(\s*)listen\s+[^;]+;\s*# test: listen\s*$/gm, (indent) => `${indent}listen ${listen};`],
  ];
  for (const [marker, pattern, make] of replacements) {
    const count = [...text.matchAll(pattern)].length;
    if (count !== 1) {
      throw new Error(`${gatewayConfPath}: expected exactly one line ending in "# test: ${marker}" ` +
        `(the test replaces that address), found ${count}`);
    }
    text = text.replace(pattern, (_, indent) => make(indent));
  }
  return text;
}

function mainConf(dir) {
  const user = typeof process.getuid === 'function' && process.getuid() === 0 ? 'user root root;\n' : '';
  const tmp = (name) => path.join(dir, 'tmp', name);
  return `# Generated by tests/integration/lib/nginx.mjs around deploy/nginx/tollgate-gateway.conf.
${user}worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
events { worker_connections 512; }
http {
    access_log ${path.join(dir, 'access.log')};
    client_body_temp_path ${tmp('client_body')};
    proxy_temp_path ${tmp('proxy')};
    fastcgi_temp_path ${tmp('fastcgi')};
    uwsgi_temp_path ${tmp('uwsgi')};
    scgi_temp_path ${tmp('scgi')};
    include ${path.join(dir, 'tollgate-gateway.conf')};
}
`;
}

function gatewayDir() {
  mkdirSync(artifactsRoot, { recursive: true });
  const testFile = path.basename(process.argv[1] ?? 'nginx').replace(/\.test\.mjs$|\.mjs$/, '');
  const dir = mkdtempSync(path.join(artifactsRoot, `${testFile}-nginx-`));
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  return dir;
}

/**
 * Starts nginx with the deploy config in front of `app` (URL or host:port), authorizing with the
 * tollgate at `tollgate` (URL or host:port). Resolves once the master has bound the port and
 * started its worker.
 *
 * Returns { url, port, dir, proc, state: { stderr, exited, code, signal }, stop() }.
 * stop() → { code, signal } (idempotent): SIGQUIT, then SIGKILL of master and workers after 10 s.
 */
export async function startNginx({ tollgate, app }) {
  assertNginxWithAuthRequest();
  const dir = gatewayDir();
  writeFileSync(path.join(dir, 'nginx.conf'), mainConf(dir));
  let lastError;
  for (let attempt = 0; attempt < kStartAttempts; ++attempt) {
    const port = await freePort();
    writeFileSync(path.join(dir, 'tollgate-gateway.conf'),
      renderGatewayConf({ tollgate, app, listen: `127.0.0.1:${port}` }));
    try {
      return await launch(dir, port);
    } catch (error) {
      lastError = error;
      if (!/Address already in use/.test(error.message)) throw error;
    }
  }
  throw lastError;
}

function launch(dir, port) {
  const args = ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off; error_log stderr notice;'];
  const proc = spawn(nginxBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderrLog = path.join(dir, 'nginx.stderr.log');
  const state = { stderr: '', exited: false, code: null, signal: null };
  const exitPromise = new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      Object.assign(state, { exited: true, code, signal });
      liveNginx.delete(proc);
      resolve();
    });
  });
  liveNginx.add(proc);
  const gateway = { url: `http://127.0.0.1:${port}`, port, dir, proc, state };

  let stopPromise = null;
  gateway.stop = () => {
    stopPromise ??= (async () => {
      if (!state.exited) {
        proc.kill('SIGQUIT');
        const timer = setTimeout(() => killTree(proc.pid), kQuitTimeoutMs);
        await exitPromise;
        clearTimeout(timer);
      }
      return { code: state.code, signal: state.signal };
    })();
    return stopPromise;
  };

  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) {
        gateway.stop().then(() => reject(error));
      } else {
        resolve(gateway);
      }
    };
    const describe = (what) => new Error(`nginx ${what}\n  command: ${nginxBinary} ${args.join(' ')}` +
      `\n  config: ${dir}\n  stderr:\n${state.stderr}`);
    proc.stdout.on('data', () => {});
    proc.stderr.on('data', (chunk) => {
      appendFileSync(stderrLog, chunk);
      state.stderr += chunk.toString('utf8');
      // The master binds its listening sockets before it starts the worker.
      if (/start worker process \d+/.test(state.stderr)) finish();
    });
    proc.on('error', (error) => finish(new Error(`cannot start ${nginxBinary}: ${error.message}`)));
    exitPromise.then(() => finish(describe(`exited before it was ready (code ${state.code}, signal ${state.signal})`)));
    const timer = setTimeout(() => finish(describe(`did not start a worker within ${kStartTimeoutMs} ms`)), kStartTimeoutMs);
  });
}

/**
 * A small upstream for the gateway: answers every request 200 with JSON
 * { method, url, headers } of what it received (all header names lower-case), and keeps them in
 * `requests`. Returns { url, port, requests, close() }.
 */
export function startEchoUpstream() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const seen = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(seen);
      const body = JSON.stringify(seen);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        requests,
        close: () => new Promise((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}

/**
 * One HTTP/1.1 request on a fresh connection. localAddress picks the client address (any of
 * 127.0.0.0/8 works on Linux loopback), to act as different clients. Resolves with
 * { status, headers (lower-case, duplicates joined by node), rawHeaders, text, json }.
 */
export function request(url, { method = 'GET', headers = {}, body, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const options = { method, headers: { ...headers }, agent: false };
    if (localAddress) options.localAddress = localAddress;
    if (body !== undefined) options.headers['content-length'] = String(Buffer.byteLength(body));
    const req = http.request(url, options, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** All values of a header (case-insensitive) from rawHeaders, in order. */
export function headerValues(res, name) {
  const values = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if (res.rawHeaders[i].toLowerCase() === name.toLowerCase()) values.push(res.rawHeaders[i + 1]);
  }
  return values;
}
