// The time ranges the usage views offer, each with the granularity that gives a readable chart
// (the API allows at most 10,000 buckets per query).

export interface RangePreset {
  id: string;
  label: string;
  ms: number;
  granularity: 'minute' | 'hour' | 'day';
  bucketMs: number;
}

export const kRanges: RangePreset[] = [
  { id: '1h', label: '1 h', ms: 3_600_000, granularity: 'minute', bucketMs: 60_000 },
  { id: '24h', label: '24 h', ms: 86_400_000, granularity: 'hour', bucketMs: 3_600_000 },
  { id: '7d', label: '7 d', ms: 7 * 86_400_000, granularity: 'hour', bucketMs: 3_600_000 },
  { id: '30d', label: '30 d', ms: 30 * 86_400_000, granularity: 'day', bucketMs: 86_400_000 },
];

export function rangeById(id: string): RangePreset {
  return kRanges.find((range) => range.id === id) ?? kRanges[1];
}

/** [start, end) in unix ms: the preset's span, ending one bucket after the current one starts. */
export function rangeBounds(range: RangePreset, now = Date.now()): { start: number; end: number } {
  const end = Math.floor(now / range.bucketMs) * range.bucketMs + range.bucketMs;
  return { start: end - range.ms, end };
}

/** The current UTC calendar month so far: the period of monthly quotas. */
export function currentMonth(now = Date.now()): { start: number; end: number } {
  const d = new Date(now);
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: now + 1 };
}
