// Reads tollgate's GET /metrics (Prometheus text format, no root key needed): the live counters
// the overview shows. Only what this page needs: name, labels and value of each sample.

export interface Sample {
  labels: Record<string, string>;
  value: number;
}
export type Metrics = Map<string, Sample[]>;

const kLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const kLabel = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Metrics {
  const metrics: Metrics = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = kLine.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(kLabel)) {
      labels[label[1]] = label[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const samples = metrics.get(match[1]) ?? [];
    samples.push({ labels, value: Number(match[3]) });
    metrics.set(match[1], samples);
  }
  return metrics;
}

/** The sum of a metric's samples whose labels include `where`; undefined when it has none. */
export function sum(metrics: Metrics, name: string, where: Record<string, string> = {}): number | undefined {
  const samples = metrics.get(name);
  if (!samples) return undefined;
  return samples
    .filter((sample) => Object.entries(where).every(([k, v]) => sample.labels[k] === v))
    .reduce((total, sample) => total + sample.value, 0);
}
