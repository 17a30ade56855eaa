// Identities (the provider's customers): search, create, assign a tier, see this month's use of
// the tier's quota, delete.

import { useState } from 'preact/hooks';

import { rpc, rpcPage } from '../lib/api';
import { useAllows } from '../lib/access-context';
import { fmtNumber } from '../lib/format';
import { useAsync } from '../lib/hooks';
import type { Identity, Tier } from '../lib/identities';
import { listTiers } from '../lib/identities';
import { currentMonth } from '../lib/range';
import { href } from '../lib/route';
import type { Summary } from '../lib/usage';
import { describeLimits } from '../components/RateLimits';
import { FormDialog } from '../components/Dialog';
import { ActionsCell, Card, ErrorNotice, fieldError, Listing, PageHead, QuotaGauge, RowButton, SelectField, Table, TextField, useAction } from '../components/ui';

const kPageSize = 25;

interface Row extends Identity {
  used?: number;
}

export function Identities({ params }: { params: URLSearchParams }) {
  const [search, setSearch] = useState(params.get('search') ?? '');
  const [pages, setPages] = useState<(string | undefined)[]>([undefined]);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Identity | null>(null);
  const tiering = useAction();
  const canCreate = useAllows('identity.*.create_identity');
  const canUpdate = useAllows('identity.*.update_identity');
  const canDelete = useAllows('identity.*.delete_identity');
  const cursor = pages[pages.length - 1];

  const tiers = useAsync(() => listTiers(), []);
  const list = useAsync(async () => {
    const page = await rpcPage<Identity>('identities.listIdentities', {
      limit: kPageSize,
      ...(search.trim() ? { search: search.trim() } : {}),
      ...(cursor ? { cursor } : {}),
    });
    // This month's VALID verifications per customer: what its quota counts.
    const used = await Promise.all(
      page.data.map((identity) =>
        rpc<Summary>('usage.summary', { ...currentMonth(), externalId: identity.externalId }).then((s) => s.valid, () => undefined),
      ),
    );
    return { ...page, data: page.data.map((identity, i): Row => ({ ...identity, used: used[i] })) };
  }, [search, cursor], 30_000);

  const assignTier = (identity: Identity, tier: string) =>
    tiering.run(async () => {
      await rpc('identities.updateIdentity', { identity: identity.id, tier: tier || null });
      list.reload();
    });

  const tierByName = new Map((tiers.data ?? []).map((tier) => [tier.name, tier]));
  const tierOptions = [{ value: '', label: 'No tier' }, ...(tiers.data ?? []).map((t) => ({ value: t.name, label: t.name }))];

  return (
    <>
      <PageHead title="Identities" subtitle="Your customers: each has a tier whose limits and monthly quota all its keys share.">
        <button type="button" class="primary" disabled={!canCreate} onClick={() => setCreating(true)}>
          Create identity
        </button>
      </PageHead>
      <Card title="Identities" hideTitle>
        <form class="toolbar" role="search" onSubmit={(e) => e.preventDefault()}>
          <TextField
            class="grow"
            type="search"
            label="Search"
            value={search}
            onValue={(v) => {
              setSearch(v);
              setPages([undefined]);
            }}
            placeholder="externalId"
          />
        </form>
        <ErrorNotice error={tiers.error} what="Tiers" />
        <ErrorNotice error={tiering.error} what="Changing the tier" />
        <Listing
          items={list.data?.data}
          error={list.error}
          what="Listing identities"
          empty={search ? 'No identity matches.' : 'No identities yet. A key created with an externalId makes one too.'}
        >
          {(rows) => (
            <Table columns={['Customer', 'Tier', 'Quota this month', 'Own rate limits', 'Billing', { label: 'Actions', hidden: true }]}>
              {rows.map((row) => (
                <IdentityRow
                  key={row.id}
                  row={row}
                  tier={row.tier ? tierByName.get(row.tier) : undefined}
                  tierOptions={tierOptions}
                  canUpdate={canUpdate}
                  canDelete={canDelete}
                  onTier={(tier) => assignTier(row, tier)}
                  onDelete={() => setDeleting(row)}
                />
              ))}
            </Table>
          )}
        </Listing>
        {(pages.length > 1 || list.data?.hasMore) && (
          <div class="toolbar spaced">
            <button type="button" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
              Previous page
            </button>
            <button type="button" disabled={!list.data?.hasMore} onClick={() => setPages([...pages, list.data?.cursor])}>
              Next page
            </button>
          </div>
        )}
      </Card>
      {creating && <CreateIdentityDialog tiers={tiers.data ?? []} onClose={() => setCreating(false)} onCreated={() => list.reload()} />}
      {deleting && <DeleteIdentityDialog identity={deleting} onClose={() => setDeleting(null)} onDeleted={() => list.reload()} />}
    </>
  );
}

interface RowProps {
  row: Row;
  tier?: Tier;
  tierOptions: { value: string; label: string }[];
  canUpdate: boolean;
  canDelete: boolean;
  onTier: (tier: string) => void;
  onDelete: () => void;
}

function IdentityRow({ row, tier, tierOptions, canUpdate, canDelete, onTier, onDelete }: RowProps) {
  return (
    <tr>
      <td>
        <strong>{row.externalId}</strong>
        <div class="muted small mono">{row.id}</div>
      </td>
      <td>
        <select aria-label={`Tier of ${row.externalId}`} value={row.tier ?? ''} disabled={!canUpdate} onChange={(e) => onTier(e.currentTarget.value)}>
          {tierOptions.map((option) => (
            <option key={option.value} value={option.value}>{option.label}</option>
          ))}
        </select>
      </td>
      <td>
        {row.used === undefined ? (
          <span class="muted small">unknown</span>
        ) : tier ? (
          <QuotaGauge used={row.used} included={tier.includedQuota} />
        ) : (
          <span class="muted small">{fmtNumber(row.used)} valid · no tier</span>
        )}
      </td>
      <td class="small">{describeLimits(row.ratelimits)}</td>
      <td class="small">
        {row.billingCycle}
        <br />
        <a href={href('billing', undefined, { customer: row.externalId })}>draft invoice</a>
      </td>
      <ActionsCell>
        <RowButton label={`Delete ${row.externalId}`} danger disabled={!canDelete} onClick={onDelete}>
          Delete
        </RowButton>
      </ActionsCell>
    </tr>
  );
}

function CreateIdentityDialog({ tiers, onClose, onCreated }: { tiers: Tier[]; onClose: () => void; onCreated: () => void }) {
  const [externalId, setExternalId] = useState('');
  const [tier, setTier] = useState('');
  const [cycle, setCycle] = useState('calendar');
  const create = async () => {
    await rpc('identities.createIdentity', { externalId: externalId.trim(), billingCycle: cycle, ...(tier ? { tier } : {}) });
    onCreated();
  };
  return (
    <FormDialog title="Create an identity" submit="Create" onClose={onClose} onSubmit={create}>
      {(error) => (
        <>
          <TextField class="wide" label="External id" value={externalId} onValue={setExternalId} placeholder="acme" help="Your id for the customer" error={fieldError(error, 'body.externalId')} required />
          <SelectField label="Tier" value={tier} onValue={setTier} options={[{ value: '', label: 'No tier' }, ...tiers.map((t) => ({ value: t.name, label: t.name }))]} error={fieldError(error, 'body.tier')} />
          <SelectField
            label="Billing cycle"
            value={cycle}
            onValue={setCycle}
            options={[
              { value: 'calendar', label: 'Calendar months (UTC)' },
              { value: 'anniversary', label: 'From the day it is created' },
            ]}
          />
        </>
      )}
    </FormDialog>
  );
}

function DeleteIdentityDialog({ identity, onClose, onDeleted }: { identity: Identity; onClose: () => void; onDeleted: () => void }) {
  const remove = async () => {
    await rpc('identities.deleteIdentity', { identity: identity.id });
    onDeleted();
  };
  return (
    <FormDialog title={`Delete ${identity.externalId}?`} submit="Delete identity" danger onClose={onClose} onSubmit={remove}>
      {() => <p class="wide">The customer's shared limits and tier go with it; its keys stay and fall back to their own settings.</p>}
    </FormDialog>
  );
}
