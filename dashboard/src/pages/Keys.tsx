// Keys: open an API (by id: the API has no call that lists APIs), then search and filter its
// keys, create one (the secret shown once), and disable, reroll or delete keys.

import { useMemo, useState } from 'preact/hooks';

import { rpc, rpcAll } from '../lib/api';
import { useAllows } from '../lib/access-context';
import { fmtNumber, fmtTime } from '../lib/format';
import { useAsync } from '../lib/hooks';
import type { Key } from '../lib/keys';
import { keyStatus, recentApis, rememberApi } from '../lib/keys';
import { href, navigate } from '../lib/route';
import { CreateKeyDialog, DeleteKeyDialog, RerollDialog, useKeyPermissions, useKeyToggle } from '../components/KeyDialogs';
import { ActionsCell, Badge, Card, ErrorNotice, fieldError, Listing, PageHead, RowButton, SelectField, Table, TextField, useAction } from '../components/ui';

export function Keys({ params }: { params: URLSearchParams }) {
  const apiId = params.get('api');
  return apiId ? <ApiKeys apiId={apiId} /> : <ChooseApi />;
}

function ChooseApi() {
  const [apiId, setApiId] = useState('');
  const [name, setName] = useState('');
  const creating = useAction();
  const canCreate = useAllows('api.*.create_api');
  const recent = recentApis();

  const open = (event: Event) => {
    event.preventDefault();
    if (apiId.trim()) navigate(href('keys', undefined, { api: apiId.trim() }));
  };
  const create = (event: Event) => {
    event.preventDefault();
    creating.run(async () => {
      const created = await rpc<{ apiId: string }>('apis.createApi', { name: name.trim() });
      rememberApi(created.apiId, name.trim());
      navigate(href('keys', undefined, { api: created.apiId }));
    });
  };

  return (
    <>
      <PageHead title="Keys" subtitle="An API is a namespace of keys. Open one to see and manage its keys." />
      <div class="grid grid-2">
        <Card title="Open an API">
          <p class="muted small">tollgate's API has no call that lists APIs, so open one by its id (apis.createApi returned it).</p>
          <form class="toolbar" onSubmit={open}>
            <TextField class="grow" label="API id" value={apiId} onValue={setApiId} placeholder="api_…" spellcheck={false} required />
            <button type="submit" class="primary">Open</button>
          </form>
          {recent.length > 0 && (
            <>
              <h3>Opened in this tab</h3>
              <ul>
                {recent.map((api) => (
                  <li key={api.apiId}>
                    <a href={href('keys', undefined, { api: api.apiId })}>{api.name || api.apiId}</a> <code class="muted">{api.apiId}</code>
                  </li>
                ))}
              </ul>
            </>
          )}
        </Card>
        <Card title="Create an API">
          <form class="toolbar" onSubmit={create}>
            <TextField class="grow" label="Name" value={name} onValue={setName} placeholder="weather-api" error={fieldError(creating.error, 'body.name')} disabled={!canCreate} />
            <button type="submit" disabled={!canCreate || creating.busy}>Create API</button>
          </form>
          {!canCreate && <p class="muted small">This root key lacks api.*.create_api.</p>}
          <ErrorNotice error={creating.error} what="Creating the API" />
        </Card>
      </div>
    </>
  );
}

type Action = { kind: 'create' } | { kind: 'reroll'; key: Key } | { kind: 'delete'; key: Key } | null;

function ApiKeys({ apiId }: { apiId: string }) {
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState('all');
  const [externalId, setExternalId] = useState('');
  const [action, setAction] = useState<Action>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { canCreate, canUpdate, canDelete } = useKeyPermissions(apiId);

  const api = useAsync(() => rpc<{ id: string; name: string }>('apis.getApi', { apiId }).then((a) => (rememberApi(a.id, a.name), a)), [apiId]);
  const keys = useAsync(
    () => rpcAll<Key>('apis.listKeys', { apiId, ...(externalId.trim() ? { externalId: externalId.trim() } : {}) }),
    [apiId, externalId],
    15_000,
  );
  const toggle = useKeyToggle(() => keys.reload());

  const shown = useMemo(() => {
    const needle = search.trim().toLowerCase();
    return (keys.data ?? []).filter((key) => {
      const state = keyStatus(key).label;
      if (status === 'enabled' && !key.enabled) return false;
      if (status === 'disabled' && key.enabled) return false;
      if (status === 'attention' && state === 'active') return false;
      if (!needle) return true;
      return [key.keyId, key.name, key.start, key.identity?.externalId, key.tier].some((field) => field?.toLowerCase().includes(needle));
    });
  }, [keys.data, search, status]);

  return (
    <>
      <PageHead
        title="Keys"
        subtitle={
          <>
            API <strong>{api.data?.name ?? '…'}</strong> <code class="muted">{apiId}</code> · <a href={href('keys')}>open another API</a>
          </>
        }
      >
        <button type="button" class="primary" onClick={() => setAction({ kind: 'create' })} disabled={!canCreate || !!api.error}>
          Create key
        </button>
      </PageHead>
      <ErrorNotice error={api.error} what="Opening the API" />
      {notice && (
        <div class="notice ok" role="status">
          {notice}
        </div>
      )}
      <Card title="Keys of this API" hideTitle>
        <form class="toolbar" role="search" onSubmit={(e) => e.preventDefault()}>
          <TextField class="grow" type="search" label="Search" value={search} onValue={setSearch} placeholder="name, key id, start, customer or tier" />
          <SelectField
            label="Status"
            value={status}
            onValue={setStatus}
            options={[
              { value: 'all', label: 'All keys' },
              { value: 'enabled', label: 'Enabled' },
              { value: 'disabled', label: 'Disabled' },
              { value: 'attention', label: 'Needs attention' },
            ]}
          />
          <TextField label="Customer (externalId)" value={externalId} onValue={setExternalId} placeholder="any customer" />
        </form>
        <ErrorNotice error={toggle.error} what="Changing the key" />
        {keys.data && (
          <p class="muted small" role="status">
            {fmtNumber(shown.length)} of {fmtNumber(keys.data.length)} keys
          </p>
        )}
        <Listing
          items={keys.data && shown}
          error={keys.error}
          what="Listing keys"
          empty={keys.data?.length ? 'No key matches the search.' : 'This API has no keys yet. Create one.'}
        >
          {(items) => (
            <Table columns={['Name', 'Key', 'Customer', { label: 'Credits', num: true }, 'Status', 'Created', { label: 'Actions', hidden: true }]}>
              {items.map((key) => {
                const state = keyStatus(key);
                const label = key.name || key.keyId;
                return (
                  <tr key={key.keyId}>
                    <td>
                      <a href={href('keys', key.keyId, { api: apiId })}>{key.name || <span class="mono">{key.keyId}</span>}</a>
                    </td>
                    <td class="mono">{key.start}…</td>
                    <td>{key.identity?.externalId ?? <span class="muted">—</span>}</td>
                    <td class="num">{key.credits?.remaining != null ? fmtNumber(key.credits.remaining) : <span class="muted">unlimited</span>}</td>
                    <td><Badge tone={state.tone}>{state.label}</Badge></td>
                    <td class="nowrap">{fmtTime(key.createdAt)}</td>
                    <ActionsCell>
                      <RowButton label={`${key.enabled ? 'Disable' : 'Enable'} ${label}`} disabled={!canUpdate} onClick={() => toggle.run(key)}>
                        {key.enabled ? 'Disable' : 'Enable'}
                      </RowButton>
                      <RowButton label={`Reroll ${label}`} disabled={!canCreate} onClick={() => setAction({ kind: 'reroll', key })}>
                        Reroll
                      </RowButton>
                      <RowButton label={`Delete ${label}`} danger disabled={!canDelete} onClick={() => setAction({ kind: 'delete', key })}>
                        Delete
                      </RowButton>
                    </ActionsCell>
                  </tr>
                );
              })}
            </Table>
          )}
        </Listing>
      </Card>

      {action?.kind === 'create' && (
        <CreateKeyDialog apiId={apiId} onClose={() => setAction(null)} onCreated={() => keys.reload()} />
      )}
      {action?.kind === 'reroll' && (
        <RerollDialog apiId={apiId} keyInfo={action.key} onClose={() => setAction(null)} onRerolled={() => keys.reload()} />
      )}
      {action?.kind === 'delete' && (
        <DeleteKeyDialog
          keyInfo={action.key}
          onClose={() => setAction(null)}
          onDeleted={() => {
            setNotice(`Deleted ${action.key.name || action.key.keyId}: verifications of it answer NOT_FOUND from now on.`);
            keys.reload();
          }}
        />
      )}
    </>
  );
}
