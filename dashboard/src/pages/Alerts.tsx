// Alerts: the rules that watch customers' quotas, credits and rate-limit breaches, the history of
// alerts they fired, the webhooks alerts are sent to, and each delivery with its status.

import { useState } from 'preact/hooks';

import { rpc, rpcPage } from '../lib/api';
import { useAllows } from '../lib/access-context';
import { fmtNumber, fmtTime } from '../lib/format';
import { useAsync } from '../lib/hooks';
import { listTiers } from '../lib/identities';
import { FormDialog } from '../components/Dialog';
import { SecretDialog } from '../components/SecretDialog';
import { ActionsCell, Badge, Card, CheckField, ErrorNotice, fieldError, Listing, PageHead, RowButton, SelectField, Table, TextField, useAction } from '../components/ui';

interface Rule {
  ruleId: string;
  name: string;
  kind: string;
  threshold: number;
  resolveThreshold: number;
  windowSeconds?: number;
  scope: 'global' | 'tier' | 'identity';
  externalId?: string;
  identityId?: string;
  tier?: string;
  createdAt: number;
}

interface Alert {
  alertId: string;
  ruleId: string;
  kind: string;
  state: 'firing' | 'resolved';
  subject: { identityId?: string; externalId?: string; keyId?: string; tier?: string };
  value: number;
  threshold: number;
  firedAt: number;
  resolvedAt: number | null;
}

interface Webhook {
  webhookId: string;
  url: string;
  description: string;
  format: string;
  events: string[];
  secretStart: string;
  createdAt: number;
}

interface Delivery {
  deliveryId: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  createdAt: number;
}

const kKinds: Record<string, { label: string; unit: string }> = {
  quota_percent: { label: 'Quota used (%)', unit: '%' },
  credits_below: { label: 'Credits below', unit: 'credits' },
  ratelimit_breaches: { label: 'Rate-limit breaches', unit: 'breaches' },
};

export function Alerts() {
  return (
    <>
      <PageHead title="Alerts" subtitle="Rules that watch your customers, the alerts they fired, and where alerts are sent." />
      <Rules />
      <History />
      <Webhooks />
      <Deliveries />
    </>
  );
}

function describeRule(rule: Rule): string {
  const kind = kKinds[rule.kind];
  const window = rule.kind === 'ratelimit_breaches' ? ` in ${rule.windowSeconds ?? 60} s` : '';
  return `${kind?.label ?? rule.kind} ${rule.kind === 'credits_below' ? '<' : '≥'} ${fmtNumber(rule.threshold)}${window}; resolves at ${fmtNumber(rule.resolveThreshold)}`;
}

function describeSubject(subject: Alert['subject']): string {
  return subject.externalId ?? subject.keyId ?? subject.identityId ?? '—';
}

function Rules() {
  const rules = useAsync(() => rpcPage<Rule>('alerts.listRules').then((page) => page.data), [], 30_000);
  const [creating, setCreating] = useState(false);
  const deleting = useAction();
  const canWrite = useAllows('alerts.*.write');
  const remove = (rule: Rule) =>
    deleting.run(async () => {
      await rpc('alerts.deleteRule', { ruleId: rule.ruleId });
      rules.reload();
    });
  return (
    <Card
      title="Rules"
      actions={
        <button type="button" class="primary" disabled={!canWrite} onClick={() => setCreating(true)}>
          Create rule
        </button>
      }
    >
      <ErrorNotice error={deleting.error} what="Deleting the rule" />
      <Listing items={rules.data} error={rules.error} what="Listing rules" empty="No rules: nothing watches your customers' quotas yet.">
        {(items) => (
          <Table columns={['Rule', 'Watches', 'Fires when', 'Created', { label: 'Actions', hidden: true }]}>
            {items.map((rule) => (
              <tr key={rule.ruleId}>
                <td>
                  {rule.name || <span class="muted">unnamed</span>}
                  <div class="muted small mono">{rule.ruleId}</div>
                </td>
                <td>{rule.scope === 'global' ? 'every customer' : rule.scope === 'tier' ? `tier ${rule.tier}` : rule.externalId ?? rule.identityId}</td>
                <td class="small">{describeRule(rule)}</td>
                <td class="nowrap">{fmtTime(rule.createdAt)}</td>
                <ActionsCell>
                  <RowButton label={`Delete rule ${rule.name || rule.ruleId}`} danger disabled={!canWrite || deleting.busy} onClick={() => remove(rule)}>
                    Delete
                  </RowButton>
                </ActionsCell>
              </tr>
            ))}
          </Table>
        )}
      </Listing>
      {creating && <CreateRuleDialog onClose={() => setCreating(false)} onCreated={() => rules.reload()} />}
    </Card>
  );
}

function CreateRuleDialog({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [kind, setKind] = useState('quota_percent');
  const [threshold, setThreshold] = useState('80');
  const [resolve, setResolve] = useState('');
  const [windowSeconds, setWindowSeconds] = useState('60');
  const [scope, setScope] = useState('global');
  const [target, setTarget] = useState('');
  const tiers = useAsync(() => listTiers().catch(() => []), []);

  const create = async () => {
    const body: Record<string, unknown> = { kind, threshold: Number(threshold) };
    if (name.trim()) body.name = name.trim();
    if (resolve.trim()) body.resolveThreshold = Number(resolve);
    if (kind === 'ratelimit_breaches') body.windowSeconds = Number(windowSeconds);
    if (scope === 'tier') body.tier = target;
    if (scope === 'customer') body.externalId = target.trim();
    await rpc('alerts.createRule', body);
    onCreated();
  };

  return (
    <FormDialog title="Create an alert rule" submit="Create rule" onClose={onClose} onSubmit={create}>
      {(error) => (
        <>
          <TextField class="wide" label="Name" value={name} onValue={setName} placeholder="pro at 80 %" error={fieldError(error, 'body.name')} />
          <SelectField label="Kind" value={kind} onValue={setKind} options={Object.entries(kKinds).map(([value, k]) => ({ value, label: k.label }))} />
          <TextField label={`Threshold (${kKinds[kind].unit})`} type="number" value={threshold} onValue={setThreshold} error={fieldError(error, 'body.threshold')} />
          <TextField label="Resolve threshold" type="number" value={resolve} onValue={setResolve} placeholder="default" help="Where the alert resolves again" error={fieldError(error, 'body.resolveThreshold')} />
          {kind === 'ratelimit_breaches' && (
            <TextField label="Window (s)" type="number" min={1} max={86400} value={windowSeconds} onValue={setWindowSeconds} error={fieldError(error, 'body.windowSeconds')} />
          )}
          <SelectField
            label="Watches"
            value={scope}
            onValue={(value) => {
              setScope(value);
              setTarget(value === 'tier' ? tiers.data?.[0]?.name ?? '' : '');
            }}
            options={[
              { value: 'global', label: 'Every customer' },
              { value: 'tier', label: 'The customers of one tier' },
              { value: 'customer', label: 'One customer' },
            ]}
          />
          {scope === 'tier' && (
            <SelectField label="Tier" value={target} onValue={setTarget} options={(tiers.data ?? []).map((t) => ({ value: t.name, label: t.name }))} error={fieldError(error, 'body.tier')} />
          )}
          {scope === 'customer' && <TextField label="Customer (externalId)" value={target} onValue={setTarget} error={fieldError(error, 'body.externalId')} />}
        </>
      )}
    </FormDialog>
  );
}

/** A list RPC read a page at a time, with a cursor per page visited. */
function usePaged<T>(method: string, body: Record<string, unknown>, inputs: unknown[]) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const page = useAsync(() => rpcPage<T>(method, { ...body, limit: 20, ...(cursor ? { cursor } : {}) }), [...inputs, cursor], 15_000);
  return {
    page,
    first: () => setCursors([undefined]),
    pager: (cursors.length > 1 || page.data?.hasMore) && (
      <div class="toolbar spaced">
        <button type="button" class="small" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button type="button" class="small" disabled={!page.data?.hasMore} onClick={() => setCursors([...cursors, page.data?.cursor])}>
          Older
        </button>
      </div>
    ),
  };
}

/** A select of one list filter (state, status) in a card's head; choosing starts at the first page. */
function FilterSelect({ label, value, onValue, choices }: { label: string; value: string; onValue: (v: string) => void; choices: string[] }) {
  return (
    <SelectField
      label={label}
      value={value}
      onValue={onValue}
      options={[{ value: '', label: 'Any' }, ...choices.map((c) => ({ value: c, label: c[0].toUpperCase() + c.slice(1) }))]}
    />
  );
}

function History() {
  const [state, setState] = useState('');
  const { page, first, pager } = usePaged<Alert>('alerts.list', state ? { state } : {}, [state]);
  return (
    <Card
      title="History"
      actions={<FilterSelect label="State" value={state} onValue={(v) => { setState(v); first(); }} choices={['firing', 'resolved']} />}
    >
      <Listing items={page.data?.data} error={page.error} what="The alert history" empty={`No alerts${state ? ` ${state}` : ''}.`}>
        {(items) => (
          <Table columns={['State', 'Customer', 'Kind', { label: 'Value / threshold', num: true }, 'Fired', 'Resolved']}>
            {items.map((alert) => (
              <tr key={alert.alertId}>
                <td><Badge tone={alert.state === 'firing' ? 'bad' : 'ok'}>{alert.state}</Badge></td>
                <td>{describeSubject(alert.subject)}{alert.subject.tier && <span class="muted small"> ({alert.subject.tier})</span>}</td>
                <td>{kKinds[alert.kind]?.label ?? alert.kind}</td>
                <td class="num">{fmtNumber(alert.value)} / {fmtNumber(alert.threshold)}</td>
                <td class="nowrap">{fmtTime(alert.firedAt)}</td>
                <td class="nowrap">{alert.resolvedAt ? fmtTime(alert.resolvedAt) : '—'}</td>
              </tr>
            ))}
          </Table>
        )}
      </Listing>
      {pager}
    </Card>
  );
}

function Webhooks() {
  const webhooks = useAsync(() => rpcPage<Webhook>('webhooks.listWebhooks').then((page) => page.data), [], 30_000);
  const [creating, setCreating] = useState(false);
  const deleting = useAction();
  const canWrite = useAllows('webhooks.*.write');
  const remove = (webhook: Webhook) =>
    deleting.run(async () => {
      await rpc('webhooks.deleteWebhook', { webhookId: webhook.webhookId });
      webhooks.reload();
    });
  return (
    <Card
      title="Webhooks"
      actions={
        <button type="button" disabled={!canWrite} onClick={() => setCreating(true)}>
          Add webhook
        </button>
      }
    >
      <ErrorNotice error={deleting.error} what="Deleting the webhook" />
      <Listing items={webhooks.data} error={webhooks.error} what="Listing webhooks" empty="No webhooks: alerts are kept in the history only.">
        {(items) => (
          <Table columns={['URL', 'Events', 'Format', 'Secret', { label: 'Actions', hidden: true }]}>
            {items.map((webhook) => (
              <tr key={webhook.webhookId}>
                <td>
                  <span class="mono">{webhook.url}</span>
                  {webhook.description && <div class="muted small">{webhook.description}</div>}
                </td>
                <td class="small">{webhook.events.join(', ')}</td>
                <td>{webhook.format}</td>
                <td class="mono">{webhook.secretStart}…</td>
                <ActionsCell>
                  <RowButton label={`Delete webhook ${webhook.url}`} danger disabled={!canWrite || deleting.busy} onClick={() => remove(webhook)}>
                    Delete
                  </RowButton>
                </ActionsCell>
              </tr>
            ))}
          </Table>
        )}
      </Listing>
      {creating && <CreateWebhookDialog onClose={() => setCreating(false)} onCreated={() => webhooks.reload()} />}
    </Card>
  );
}

function CreateWebhookDialog({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [format, setFormat] = useState('tollgate');
  const [firing, setFiring] = useState(true);
  const [resolved, setResolved] = useState(true);
  const [secret, setSecret] = useState<string | null>(null);

  const create = async () => {
    const events = [...(firing ? ['alert.firing'] : []), ...(resolved ? ['alert.resolved'] : [])];
    setSecret((await rpc<{ secret: string }>('webhooks.createWebhook', { url: url.trim(), description, format, events })).secret);
  };

  if (secret) {
    return (
      <SecretDialog
        title="Webhook added"
        label="Signing secret"
        noun="signing secret"
        secret={secret}
        onClose={() => {
          onCreated();
          onClose();
        }}
      >
        <p class="small">Check the Tollgate-Signature header of every request with it (see the README).</p>
      </SecretDialog>
    );
  }
  return (
    <FormDialog title="Add a webhook" submit="Add webhook" onClose={onClose} onSubmit={create} stayOpen>
      {(error) => (
        <>
          <TextField class="wide" label="URL" type="url" value={url} onValue={setUrl} placeholder="https://hooks.example.com/tollgate" error={fieldError(error, 'body.url')} required />
          <TextField class="wide" label="Description" value={description} onValue={setDescription} error={fieldError(error, 'body.description')} />
          <SelectField
            label="Format"
            value={format}
            onValue={setFormat}
            options={[
              { value: 'tollgate', label: 'tollgate (signed JSON)' },
              { value: 'alertmanager', label: 'Alertmanager webhook' },
            ]}
          />
          <fieldset>
            <legend>Events</legend>
            <CheckField label="alert.firing" checked={firing} onChecked={setFiring} />
            <CheckField label="alert.resolved" checked={resolved} onChecked={setResolved} />
          </fieldset>
        </>
      )}
    </FormDialog>
  );
}

function Deliveries() {
  const [status, setStatus] = useState('');
  const { page, first, pager } = usePaged<Delivery>('webhooks.listDeliveries', status ? { status } : {}, [status]);
  const tone = (s: Delivery['status']) => (s === 'delivered' ? 'ok' : s === 'failed' ? 'bad' : 'warn');
  return (
    <Card
      title="Webhook deliveries"
      actions={<FilterSelect label="Status" value={status} onValue={(v) => { setStatus(v); first(); }} choices={['pending', 'delivered', 'failed']} />}
    >
      <Listing items={page.data?.data} error={page.error} what="Webhook deliveries" empty={`No deliveries${status ? ` ${status}` : ''}.`}>
        {(items) => (
          <Table columns={['Status', 'Event', { label: 'Attempts', num: true }, 'Last answer', 'Next attempt', 'Created']}>
            {items.map((delivery) => (
              <tr key={delivery.deliveryId}>
                <td><Badge tone={tone(delivery.status)}>{delivery.status}</Badge></td>
                <td>
                  {delivery.eventType}
                  <div class="muted small mono">{delivery.eventId}</div>
                </td>
                <td class="num">{fmtNumber(delivery.attempts)}</td>
                <td class="small">{[delivery.lastStatusCode && `HTTP ${delivery.lastStatusCode}`, delivery.lastError].filter(Boolean).join(' ') || '—'}</td>
                <td class="nowrap">{delivery.nextAttemptAt ? fmtTime(delivery.nextAttemptAt) : '—'}</td>
                <td class="nowrap">{fmtTime(delivery.createdAt)}</td>
              </tr>
            ))}
          </Table>
        )}
      </Listing>
      {pager}
    </Card>
  );
}
