// A real Prometheus server for one test file, through tests/scripts/prometheus.sh: it scrapes the
// given tollgate addresses as job "tollgate" every second and, with `rules`, evaluates that rule
// file (deploy/prometheus/alerts.yml) every second. Its folder lives under the artifacts root
// while it runs; its teardown is also registered for process exit, as lib/backends.mjs does.

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { freePort } from './backends.mjs';
import { artifactsRoot } from './server.mjs';

const run = promisify(execFile);
const kScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'prometheus.sh');

/**
 * Starts Prometheus scraping `targets` (["127.0.0.1:<port>", …]). Returns { url, query(expr),
 * get(apiPath), stop() }: query runs an instant query and resolves with its result vector
 * [{ metric: {labels}, value: [time, "text"] }]; get fetches /api/v1/<apiPath> and resolves with
 * its data. Both reject when Prometheus answers anything but status "success".
 */
export async function startPrometheus({ targets, rules }) {
  mkdirSync(artifactsRoot, { recursive: true });
  const dir = mkdtempSync(path.join(artifactsRoot, 'prometheus-'));
  const port = await freePort();
  await run(kScript, ['start', dir, String(port), ...(rules ? ['--rules', rules] : []), ...targets], { timeout: 60_000 });
  const cleanup = () => {
    try {
      execFileSync(kScript, ['stop', dir]);
    } catch { /* already stopped */ }
  };
  process.on('exit', cleanup);
  const url = `http://127.0.0.1:${port}`;
  const get = async (apiPath) => {
    const response = await fetch(`${url}/api/v1/${apiPath}`);
    const body = await response.json();
    if (body.status !== 'success') throw new Error(`GET /api/v1/${apiPath}: ${JSON.stringify(body)}`);
    return body.data;
  };
  return {
    url,
    get,
    query: async (expr) => (await get(`query?query=${encodeURIComponent(expr)}`)).result,
    async stop() {
      process.off('exit', cleanup);
      await run(kScript, ['stop', dir]);
    },
  };
}
