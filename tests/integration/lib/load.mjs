// Load generator for integration tests: `concurrency` loops, each sending keys.verifyKey requests
// one after another over a shared keep-alive agent, round-robin over a few keys, until stop() or
// the deadline. Every request leaves one sample: when it was sent and when its answer (or error)
// came, in performance.now() milliseconds, and whether it was a complete 200 with code VALID.
//
// A loop ends at its first connection error (the server is gone: refused, reset, cut short), so
// a test that stops the server mid-load just waits for `done`. With `ratePerSecond`, the loops
// together aim at that rate (each paces itself, and never catches up a backlog in a burst): a
// paced load leaves CPU to the server, so its latencies mean something on a small machine.
//
// Used by usage_durability, postgres_outage, the redis_* and the fault_injection* tests; one Node
// process manages a few thousand requests a second. startWriteLoop adds paced writes beside a load.

import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

import { rawRequest } from './server.mjs';

// data of a verifyKey answer (undefined when it has none), or null when the body is not JSON.
function dataOf(text) {
  try {
    return JSON.parse(text)?.data;
  } catch {
    return null;
  }
}

/**
 * Starts the loops at once. Returns { samples, stop(), done }:
 *   samples: [{ sentAt, receivedAt, keyIndex, valid, status?, code?, ratelimits?, error? }] in the
 *     order answers came; keyIndex is the request's key in `keys`; valid is true only for a
 *     complete HTTP 200 whose data.code is VALID; ratelimits is the answer's data.ratelimits, kept
 *     only with keepRatelimits (for tests that count admissions per window). error is set when no
 *     complete answer came (a connection error; that loop ended there).
 *   stop(): the loops finish the request they are waiting for and end.
 *   done: resolves when every loop has ended (after stop(), the deadline or their errors).
 */
export function startVerifyLoad({
  url, rootKey, keys, concurrency = 24, durationMs = 10_000, ratePerSecond = 0, keepRatelimits = false,
}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = `${url}/v2/keys.verifyKey`;
  const bodies = keys.map((key) => JSON.stringify({ key }));
  const headers = (body) => ({
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    authorization: `Bearer ${rootKey}`,
  });
  const samples = [];
  const deadline = performance.now() + durationMs;
  const gapMs = ratePerSecond > 0 ? (1000 * concurrency) / ratePerSecond : 0;
  let stopped = false;

  const loop = async (index) => {
    let next = performance.now() + (gapMs * index) / concurrency;  // spread the loops' starts
    for (let i = index; !stopped && performance.now() < deadline; i += concurrency) {
      if (gapMs > 0) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        next = Math.max(next + gapMs, performance.now());
        if (stopped) break;
      }
      const keyIndex = i % bodies.length;
      const body = bodies[keyIndex];
      const sample = { sentAt: performance.now(), receivedAt: 0, keyIndex, valid: false };
      let res;
      try {
        res = await rawRequest(target, { headers: headers(body), body, agent });
      } catch (error) {
        sample.receivedAt = performance.now();
        sample.error = error.code ?? error.message;
        samples.push(sample);
        return;
      }
      sample.receivedAt = performance.now();
      sample.status = res.status;
      if (res.status === 200) {
        const data = dataOf(res.text);
        sample.code = data === null ? 'unreadable body' : data?.code;
        if (keepRatelimits) sample.ratelimits = data?.ratelimits;
      }
      sample.valid = sample.code === 'VALID';
      samples.push(sample);
    }
  };

  const done = Promise.all(Array.from({ length: concurrency }, (_, index) => loop(index))).finally(() => agent.destroy());
  return {
    samples,
    stop() {
      stopped = true;
    },
    done,
  };
}

/** The p-th percentile (0–100, nearest rank) of `values`; 0 for none. */
export function percentile(values, p) {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Latency figures (ms) of the samples sent in [from, to): { count, p50, p99, max }. */
export function latencyOf(samples, from, to) {
  const latencies = samples.filter((s) => s.sentAt >= from && s.sentAt < to).map((s) => s.receivedAt - s.sentAt);
  const round = (ms) => Math.round(ms * 100) / 100;
  return {
    count: latencies.length,
    p50: round(percentile(latencies, 50)),
    p99: round(percentile(latencies, 99)),
    max: round(latencies.reduce((a, b) => Math.max(a, b), 0)),
  };
}

/** What a finished verify load saw: the samples of VALID answers, of requests without an answer, and of other answers. */
export function tally(samples) {
  return {
    valid: samples.filter((s) => s.valid),
    unanswered: samples.filter((s) => s.error !== undefined),
    otherAnswers: samples.filter((s) => !s.valid && s.error === undefined),
  };
}

/**
 * Writes alongside a load: POSTs `body(i)` to `route` on `server` (lib/server.mjs), one request at
 * a time, one every `everyMs`, until stop() or the first connection error. Returns { answers,
 * done, stop() }; answers: [{ sentAt, receivedAt, status, data, detail, requestId, res }] or, for
 * the request that met the connection error, [{ sentAt, receivedAt, error }].
 */
export function startWriteLoop(server, route, body, everyMs) {
  const answers = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; ++i) {
      const sentAt = performance.now();
      let res;
      try {
        res = await server.call(route, body(i));
      } catch (error) {
        answers.push({ sentAt, receivedAt: performance.now(), error: error.code ?? error.message });
        return;
      }
      answers.push({
        sentAt, receivedAt: performance.now(), status: res.status, data: res.json?.data,
        detail: res.json?.error?.detail, requestId: res.json?.meta?.requestId, res,
      });
      await sleep(everyMs - (performance.now() - sentAt));
    }
  })();
  return { answers, done, stop() { stopped = true; } };
}
