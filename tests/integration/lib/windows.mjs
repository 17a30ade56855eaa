// Admissions per fixed window, counted from the answers a load saw (lib/load.mjs with
// keepRatelimits), for the tests of the Redis limiter (issue 7).
//
// A fixed_window limit's windows are aligned to the Unix epoch ([k·W, (k+1)·W)), and the `reset`
// of that limit in a verifyKey answer is the end of a window: of the one the request was counted
// in when it was denied or took the window's last unit, else of the window current when the
// answer was written. So the server's own answer names the window, except for a request admitted
// at the very end of a window that was not used up and answered after the boundary: it names the
// next window. Two things keep such a request out of the wrong window:
// * settledWindowStarts leaves out the first window after the load (or a phase of it) began: the
//   one before it was not under that load from its start, so it may have had units left at its end;
// * countByWindow moves an admitted answer back to the window before the one it names when it was
//   sent before that window began (so it may have been decided in the one before), another
//   admitted answer of that window has the same `remaining` (in one window, each admission leaves
//   a different remaining), and the window before has none with it. A window that really admits
//   twice with one remaining keeps both, unless the window before, not used up, had that gap.
// The client's clock only says which windows the load covered.

/** The wall-clock time (Date.now() scale, ms) of a performance.now() instant. */
export function wallClock(instant) {
  return performance.timeOrigin + instant;
}

/**
 * The starts of the aligned windows of `windowMs` that lie wholly within [from, to] (wall-clock
 * ms) and follow a window that does too (see the header).
 */
export function settledWindowStarts(from, to, windowMs) {
  const starts = [];
  for (let start = Math.ceil(from / windowMs) * windowMs + windowMs; start + windowMs <= to; start += windowMs) {
    starts.push(start);
  }
  return starts;
}

/**
 * Groups `samples` by the window their answer's limit `name` was counted in (see the header).
 * Returns { at(start) → { start, admitted, denied, other, admittedBy: { [tag]: n }, repeated },
 * unplaced }: admitted counts VALID answers, denied RATE_LIMITED ones, other the rest;
 * `tagOf(sample)` splits the admissions (e.g. by node); repeated describes the admissions that
 * share a `remaining` with another of the window (when and where they were sent), for reports. A
 * sample whose answer names no such limit (no answer, another code's shape) is unplaced; at() of
 * a window no answer named is all zeros.
 */
export function countByWindow(samples, { name, windowMs, tagOf = () => 'all' }) {
  const unplaced = [];
  const placed = [];
  for (const sample of samples) {
    const limit = sample.ratelimits?.find((rl) => rl.name === name);
    if (typeof limit?.reset === 'number') placed.push({ sample, remaining: limit.remaining, start: limit.reset - windowMs });
    else unplaced.push(sample);
  }
  moveStraddlersBack(placed.filter((p) => p.sample.code === 'VALID'), windowMs);

  const windows = new Map();
  const at = (start) => {
    if (!windows.has(start)) windows.set(start, { start, admitted: 0, denied: 0, other: 0, admittedBy: {}, repeated: [] });
    return windows.get(start);
  };
  const byRemaining = new Map();  // `${start} ${remaining}` → admitted answers
  for (const { sample, start, remaining } of placed) {
    const window = at(start);
    if (sample.code === 'VALID') {
      window.admitted += 1;
      const tag = tagOf(sample);
      window.admittedBy[tag] = (window.admittedBy[tag] ?? 0) + 1;
      const k = `${start} ${remaining}`;
      if (!byRemaining.has(k)) byRemaining.set(k, { window, remaining, answers: [] });
      byRemaining.get(k).answers.push(sample);
    } else if (sample.code === 'RATE_LIMITED') {
      window.denied += 1;
    } else {
      window.other += 1;
    }
  }
  // What a report needs to tell a double admission from a miscounted one.
  for (const { window, remaining, answers } of byRemaining.values()) {
    if (answers.length < 2) continue;
    const offset = (instant) => Math.round((wallClock(instant) - window.start) * 10) / 10;
    window.repeated.push(`remaining ${remaining} ${answers.length} times, sent/answered at ` +
      answers.map((a) => `${tagOf(a)} ${offset(a.sentAt)}/${offset(a.receivedAt)}`).join(', ') + ' ms into the window');
  }
  return { at, unplaced };
}

// The second rule of the header, on the admitted answers [{ sample, remaining, start }].
function moveStraddlersBack(admitted, windowMs) {
  const seen = new Map();  // `${start} ${remaining}` → how many admitted answers have it
  const key = (start, remaining) => `${start} ${remaining}`;
  const bump = (k, by) => seen.set(k, (seen.get(k) ?? 0) + by);
  for (const { start, remaining } of admitted) bump(key(start, remaining), 1);
  for (const entry of admitted) {
    const here = key(entry.start, entry.remaining);
    const before = key(entry.start - windowMs, entry.remaining);
    if (wallClock(entry.sample.sentAt) < entry.start && seen.get(here) > 1 && !seen.get(before)) {
      bump(here, -1);
      bump(before, 1);
      entry.start -= windowMs;
    }
  }
}

/** { value: how many times it occurs } of `values`. */
export function countBy(values) {
  const counts = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
