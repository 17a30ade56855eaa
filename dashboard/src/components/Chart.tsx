// A time-series chart on uPlot (small and fast: canvas, no DOM per point). The chart itself is
// hidden from assistive technology; `summary` says in words what it shows, and every chart on the
// page sits next to a table or figures with the same numbers.

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { fmtNumber } from '../lib/format';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

interface Props {
  /** Bucket starts, unix ms. */
  times: number[];
  series: ChartSeries[];
  summary: string;
  height?: number;
  /** Stacked bars (counts per bucket) instead of lines. */
  bars?: boolean;
}

export function Chart({ times, series, summary, height = 220, bars = false }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = box.current!;
    // Bars are stacked: each series is drawn as the running total of it and those before it,
    // the largest total first, so every series shows as its own band of the bar.
    const drawn = bars ? stack(series).reverse() : series;
    const data: uPlot.AlignedData = [times.map((t) => t / 1000), ...drawn.map((s) => s.values)];
    const barPaths = bars ? uPlot.paths.bars!({ size: [0.75, 28] }) : undefined;
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [
        { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#d1d5db' } },
        {
          stroke: '#4b5563',
          grid: { stroke: '#e5e7eb' },
          ticks: { stroke: '#d1d5db' },
          size: 56,
          values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? fmtNumber(v) : '')),
        },
      ],
      series: [
        {},
        ...drawn.map((s, i) => ({
          label: s.label,
          stroke: s.color,
          width: bars ? 0 : 2,
          fill: bars ? s.color : i === 0 ? `${s.color}26` : undefined,
          paths: barPaths,
          points: { show: false },
        })),
      ],
    };
    plot.current?.destroy();
    plot.current = new uPlot(options, data, element);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, element.clientWidth), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [times, series, height, bars]);

  return (
    <figure class="chart-figure">
      <div ref={box} class="chart" aria-hidden="true" />
      <figcaption class="visually-hidden">{summary}</figcaption>
      {series.length > 1 && (
        <div class="chart-legend" aria-hidden="true">
          {series.map((s) => (
            <span key={s.label} style={{ '--swatch': s.color }}>
              {s.label}
            </span>
          ))}
        </div>
      )}
    </figure>
  );
}

function stack(series: ChartSeries[]): ChartSeries[] {
  const running: number[] = [];
  return series.map((s) => ({
    ...s,
    values: s.values.map((value, i) => (running[i] = (running[i] ?? 0) + (value ?? 0))),
  }));
}

/** Colours per verification outcome, readable on white. */
export const kOutcomeColors: Record<string, string> = {
  VALID: '#15803d',
  RATE_LIMITED: '#d97706',
  USAGE_EXCEEDED: '#b91c1c',
  NOT_FOUND: '#6b7280',
  DISABLED: '#7c3aed',
  EXPIRED: '#0e7490',
  INSUFFICIENT_PERMISSIONS: '#be185d',
  FORBIDDEN: '#9f1239',
  RATELIMIT_PASSED: '#2563eb',
  RATELIMIT_DENIED: '#ea580c',
};

export function outcomeColor(code: string): string {
  return kOutcomeColors[code] ?? '#1f2937';
}
