// The real servers tollgate runs on in production, started for one test file: PostgreSQL 15 and
// RabbitMQ, each on a free loopback port in a folder of its own under the artifacts root, through
// tests/scripts/postgres.sh and rabbitmq.sh (PostgreSQL runs as the postgres user when the tests
// run as root). Each returns handles to stop, start and restart it, and stop() is also registered
// for process exit so that a failed test leaves no server behind.

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
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
