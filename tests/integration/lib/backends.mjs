// The real servers tollgate runs on in production, started for one test file: PostgreSQL 15,
// RabbitMQ and Redis shards, each on a free loopback port in a folder of its own under the
// artifacts root, through tests/scripts/postgres.sh, rabbitmq.sh and redis.sh (PostgreSQL runs as
// the postgres user when the tests run as root). Each returns handles to stop, start and restart
// it, and its teardown is also registered for process exit so that a failed test leaves no server
// behind.

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { artifactsRoot } from './server.mjs';

const run = promisify(execFile);
const kScripts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');

/** A free TCP port on 127.0.0.1 (and, for RabbitMQ, the two after it are checked too). */
export async function freePort(span = 1) {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ports = Array.from({ length: span }, (_, i) => base + i);
    const free = await Promise.all(ports.map((port) => new Promise((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    })));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free port found');
}

function folder(name) {
  mkdirSync(artifactsRoot, { recursive: true });  // the first server of a run may come before any tollgate
  return mkdtempSync(path.join(artifactsRoot, `${name}-`));
}

const cleanups = new Set();
process.on('exit', () => {
  for (const cleanup of cleanups) cleanup();
});

/**
 * Starts PostgreSQL. Returns { port, url (postgres:// for tollgate), psql(sql) → stdout text,
 * stop(), start(), wipe() }. stop() is a fast shutdown (connections are cut), start() brings the
 * same cluster back.
 */
export async function startPostgres() {
  const dir = folder('postgres');
  const port = await freePort();
  const script = path.join(kScripts, 'postgres.sh');
  await run(script, ['start', dir, String(port)]);
  const bin = (await run('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1'])).stdout.trim();
  const asOwner = (args) => (process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0], args.slice(1)]);
  const pgCtl = (action) => {
    const [command, args] = asOwner([`${bin}/pg_ctl`, '-D', `${dir}/data`, '-w', '-t', '60', ...action]);
    return run(command, args);
  };
  const cleanup = () => {
    try {
      execFileSync(script, ['stop', dir]);
    } catch { /* already stopped */ }
  };
  cleanups.add(cleanup);
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async psql(sql) {
      const { stdout } = await run('psql', ['-X', '-q', '-t', '-A', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres',
        '-d', 'postgres', '-c', sql]);
      return stdout.trim();
    },
    stop: () => pgCtl(['-m', 'fast', 'stop']),
    start: () => pgCtl(['-l', `${dir}/server.log`, '-o',
      `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c max_connections=200`,
      'start']),
    async wipe() {
      cleanups.delete(cleanup);
      await run(script, ['stop', dir]);
    },
  };
}

/**
 * Starts RabbitMQ. Returns { port, url (amqp:// for tollgate and amqplib), stop(), restart(),
 * wipe() }. restart() keeps the broker's data (durable queues and persistent messages).
 */
export async function startRabbitmq() {
  const dir = folder('rabbitmq');
  const port = await freePort(3);
  const script = path.join(kScripts, 'rabbitmq.sh');
  await run(script, ['start', dir, String(port)], { timeout: 120_000 });
  const cleanup = () => {
    try {
      execFileSync(script, ['wipe', dir]);
    } catch { /* already stopped */ }
  };
  cleanups.add(cleanup);
  return {
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    stop: () => run(script, ['stop', dir]),
    restart: () => run(script, ['restart', dir], { timeout: 120_000 }),
    async wipe() {
      cleanups.delete(cleanup);
      await run(script, ['wipe', dir]);
    },
  };
}

/** `count` distinct free ports. */
async function freePorts(count) {
  const ports = new Set();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Starts `shards` independent redis-server processes (no persistence). Returns { ports, url (the
 * redis://host:port,… string for --limiter), kill(i), start(i), pause(i), resume(i), scan(i,
 * pattern) → [key names], stop() }. kill(i) SIGKILLs shard i (a crash); start(i) starts it again,
 * empty, on the same port; pause(i) / resume(i) SIGSTOP / SIGCONT it: a shard that keeps its
 * connections open but answers nothing, then answers again.
 */
export async function startRedis({ shards = 3 } = {}) {
  const dir = folder('redis');
  const ports = await freePorts(shards);
  const script = path.join(kScripts, 'redis.sh');
  await run(script, ['start', dir, ...ports.map(String)]);
  const paused = new Set();
  const signal = (i, name) => process.kill(Number(readFileSync(path.join(dir, String(ports[i]), 'redis.pid'), 'utf8')), name);
  // A stopped shard would take SIGTERM only once continued: continue them first.
  const resumeAll = () => {
    for (const i of paused) signal(i, 'SIGCONT');
    paused.clear();
  };
  const cleanup = () => {
    try {
      resumeAll();
      execFileSync(script, ['stop', dir]);
    } catch { /* already stopped */ }
  };
  cleanups.add(cleanup);
  return {
    ports,
    url: `redis://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    kill: (i) => run(script, ['kill', dir, String(ports[i])]),
    start: (i) => run(script, ['start', dir, String(ports[i])]),
    pause(i) {
      signal(i, 'SIGSTOP');
      paused.add(i);
    },
    resume(i) {
      signal(i, 'SIGCONT');
      paused.delete(i);
    },
    async scan(i, pattern) {
      const { stdout } = await run('redis-cli', ['-p', String(ports[i]), '--scan', '--pattern', pattern]);
      return stdout.split('\n').filter(Boolean);
    },
    async stop() {
      cleanups.delete(cleanup);
      resumeAll();
      // One at a time, a redis-server takes ~1.5 s to exit here: stop them side by side, then
      // remove the folder.
      await Promise.allSettled(ports.map((port) => run(script, ['stop', dir, String(port)])));
      await run(script, ['stop', dir]);
    },
  };
}
