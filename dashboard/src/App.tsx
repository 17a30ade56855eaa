// The shell: the sign-in form until a root key is held, then the sidebar, the page of the current
// hash route, and the key's permissions for the pages to consult.

import type { ComponentType } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import type { Access } from './lib/access';
import { describeAccess, probeRootKey } from './lib/access';
import { AccessContext } from './lib/access-context';
import { href, useRoute } from './lib/route';
import { onSessionChange, rootKey, signOut } from './lib/session';
import { SignIn } from './pages/SignIn';
import { Overview } from './pages/Overview';
import { Keys } from './pages/Keys';
import { KeyDetail } from './pages/KeyDetail';
import { Identities } from './pages/Identities';
import { Tiers } from './pages/Tiers';
import { Billing } from './pages/Billing';
import { Alerts } from './pages/Alerts';
import { Loading } from './components/ui';

interface PageProps {
  id?: string;
  params: URLSearchParams;
}

// Icons: 24x24 stroke paths, decorative (the link text names the page).
const kPages: { page: string; title: string; icon: string; component: ComponentType<PageProps> }[] = [
  { page: 'overview', title: 'Overview', icon: 'M3 3v18h18M7 15l4-4 3 3 6-6', component: Overview },
  { page: 'keys', title: 'Keys', icon: 'M15 7a4 4 0 1 1-3.9 4.9L3 20v-3h3v-3h3l2.1-2.1A4 4 0 0 1 15 7zm1 2h.01', component: Keys },
  { page: 'identities', title: 'Identities', icon: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-7 9a7 7 0 0 1 14 0', component: Identities },
  { page: 'tiers', title: 'Tiers', icon: 'M12 3l9 5-9 5-9-5 9-5zm-9 9l9 5 9-5M3 16l9 5 9-5', component: Tiers },
  { page: 'billing', title: 'Billing', icon: 'M6 3h12v18l-3-2-3 2-3-2-3 2V3zm3 5h6m-6 4h6m-6 4h3', component: Billing },
  { page: 'alerts', title: 'Alerts', icon: 'M6 16V11a6 6 0 1 1 12 0v5l2 2H4l2-2zm4 4h4', component: Alerts },
];

export function App() {
  const [key, setKey] = useState(rootKey());
  useEffect(() => onSessionChange(() => setKey(rootKey())), []);
  return key ? <Shell rootKey={key} /> : <SignIn />;
}

function Shell({ rootKey: key }: { rootKey: string }) {
  const route = useRoute();
  const [access, setAccess] = useState<Access | null>(null);
  const firstPage = useRef(true);

  useEffect(() => {
    probeRootKey(key).then((result) => {
      if (result.ok) setAccess(result.access);
      else signOut(result.message);
    });
  }, [key]);

  const current = kPages.find((p) => p.page === route.page) ?? kPages[0];
  const Page = route.page === 'keys' && route.id ? KeyDetail : current.component;
  const title = route.page === 'keys' && route.id ? 'Key' : current.title;

  useEffect(() => {
    document.title = `${title} · tollgate`;
    // A new page: move focus to its heading so that keyboard and screen-reader users start there.
    if (!firstPage.current) document.getElementById('page-title')?.focus();
    firstPage.current = false;
  }, [route.page, route.id]);

  return (
    <AccessContext.Provider value={access ?? { scopes: null }}>
      <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('page-title')?.focus(); }}>
        Skip to content
      </a>
      <div class="shell">
        <aside class="sidebar">
          <div class="sidebar-inner">
            <div class="brand">
              <span class="brand-mark" aria-hidden="true">t</span> tollgate
            </div>
            <nav aria-label="Dashboard">
              <ul>
                {kPages.map((p) => (
                  <li key={p.page}>
                    <a href={href(p.page)} aria-current={p.page === current.page ? 'page' : undefined}>
                      <svg class="nav-icon" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
                        <path d={p.icon} />
                      </svg>
                      {p.title}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
            <div class="sidebar-foot">
              <div class="who">
                {/* Only the start tollgate itself shows of a root key (rootKeys.listRootKeys), never more of the secret. */}
                Signed in with {access?.start ? <code>{access.start}…</code> : 'a root key'}
                {access?.name ? ` (${access.name})` : ''}
                <br />
                {access ? describeAccess(access) : 'checking…'}
              </div>
              <button type="button" onClick={() => signOut()}>
                Sign out
              </button>
            </div>
          </div>
        </aside>
        <main id="main">{access ? <Page id={route.id} params={route.params} /> : <Loading label="Checking the root key…" />}</main>
      </div>
    </AccessContext.Provider>
  );
}
