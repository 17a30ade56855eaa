// Sign-in: a root key, checked against the server before it is kept (sessionStorage only).

import { useState } from 'preact/hooks';

import { probeRootKey } from '../lib/access';
import { signIn, signOutReason } from '../lib/session';
import { TextField } from '../components/ui';

export function SignIn() {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(signOutReason);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate = key.trim();
    if (!candidate) {
      setError('Enter a root key.');
      return;
    }
    setBusy(true);
    const result = await probeRootKey(candidate);
    setBusy(false);
    if (!result.ok) {
      setError(result.message);
      return;
    }
    setKey('');
    signIn(candidate);
  };

  return (
    <main class="signin">
      <div class="card">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">t</span> tollgate
        </div>
        <h1>Sign in to the dashboard</h1>
        <p class="muted">
          Use a root key, e.g. the one <code>tollgate serve</code> printed at its first start. Its permissions decide what
          you can see and change. The key stays in this browser tab only and is forgotten when you close it.
        </p>
        <form onSubmit={submit} noValidate>
          <TextField
            label="Root key"
            type="password"
            value={key}
            onValue={setKey}
            autoComplete="off"
            spellcheck={false}
            placeholder="tg_root_…"
            error={error ?? undefined}
            required
          />
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Checking…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}
