// The small building blocks every page uses: labelled fields, notices for errors and missing
// permissions, badges, a quota gauge, a range picker and loading states.

import type { ComponentChildren, InputHTMLAttributes } from 'preact';
import { useId, useState } from 'preact/hooks';

import { ApiError } from '../lib/api';
import { fmtNumber, fmtPercent } from '../lib/format';
import { kRanges } from '../lib/range';

interface FieldProps {
  label: string;
  type?: 'text' | 'number' | 'password' | 'url' | 'datetime-local' | 'search' | 'month';
  placeholder?: string;
  required?: boolean;
  autoComplete?: string;
  min?: number;
  max?: number;
  disabled?: boolean;
  readOnly?: boolean;
  list?: string;
  spellcheck?: boolean;
  value: string;
  onValue: (value: string) => void;
  help?: string;
  error?: string;
  class?: string;
}

/** An input with its label, help text and error tied to it (aria-describedby, aria-invalid). */
export function TextField({ label, value, onValue, help, error, class: className, type = 'text', ...input }: FieldProps) {
  const id = useId();
  const described = [help && `${id}-help`, error && `${id}-error`].filter(Boolean).join(' ') || undefined;
  // One object, cast once: Preact types <input> as a union keyed by `type`, which a prop cannot pick.
  const attributes = {
    ...input,
    id,
    type,
    value,
    onInput: (event: Event) => onValue((event.currentTarget as HTMLInputElement).value),
    'aria-describedby': described,
    'aria-invalid': error ? 'true' : undefined,
  } as InputHTMLAttributes<HTMLInputElement>;
  return (
    <div class={`field ${className ?? ''}`}>
      <label for={id}>{label}</label>
      <input {...attributes} />
      {help && <span id={`${id}-help`} class="help">{help}</span>}
      {error && <span id={`${id}-error`} class="error-text">{error}</span>}
    </div>
  );
}

interface SelectProps {
  label: string;
  value: string;
  onValue: (value: string) => void;
  options: { value: string; label: string }[];
  help?: string;
  error?: string;
  class?: string;
  disabled?: boolean;
}

export function SelectField({ label, value, onValue, options, help, error, class: className, disabled }: SelectProps) {
  const id = useId();
  return (
    <div class={`field ${className ?? ''}`}>
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        disabled={disabled}
        onChange={(event) => onValue((event.currentTarget as HTMLSelectElement).value)}
        aria-describedby={help ? `${id}-help` : undefined}
        aria-invalid={error ? 'true' : undefined}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      {help && <span id={`${id}-help`} class="help">{help}</span>}
      {error && <span class="error-text">{error}</span>}
    </div>
  );
}

export function CheckField({ label, checked, onChecked }: { label: string; checked: boolean; onChecked: (v: boolean) => void }) {
  const id = useId();
  return (
    <div class="check">
      <input id={id} type="checkbox" checked={checked} onChange={(e) => onChecked((e.currentTarget as HTMLInputElement).checked)} />
      <label for={id}>{label}</label>
    </div>
  );
}

/** The field errors of a 400 that belong to `location` (e.g. "body.name"). */
export function fieldError(error: unknown, location: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const problem = error.fields.find((field) => field.location === location || field.location.startsWith(`${location}.`) || field.location.startsWith(`${location}[`));
  return problem ? `${problem.message}${problem.fix ? ` — ${problem.fix}` : ''}` : undefined;
}

/** An API error as a person reads it: what went wrong, which fields, and what to do. */
export function ErrorNotice({ error, what }: { error: unknown; what?: string }) {
  if (!error) return null;
  if (error instanceof ApiError && error.forbidden) {
    return (
      <div class="notice warn" role="alert">
        <strong>Not allowed with this root key.</strong> {error.detail}
        {what && <> — {what} needs that permission.</>}
      </div>
    );
  }
  const detail = error instanceof ApiError ? error.detail || error.title : error instanceof Error ? error.message : String(error);
  const fields = error instanceof ApiError ? error.fields : [];
  return (
    <div class="notice error" role="alert">
      <strong>{what ? `${what}: ` : ''}</strong>
      {detail}
      {fields.length > 0 && (
        <ul>
          {fields.map((field) => (
            <li key={field.location}>
              <code>{field.location}</code> {field.message}
              {field.fix && <> — {field.fix}</>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="spinner" role="status">
      {label}
    </p>
  );
}

export function Badge({ tone, children }: { tone: 'ok' | 'bad' | 'warn' | 'info' | 'muted'; children: ComponentChildren }) {
  return <span class={`badge ${tone}`}>{children}</span>;
}

/** used / included as a bar; amber from 80 %, red from 100 %. */
export function QuotaGauge({ used, included }: { used: number; included: number | null }) {
  if (included === null) return <span class="muted small">{fmtNumber(used)} used · unlimited</span>;
  const ratio = included > 0 ? used / included : used > 0 ? Infinity : 0;
  const tone = ratio >= 1 ? 'bad' : ratio >= 0.8 ? 'warn' : '';
  const label = `${fmtNumber(used)} of ${fmtNumber(included)} (${Number.isFinite(ratio) ? fmtPercent(ratio) : 'over'})`;
  return (
    <div class={`gauge ${tone}`}>
      <div
        class="bar"
        role="meter"
        aria-valuemin={0}
        aria-valuemax={included}
        aria-valuenow={Math.min(used, included)}
        aria-valuetext={label}
        aria-label="Monthly quota used"
      >
        <div class="fill" style={{ width: `${Math.min(100, ratio * 100)}%` }} />
      </div>
      <span class="pct" title={label}>
        {Number.isFinite(ratio) ? fmtPercent(ratio) : 'over'}
      </span>
    </div>
  );
}

export function RangePicker({ value, onChange, label = 'Time range' }: { value: string; onChange: (id: string) => void; label?: string }) {
  return (
    <div class="segmented" role="group" aria-label={label}>
      {kRanges.map((range) => (
        <button type="button" key={range.id} aria-pressed={value === range.id} onClick={() => onChange(range.id)}>
          {range.label}
        </button>
      ))}
    </div>
  );
}

export function PageHead({ title, subtitle, children }: { title: string; subtitle?: ComponentChildren; children?: ComponentChildren }) {
  return (
    <div class="page-head">
      <div>
        <h1 tabIndex={-1} id="page-title">
          {title}
        </h1>
        {subtitle && <p>{subtitle}</p>}
      </div>
      {children && <div class="page-actions">{children}</div>}
    </div>
  );
}

/** A titled card: a <section> named by its heading, with an optional note and actions beside it. */
export function Card({ title, note, actions, hideTitle, children }: {
  title: string;
  note?: ComponentChildren;
  actions?: ComponentChildren;
  hideTitle?: boolean;
  children: ComponentChildren;
}) {
  const id = useId();
  const heading = (
    <h2 id={id} class={hideTitle ? 'visually-hidden' : undefined}>
      {title}
    </h2>
  );
  return (
    <section class="card" aria-labelledby={id}>
      {hideTitle && !note && !actions ? (
        heading
      ) : (
        <div class="card-head">
          {heading}
          {note && <p>{note}</p>}
          {actions}
        </div>
      )}
      {children}
    </section>
  );
}

export type Column = string | { label: string; num?: boolean; hidden?: boolean };

/** A table with a header row of column names; `hidden` columns are named for screen readers only. */
export function Table({ columns, children, foot }: { columns: Column[]; children: ComponentChildren; foot?: ComponentChildren }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            {columns.map((column) => {
              const c = typeof column === 'string' ? { label: column } : column;
              return (
                <th scope="col" key={c.label} class={c.num ? 'num' : undefined}>
                  {c.hidden ? <span class="visually-hidden">{c.label}</span> : c.label}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{children}</tbody>
        {foot && <tfoot>{foot}</tfoot>}
      </table>
    </div>
  );
}

/** The three states of a loaded list: its error, loading, empty (`empty` says so), or the items. */
export function Listing<T>({ items, error, what, empty, children }: {
  items: T[] | undefined;
  error: unknown;
  what: string;
  empty: ComponentChildren;
  children: (items: T[]) => ComponentChildren;
}) {
  return (
    <>
      <ErrorNotice error={error} what={what} />
      {items ? items.length ? children(items) : <p class="empty">{empty}</p> : !error && <Loading />}
    </>
  );
}

/** Runs one change at a time against the API, keeping its error for the form to show. */
export function useAction() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    try {
      await action();
      setError(null);
    } catch (problem) {
      setError(problem);
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run };
}

/** The last cell of a row: its buttons, right-aligned. Each button's aria-label names the row. */
export function ActionsCell({ children }: { children: ComponentChildren }) {
  return (
    <td>
      <div class="row-actions">{children}</div>
    </td>
  );
}

/** A small button of a table row; `label` says what it does to which row ("Delete rule pro at 80 %"). */
export function RowButton({ label, onClick, disabled, danger, children }: {
  label: string;
  onClick: () => void;
  disabled?: boolean;
  danger?: boolean;
  children: ComponentChildren;
}) {
  return (
    <button type="button" class={danger ? 'small danger' : 'small'} disabled={disabled} onClick={onClick} aria-label={label}>
      {children}
    </button>
  );
}
