// Tiers: the plans (free / pro / enterprise or your own) with their rate limits, monthly quota,
// overage policy and prices; create, edit and delete.

import { useState } from 'preact/hooks';

import { rpc } from '../lib/api';
import { useAllows } from '../lib/access-context';
import { fmtMoney, fmtNumber, minorToText, parseMoney } from '../lib/format';
import { useAsync } from '../lib/hooks';
import type { Tier } from '../lib/identities';
import { listTiers } from '../lib/identities';
import { FormDialog } from '../components/Dialog';
import type { LimitDraft } from '../components/RateLimits';
import { describeLimits, fromDrafts, RateLimitEditor, toDrafts } from '../components/RateLimits';
import { ActionsCell, Badge, Card, fieldError, Listing, PageHead, RowButton, SelectField, Table, TextField } from '../components/ui';

const kPolicies = [
  { value: 'block', label: 'block: refuse (USAGE_EXCEEDED)' },
  { value: 'allow', label: 'allow: serve and bill the overage' },
  { value: 'throttle', label: 'throttle: serve at a lower tier’s rates' },
];

export function Tiers() {
  const tiers = useAsync(() => listTiers(), []);
  const [editing, setEditing] = useState<Tier | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Tier | null>(null);
  const canCreate = useAllows('tier.*.create_tier');
  const canUpdate = useAllows('tier.*.update_tier');
  const canDelete = useAllows('tier.*.delete_tier');

  return (
    <>
      <PageHead title="Tiers" subtitle="Plans: rate limits, a monthly quota and prices that every key and customer on them gets.">
        <button type="button" class="primary" disabled={!canCreate} onClick={() => setEditing('new')}>
          Create tier
        </button>
      </PageHead>
      <Card title="Tiers" hideTitle>
        <Listing items={tiers.data} error={tiers.error} what="Listing tiers" empty="No tiers.">
          {(items) => (
            <Table columns={['Tier', 'Rate limits', { label: 'Monthly quota', num: true }, 'Past the quota', { label: 'Base fee', num: true }, { label: 'Actions', hidden: true }]}>
              {items.map((tier) => (
                <tr key={tier.name}>
                  <td>
                    <strong>{tier.name}</strong> {tier.builtin && <Badge tone="muted">built in</Badge>}
                    {tier.description && <div class="muted small">{tier.description}</div>}
                  </td>
                  <td class="small">{describeLimits(tier.ratelimits)}</td>
                  <td class="num">{tier.includedQuota === null ? 'unlimited' : fmtNumber(tier.includedQuota)}</td>
                  <td class="small">
                    {tier.overagePolicy}
                    {tier.overagePolicy === 'throttle' && tier.throttleTo && ` to ${tier.throttleTo}`}
                    {tier.gracePercent > 0 && ` after ${tier.gracePercent} % grace`}
                  </td>
                  <td class="num">{fmtMoney(tier.pricing.baseFee, tier.pricing.currency)}</td>
                  <ActionsCell>
                    <RowButton label={`Edit ${tier.name}`} disabled={!canUpdate} onClick={() => setEditing(tier)}>
                      Edit
                    </RowButton>
                    <RowButton label={`Delete ${tier.name}`} danger disabled={!canDelete || tier.builtin} onClick={() => setDeleting(tier)}>
                      Delete
                    </RowButton>
                  </ActionsCell>
                </tr>
              ))}
            </Table>
          )}
        </Listing>
      </Card>
      {editing && (
        <TierEditor tier={editing === 'new' ? null : editing} tiers={tiers.data ?? []} onClose={() => setEditing(null)} onSaved={() => tiers.reload()} />
      )}
      {deleting && <DeleteTierDialog tier={deleting} onClose={() => setDeleting(null)} onDeleted={() => tiers.reload()} />}
    </>
  );
}

interface EditorProps {
  tier: Tier | null;
  tiers: Tier[];
  onClose: () => void;
  onSaved: () => void;
}

function TierEditor({ tier, tiers, onClose, onSaved }: EditorProps) {
  const currency0 = tier?.pricing.currency ?? 'USD';
  const [name, setName] = useState(tier?.name ?? '');
  const [description, setDescription] = useState(tier?.description ?? '');
  const [quota, setQuota] = useState(tier?.includedQuota === null || !tier ? '' : String(tier.includedQuota));
  const [policy, setPolicy] = useState<string>(tier?.overagePolicy ?? 'block');
  const [throttleTo, setThrottleTo] = useState(tier?.throttleTo ?? '');
  const [grace, setGrace] = useState(String(tier?.gracePercent ?? 0));
  const [limits, setLimits] = useState<LimitDraft[]>(toDrafts(tier?.ratelimits));
  const [currency, setCurrency] = useState(currency0);
  const [baseFee, setBaseFee] = useState(minorToText(tier?.pricing.baseFee ?? 0, currency0));
  const [meters, setMeters] = useState(JSON.stringify(tier?.pricing.meters ?? [], null, 2));
  const [local, setLocal] = useState<Record<string, string>>({});

  const save = async () => {
    const problems: Record<string, string> = {};
    const fee = parseMoney(baseFee, currency);
    if (fee === null) problems.baseFee = `an amount in ${currency}, e.g. 49.00`;
    let meterList: unknown = [];
    try {
      meterList = JSON.parse(meters || '[]');
      if (!Array.isArray(meterList)) problems.meters = 'must be a JSON array of meter prices';
    } catch (parseError) {
      problems.meters = `is not valid JSON: ${String(parseError)}`;
    }
    setLocal(problems);
    if (Object.keys(problems).length) throw new Error(`Check the fields: ${Object.keys(problems).join(', ')}.`);
    await rpc(tier ? 'tiers.updateTier' : 'tiers.createTier', {
      name: name.trim(),
      description,
      includedQuota: quota.trim() === '' ? null : Number(quota),
      overagePolicy: policy,
      throttleTo: policy === 'throttle' && throttleTo ? throttleTo : null,
      gracePercent: Number(grace || 0),
      ratelimits: fromDrafts(limits, false),
      pricing: { currency: currency.trim().toUpperCase(), baseFee: fee, meters: meterList },
    });
    onSaved();
  };

  return (
    <FormDialog title={tier ? `Edit tier ${tier.name}` : 'Create a tier'} submit={tier ? 'Save tier' : 'Create tier'} onClose={onClose} onSubmit={save} wide>
      {(error) => (
        <>
          <TextField label="Name" value={name} onValue={setName} readOnly={!!tier} required placeholder="startup" error={fieldError(error, 'body.name')} />
          <TextField label="Description" value={description} onValue={setDescription} error={fieldError(error, 'body.description')} />
          <TextField label="Monthly quota" type="number" min={0} value={quota} onValue={setQuota} placeholder="unlimited" help="VALID verifications per calendar month; empty: unlimited" error={fieldError(error, 'body.includedQuota')} />
          <SelectField label="Past the quota" value={policy} onValue={setPolicy} options={kPolicies} error={fieldError(error, 'body.overagePolicy')} />
          <SelectField
            label="Throttle to"
            value={throttleTo}
            onValue={setThrottleTo}
            disabled={policy !== 'throttle'}
            options={[{ value: '', label: '—' }, ...tiers.filter((t) => t.name !== name).map((t) => ({ value: t.name, label: t.name }))]}
            error={fieldError(error, 'body.throttleTo')}
          />
          <TextField label="Grace (%)" type="number" min={0} max={100} value={grace} onValue={setGrace} help="Served past the quota before the policy applies" error={fieldError(error, 'body.gracePercent')} />
          <RateLimitEditor value={limits} onChange={setLimits} legend="Rate limits of the tier" />
          <fieldset class="wide">
            <legend>Prices</legend>
            <div class="form-grid">
              <TextField label="Currency" value={currency} onValue={setCurrency} help="ISO 4217, e.g. USD, EUR, JPY" error={fieldError(error, 'body.pricing.currency')} />
              <TextField label="Base fee per month" value={baseFee} onValue={setBaseFee} help={`In ${currency || 'the currency'}, e.g. 49.00`} error={local.baseFee ?? fieldError(error, 'body.pricing.baseFee')} />
              <div class="field wide">
                <label for="tier-meters">Meter prices (JSON)</label>
                <textarea
                  id="tier-meters"
                  value={meters}
                  onInput={(e) => setMeters(e.currentTarget.value)}
                  spellcheck={false}
                  aria-describedby="tier-meters-help"
                  aria-invalid={local.meters || fieldError(error, 'body.pricing.meters') ? 'true' : undefined}
                />
                <span id="tier-meters-help" class="help">
                  [{'{'}"meter": "requests", "packageSize": 1000, "slices": [{'{'}"upTo": 1000000, "priceMicros": 50000000{'}'}, {'{'}"priceMicros": 30000000{'}'}]{'}'}] — prices in
                  millionths of the minor unit per package; see the README's Billing section.
                </span>
                {(local.meters || fieldError(error, 'body.pricing.meters')) && <span class="error-text">{local.meters ?? fieldError(error, 'body.pricing.meters')}</span>}
              </div>
            </div>
          </fieldset>
        </>
      )}
    </FormDialog>
  );
}

function DeleteTierDialog({ tier, onClose, onDeleted }: { tier: Tier; onClose: () => void; onDeleted: () => void }) {
  const remove = async () => {
    await rpc('tiers.deleteTier', { name: tier.name });
    onDeleted();
  };
  return (
    <FormDialog title={`Delete tier ${tier.name}?`} submit="Delete tier" danger onClose={onClose} onSubmit={remove}>
      {() => <p class="wide">tollgate refuses to delete a tier that keys or customers still use; move them to another tier first.</p>}
    </FormDialog>
  );
}
