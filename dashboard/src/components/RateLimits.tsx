// Editing a list of named rate limits (keys, identities and tiers all have them): one row per
// limit, every input labelled with its row.

import type { RateLimit } from '../lib/identities';
import { fmtDuration, fmtNumber } from '../lib/format';

const kAlgorithms = ['sliding_window', 'token_bucket', 'fixed_window', 'gcra'];

export interface LimitDraft {
  name: string;
  limit: string;
  duration: string;
  algorithm: string;
  autoApply: boolean;
}

export function toDrafts(limits: RateLimit[] | undefined): LimitDraft[] {
  return (limits ?? []).map((l) => ({
    name: l.name,
    limit: String(l.limit),
    duration: String(l.duration),
    algorithm: l.algorithm ?? 'sliding_window',
    autoApply: l.autoApply ?? true,
  }));
}

/** The drafts as the API takes them; numbers the server validates (a 400 names the row). */
export function fromDrafts(drafts: LimitDraft[], withAutoApply: boolean): RateLimit[] {
  return drafts.map((d) => ({
    name: d.name.trim(),
    limit: Number(d.limit),
    duration: Number(d.duration),
    algorithm: d.algorithm,
    ...(withAutoApply ? { autoApply: d.autoApply } : {}),
  }));
}

export function describeLimits(limits: RateLimit[] | undefined): string {
  if (!limits?.length) return 'none';
  return limits.map((l) => `${l.name}: ${fmtNumber(l.limit)} / ${fmtDuration(l.duration)}`).join(', ');
}

interface Props {
  value: LimitDraft[];
  onChange: (value: LimitDraft[]) => void;
  withAutoApply?: boolean;
  legend?: string;
}

export function RateLimitEditor({ value, onChange, withAutoApply = false, legend = 'Rate limits' }: Props) {
  const update = (index: number, change: Partial<LimitDraft>) =>
    onChange(value.map((row, i) => (i === index ? { ...row, ...change } : row)));
  return (
    <fieldset class="wide">
      <legend>{legend}</legend>
      {value.length === 0 && <p class="muted small">No limits.</p>}
      {value.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Limit</th>
              <th scope="col">Window (ms)</th>
              <th scope="col">Algorithm</th>
              {withAutoApply && <th scope="col">Auto</th>}
              <th scope="col"><span class="visually-hidden">Remove</span></th>
            </tr>
          </thead>
          <tbody>
            {value.map((row, i) => (
              <tr key={i}>
                <td>
                  <input aria-label={`Name of limit ${i + 1}`} value={row.name} onInput={(e) => update(i, { name: e.currentTarget.value })} />
                </td>
                <td>
                  <input aria-label={`Requests allowed by limit ${i + 1}`} type="number" min={1} value={row.limit} onInput={(e) => update(i, { limit: e.currentTarget.value })} />
                </td>
                <td>
                  <input
                    aria-label={`Window of limit ${i + 1} in milliseconds`}
                    type="number"
                    min={1000}
                    step={1000}
                    value={row.duration}
                    onInput={(e) => update(i, { duration: e.currentTarget.value })}
                  />
                </td>
                <td>
                  <select aria-label={`Algorithm of limit ${i + 1}`} value={row.algorithm} onChange={(e) => update(i, { algorithm: e.currentTarget.value })}>
                    {kAlgorithms.map((a) => (
                      <option key={a} value={a}>{a}</option>
                    ))}
                  </select>
                </td>
                {withAutoApply && (
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Apply limit ${i + 1} to every verification`}
                      checked={row.autoApply}
                      onChange={(e) => update(i, { autoApply: e.currentTarget.checked })}
                    />
                  </td>
                )}
                <td>
                  <button type="button" class="small danger" onClick={() => onChange(value.filter((_, j) => j !== i))} aria-label={`Remove limit ${i + 1}`}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <button
        type="button"
        class="small spaced-small"
        onClick={() => onChange([...value, { name: value.length ? '' : 'requests', limit: '100', duration: '1000', algorithm: 'sliding_window', autoApply: true }])}
      >
        Add a limit
      </button>
    </fieldset>
  );
}
