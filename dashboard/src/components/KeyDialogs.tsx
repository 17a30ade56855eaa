// The dialogs that change a key, shared by the key list and the key's page: create (then the
// secret, once), reroll (then the new secret, once), delete, and enable/disable.

import { useState } from 'preact/hooks';

import { rpc } from '../lib/api';
import { useAllows } from '../lib/access-context';
import { useAsync } from '../lib/hooks';
import { listTiers } from '../lib/identities';
import type { Key } from '../lib/keys';
import { href } from '../lib/route';
import { FormDialog } from './Dialog';
import type { LimitDraft } from './RateLimits';
import { fromDrafts, RateLimitEditor } from './RateLimits';
import { SecretDialog } from './SecretDialog';
import { CheckField, fieldError, SelectField, TextField, useAction } from './ui';

/** datetime-local text -> unix ms, or undefined when empty. */
function parseLocalTime(text: string): number | undefined {
  if (!text) return undefined;
  const ms = new Date(text).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

interface CreateProps {
  apiId: string;
  onClose: () => void;
  onCreated: (keyId: string) => void;
}

export function CreateKeyDialog({ apiId, onClose, onCreated }: CreateProps) {
  const [name, setName] = useState('');
  const [prefix, setPrefix] = useState('');
  const [externalId, setExternalId] = useState('');
  const [tier, setTier] = useState('');
  const [credits, setCredits] = useState('');
  const [refill, setRefill] = useState('none');
  const [refillAmount, setRefillAmount] = useState('');
  const [expires, setExpires] = useState('');
  const [enabled, setEnabled] = useState(true);
  const [limits, setLimits] = useState<LimitDraft[]>([]);
  const [created, setCreated] = useState<{ keyId: string; key: string } | null>(null);
  const tiers = useAsync(() => listTiers().catch(() => []), []);

  const create = async () => {
    const body: Record<string, unknown> = { apiId, enabled };
    if (name.trim()) body.name = name.trim();
    if (prefix.trim()) body.prefix = prefix.trim();
    if (externalId.trim()) body.externalId = externalId.trim();
    if (tier) body.tier = tier;
    if (credits.trim()) {
      body.credits = {
        remaining: Number(credits),
        ...(refill !== 'none' ? { refill: { interval: refill, amount: Number(refillAmount || credits) } } : {}),
      };
    }
    const expiresAt = parseLocalTime(expires);
    if (expiresAt !== undefined) body.expires = expiresAt;
    if (limits.length) body.ratelimits = fromDrafts(limits, true);
    setCreated(await rpc<{ keyId: string; key: string }>('keys.createKey', body));
  };

  if (created) {
    return (
      <SecretDialog
        title="Key created"
        label="API key"
        noun="key"
        secret={created.key}
        onClose={() => {
          onCreated(created.keyId);
          onClose();
        }}
      >
        <p class="small">
          Key id <code>{created.keyId}</code>. Give the key to your customer; tollgate verifies it with keys.verifyKey.
        </p>
      </SecretDialog>
    );
  }

  return (
    <FormDialog title="Create a key" submit="Create key" onClose={onClose} onSubmit={create} wide stayOpen>
      {(error) => (
        <>
          <TextField label="Name" value={name} onValue={setName} placeholder="acme production" error={fieldError(error, 'body.name')} />
          <TextField label="Prefix" value={prefix} onValue={setPrefix} placeholder="wx" help="Up to 16 characters, shown before the key: wx_…" error={fieldError(error, 'body.prefix')} />
          <TextField
            label="Customer (externalId)"
            value={externalId}
            onValue={setExternalId}
            placeholder="acme"
            help="Keys of one customer share its tier, limits and quota"
            error={fieldError(error, 'body.externalId')}
          />
          <SelectField label="Tier of the key" value={tier} onValue={setTier} options={tierOptions(tiers.data)} error={fieldError(error, 'body.tier')} />
          <TextField label="Credits" type="number" min={0} value={credits} onValue={setCredits} placeholder="unlimited" help="Each verification spends one; empty: unlimited" error={fieldError(error, 'body.credits')} />
          <div class="form-grid">
            <SelectField
              label="Refill"
              value={refill}
              onValue={setRefill}
              disabled={!credits.trim()}
              options={[
                { value: 'none', label: 'Never' },
                { value: 'daily', label: 'Daily' },
                { value: 'monthly', label: 'Monthly' },
              ]}
            />
            <TextField label="Refill to" type="number" min={1} value={refillAmount} onValue={setRefillAmount} disabled={refill === 'none'} placeholder={credits || '—'} />
          </div>
          <TextField label="Expires" type="datetime-local" value={expires} onValue={setExpires} help="Empty: never (your local time)" error={fieldError(error, 'body.expires')} />
          <div class="field center">
            <CheckField label="Enabled" checked={enabled} onChecked={setEnabled} />
          </div>
          <RateLimitEditor value={limits} onChange={setLimits} withAutoApply legend="Rate limits of the key" />
        </>
      )}
    </FormDialog>
  );
}

/** The tiers as select options, with "none" first: a key without a tier gets its customer's. */
export function tierOptions(tiers: { name: string }[] | undefined) {
  return [{ value: '', label: 'None (the customer’s tier)' }, ...(tiers ?? []).map((t) => ({ value: t.name, label: t.name }))];
}

const kGracePeriods = [
  { value: '0', label: 'Stops working now' },
  { value: '3600000', label: 'Keeps working for 1 hour' },
  { value: '86400000', label: 'Keeps working for 24 hours' },
  { value: '604800000', label: 'Keeps working for 7 days' },
];

interface RerollProps {
  apiId?: string;
  keyInfo: Key;
  onClose: () => void;
  onRerolled: (newKeyId: string) => void;
}

export function RerollDialog({ apiId, keyInfo, onClose, onRerolled }: RerollProps) {
  const [grace, setGrace] = useState('3600000');
  const [rerolled, setRerolled] = useState<{ keyId: string; key: string } | null>(null);

  if (rerolled) {
    return (
      <SecretDialog
        title="Key rerolled"
        label="New API key"
        noun="key"
        secret={rerolled.key}
        onClose={() => {
          onRerolled(rerolled.keyId);
          onClose();
        }}
      >
        <p class="small">
          The new key is <a href={href('keys', rerolled.keyId, { api: apiId })}>{rerolled.keyId}</a>, with the old one's
          settings. {grace === '0' ? 'The old key no longer works.' : 'The old key keeps working until its grace period ends.'}
        </p>
      </SecretDialog>
    );
  }
  return (
    <FormDialog
      title={`Reroll ${keyInfo.name || keyInfo.keyId}`}
      submit="Reroll"
      onClose={onClose}
      stayOpen
      onSubmit={async () => setRerolled(await rpc<{ keyId: string; key: string }>('keys.rerollKey', { keyId: keyInfo.keyId, expiration: Number(grace) }))}
    >
      {() => (
        <>
          <p class="wide">A new key with the same settings replaces this one (e.g. after a leak). Its secret is shown once.</p>
          <SelectField class="wide" label="The old key" value={grace} onValue={setGrace} options={kGracePeriods} />
        </>
      )}
    </FormDialog>
  );
}

export function DeleteKeyDialog({ keyInfo, onClose, onDeleted }: { keyInfo: Key; onClose: () => void; onDeleted: () => void }) {
  return (
    <FormDialog
      title={`Delete ${keyInfo.name || keyInfo.keyId}?`}
      submit="Delete key"
      danger
      onClose={onClose}
      onSubmit={async () => {
        await rpc('keys.deleteKey', { keyId: keyInfo.keyId });
        onDeleted();
      }}
    >
      {() => (
        <p class="wide">
          Verifications of <code>{keyInfo.start}…</code> answer <code>NOT_FOUND</code> from now on. Its recorded usage stays in
          the analytics and invoices.
        </p>
      )}
    </FormDialog>
  );
}

/** Enables a disabled key or disables an enabled one (keys.updateKey). */
export function useKeyToggle(onDone: () => void) {
  const action = useAction();
  return {
    error: action.error,
    run: (key: Key) =>
      action.run(async () => {
        await rpc('keys.updateKey', { keyId: key.keyId, enabled: !key.enabled });
        onDone();
      }),
  };
}

/** Whether the signed-in key may change keys of `apiId` (any API when unknown). */
export function useKeyPermissions(apiId = '*') {
  return {
    canCreate: useAllows(`api.${apiId}.create_key`),
    canUpdate: useAllows(`api.${apiId}.update_key`),
    canDelete: useAllows(`api.${apiId}.delete_key`),
  };
}
