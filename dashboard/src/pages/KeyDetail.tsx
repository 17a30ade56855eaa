// One key: its usage over time (the count, the outcomes, a chart), its settings, and the forms
// that change its limits and credits; enable/disable, reroll and delete.

import { useEffect, useState } from 'preact/hooks';

import { rpc } from '../lib/api';
import { fmtNumber, fmtPercent, fmtTime } from '../lib/format';
import { useAsync } from '../lib/hooks';
import { listTiers } from '../lib/identities';
import type { Key } from '../lib/keys';
import { keyStatus } from '../lib/keys';
import { rangeById } from '../lib/range';
import { href, navigate } from '../lib/route';
import { describeOutcomes, outcomesOver, summaryOver } from '../lib/usage';
import { Chart } from '../components/Chart';
import { DeleteKeyDialog, RerollDialog, tierOptions, useKeyPermissions, useKeyToggle } from '../components/KeyDialogs';
import type { LimitDraft } from '../components/RateLimits';
import { describeLimits, fromDrafts, RateLimitEditor, toDrafts } from '../components/RateLimits';
import { Badge, Card, ErrorNotice, fieldError, Loading, PageHead, RangePicker, SelectField, TextField, useAction } from '../components/ui';

const kUsageRefreshMs = 5000;

export function KeyDetail({ id, params }: { id?: string; params: URLSearchParams }) {
  const keyId = id!;
  const apiId = params.get('api') ?? undefined;
  const key = useAsync(() => rpc<Key>('keys.getKey', { keyId }), [keyId]);
  const [dialog, setDialog] = useState<'reroll' | 'delete' | null>(null);
  const { canCreate, canUpdate, canDelete } = useKeyPermissions(apiId);
  const toggle = useKeyToggle(() => key.reload());
  const back = href('keys', undefined, { api: apiId });

  if (key.error && !key.data) {
    return (
      <>
        <PageHead title="Key" subtitle={<a href={back}>Back to the keys</a>} />
        <ErrorNotice error={key.error} what={`Key ${keyId}`} />
      </>
    );
  }
  if (!key.data) return <Loading />;
  const k = key.data;
  const state = keyStatus(k);

  return (
    <>
      <PageHead
        title={k.name || k.keyId}
        subtitle={
          <>
            <a href={back}>Keys</a> › <code>{k.keyId}</code> · <code>{k.start}…</code> <Badge tone={state.tone}>{state.label}</Badge>
          </>
        }
      >
        <button type="button" disabled={!canUpdate} onClick={() => toggle.run(k)}>
          {k.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" disabled={!canCreate} onClick={() => setDialog('reroll')}>
          Reroll
        </button>
        <button type="button" class="danger" disabled={!canDelete} onClick={() => setDialog('delete')}>
          Delete
        </button>
      </PageHead>
      <ErrorNotice error={toggle.error} what="Changing the key" />

      <div class="grid grid-3">
        <KeyUsage keyId={keyId} />
        <Card title="Details">
          <dl class="props">
            <dt>Customer</dt>
            <dd>{k.identity ? <a href={href('identities', undefined, { search: k.identity.externalId })}>{k.identity.externalId}</a> : '—'}</dd>
            <dt>Tier</dt>
            <dd>{k.tier ?? (k.identity?.tier ? `${k.identity.tier} (customer's)` : '—')}</dd>
            <dt>Credits</dt>
            <dd>
              {k.credits?.remaining === null || !k.credits ? 'unlimited' : fmtNumber(k.credits.remaining)}
              {k.credits?.refill && ` · refilled ${k.credits.refill.interval} to ${fmtNumber(k.credits.refill.amount)}`}
            </dd>
            <dt>Rate limits</dt>
            <dd>{describeLimits(k.ratelimits)}</dd>
            <dt>Permissions</dt>
            <dd>{k.permissions.length ? k.permissions.join(', ') : '—'}</dd>
            <dt>Created</dt>
            <dd>{fmtTime(k.createdAt)}</dd>
            <dt>Expires</dt>
            <dd>{k.expires ? fmtTime(k.expires) : 'never'}</dd>
          </dl>
        </Card>
      </div>

      <div class="grid grid-2 spaced">
        <EditKey keyInfo={k} disabled={!canUpdate} onSaved={() => key.reload()} />
        <EditCredits keyInfo={k} disabled={!canUpdate} onSaved={() => key.reload()} />
      </div>

      {dialog === 'reroll' && (
        <RerollDialog apiId={apiId} keyInfo={k} onClose={() => setDialog(null)} onRerolled={(newId) => navigate(href('keys', newId, { api: apiId }))} />
      )}
      {dialog === 'delete' && <DeleteKeyDialog keyInfo={k} onClose={() => setDialog(null)} onDeleted={() => navigate(back)} />}
    </>
  );
}

function KeyUsage({ keyId }: { keyId: string }) {
  const [rangeId, setRangeId] = useState('24h');
  const range = rangeById(rangeId);
  const usage = useAsync(() => Promise.all([summaryOver(range, { keyId }), outcomesOver(range, { keyId })]), [keyId, rangeId], kUsageRefreshMs);
  const [summary, outcomes] = usage.data ?? [];
  const denied = summary ? summary.total - summary.valid : 0;
  return (
    <Card title="Usage" actions={<RangePicker value={rangeId} onChange={setRangeId} label="Range of the key's usage" />}>
      <ErrorNotice error={usage.error} what="Usage analytics" />
      {summary && (
        <dl class="stats compact">
          <div class="stat">
            <dt class="label">Verifications</dt>
            <dd class="value">{fmtNumber(summary.total)}</dd>
          </div>
          <div class="stat">
            <dt class="label">Valid</dt>
            <dd class="value">{fmtNumber(summary.valid)}</dd>
          </div>
          <div class="stat">
            <dt class="label">Denied</dt>
            <dd class="value">{fmtNumber(denied)}</dd>
            <dd class="hint">{summary.total > 0 ? `${fmtPercent(denied / summary.total)} of all` : 'none yet'}</dd>
          </div>
          <div class="stat">
            <dt class="label">Credits spent</dt>
            <dd class="value">{fmtNumber(summary.creditsSpent)}</dd>
          </div>
        </dl>
      )}
      {outcomes ? (
        outcomes.series.length ? (
          <Chart times={outcomes.times} series={outcomes.series} bars summary={describeOutcomes("This key's verifications", range, outcomes)} />
        ) : (
          <p class="empty">No verifications of this key in the last {range.label}.</p>
        )
      ) : (
        !usage.error && <Loading />
      )}
      <p class="muted small">Updated every 5 s; usage is recorded within a second of each verification.</p>
    </Card>
  );
}

function toLocalInput(ms: number | undefined): string {
  if (!ms) return '';
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function EditKey({ keyInfo, disabled, onSaved }: { keyInfo: Key; disabled: boolean; onSaved: () => void }) {
  const [name, setName] = useState(keyInfo.name ?? '');
  const [externalId, setExternalId] = useState(keyInfo.identity?.externalId ?? '');
  const [tier, setTier] = useState(keyInfo.tier ?? '');
  const [expires, setExpires] = useState(toLocalInput(keyInfo.expires));
  const [limits, setLimits] = useState<LimitDraft[]>(toDrafts(keyInfo.ratelimits));
  const [saved, setSaved] = useState(false);
  const saving = useAction();
  const tiers = useAsync(() => listTiers().catch(() => []), []);
  useEffect(() => setSaved(false), [name, externalId, tier, expires, limits]);

  const save = (event: Event) => {
    event.preventDefault();
    saving.run(async () => {
      await rpc('keys.updateKey', {
        keyId: keyInfo.keyId,
        name: name.trim() || null,
        externalId: externalId.trim() || null,
        tier: tier || null,
        expires: expires ? new Date(expires).getTime() : null,
        ratelimits: fromDrafts(limits, true),
      });
      setSaved(true);
      onSaved();
    });
  };
  const error = saving.error;

  return (
    <Card title="Settings and limits">
      <form class="form-grid" onSubmit={save} noValidate>
        <TextField label="Name" value={name} onValue={setName} disabled={disabled} error={fieldError(error, 'body.name')} />
        <TextField label="Customer (externalId)" value={externalId} onValue={setExternalId} disabled={disabled} error={fieldError(error, 'body.externalId')} />
        <SelectField label="Tier of the key" value={tier} onValue={setTier} disabled={disabled} options={tierOptions(tiers.data)} error={fieldError(error, 'body.tier')} />
        <TextField label="Expires" type="datetime-local" value={expires} onValue={setExpires} disabled={disabled} help="Empty: never" />
        <RateLimitEditor value={limits} onChange={setLimits} withAutoApply legend="Rate limits of the key" />
        <div class="wide">
          <ErrorNotice error={error} what="Saving" />
          {saved && <p class="notice ok" role="status">Saved.</p>}
          <button type="submit" class="primary" disabled={disabled || saving.busy}>Save settings</button>
        </div>
      </form>
    </Card>
  );
}

function EditCredits({ keyInfo, disabled, onSaved }: { keyInfo: Key; disabled: boolean; onSaved: () => void }) {
  const [operation, setOperation] = useState('increment');
  const [value, setValue] = useState('');
  const [result, setResult] = useState<string | null>(null);
  const changing = useAction();
  const remaining = keyInfo.credits?.remaining ?? null;

  const apply = (body: { operation: string; value: number | null }) =>
    changing.run(async () => {
      setResult(null);
      const credits = await rpc<{ remaining: number | null }>('keys.updateCredits', { keyId: keyInfo.keyId, ...body });
      setResult(`Credits now ${credits.remaining === null ? 'unlimited' : fmtNumber(credits.remaining)}.`);
      setValue('');
      onSaved();
    });

  return (
    <Card title="Credits">
      <p>
        Remaining: <strong>{remaining === null ? 'unlimited' : fmtNumber(remaining)}</strong>
        {keyInfo.credits?.refill && (
          <span class="muted"> · refilled {keyInfo.credits.refill.interval} to {fmtNumber(keyInfo.credits.refill.amount)}</span>
        )}
      </p>
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          apply({ operation, value: Number(value) });
        }}
        noValidate
      >
        <SelectField
          label="Change"
          value={operation}
          onValue={setOperation}
          disabled={disabled}
          options={[
            { value: 'increment', label: 'Add' },
            { value: 'decrement', label: 'Take away' },
            { value: 'set', label: 'Set to' },
          ]}
        />
        <TextField label="Credits" type="number" min={0} value={value} onValue={setValue} disabled={disabled} error={fieldError(changing.error, 'body.value')} />
        <button type="submit" disabled={disabled || value === '' || changing.busy}>Apply</button>
        <button type="button" disabled={disabled || remaining === null || changing.busy} onClick={() => apply({ operation: 'set', value: null })}>
          Make unlimited
        </button>
      </form>
      <ErrorNotice error={changing.error} what="Changing credits" />
      {result && <p class="notice ok" role="status">{result}</p>}
    </Card>
  );
}
