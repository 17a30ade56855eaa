// Usage analytics (usage.summary / timeseries / topKeys / topIdentities) shaped for charts.

import { rpc } from './api';
import type { ChartSeries } from '../components/Chart';
import { outcomeColor } from '../components/Chart';
import type { RangePreset } from './range';
import { rangeBounds } from './range';

export interface Summary {
  total: number;
  valid: number;
  byCode: Record<string, number>;
  creditsSpent: number;
}

export interface Point {
  time: number;
  group?: string;
  count: number;
  credits?: number;
}

export interface TopEntry {
  keyId?: string;
  externalId?: string;
  count: number;
  valid: number;
  credits: number;
}

export interface Filter {
  keyId?: string;
  externalId?: string;
  apiId?: string;
}

export interface OutcomeSeries {
  times: number[];
  series: ChartSeries[];
  totals: Record<string, number>;
}

/** Counts per outcome and bucket over `range`, every bucket present (0 when nothing happened). */
export async function outcomesOver(range: RangePreset, filter: Filter = {}): Promise<OutcomeSeries> {
  const { start, end } = rangeBounds(range);
  const data = await rpc<{ points: Point[] }>('usage.timeseries', {
    start, end, granularity: range.granularity, groupBy: 'outcome', ...filter,
  });
  const times: number[] = [];
  for (let t = start; t < end; t += range.bucketMs) times.push(t);
  const byGroup = new Map<string, (number | null)[]>();
  const totals: Record<string, number> = {};
  for (const point of data.points) {
    const group = point.group || 'other';
    if (!byGroup.has(group)) byGroup.set(group, times.map(() => 0));
    const index = Math.floor((point.time - start) / range.bucketMs);
    if (index >= 0 && index < times.length) byGroup.get(group)![index] = (byGroup.get(group)![index] ?? 0) + point.count;
    totals[group] = (totals[group] ?? 0) + point.count;
  }
  // VALID first (filled), then the denials by size.
  const groups = [...byGroup.keys()].sort((a, b) => (a === 'VALID' ? -1 : b === 'VALID' ? 1 : totals[b] - totals[a]));
  return {
    times,
    series: groups.map((group) => ({ label: group, color: outcomeColor(group), values: byGroup.get(group)! })),
    totals,
  };
}

export function summaryOver(range: RangePreset, filter: Filter = {}): Promise<Summary> {
  return rpc<Summary>('usage.summary', { ...rangeBounds(range), ...filter });
}

/** In words, for the chart's caption. */
export function describeOutcomes(what: string, range: RangePreset, outcomes: OutcomeSeries): string {
  const parts = Object.entries(outcomes.totals).map(([code, count]) => `${code} ${count}`);
  return `${what} per ${range.granularity} over the last ${range.label}: ${parts.length ? parts.join(', ') : 'none'}.`;
}
