// The signed-in root key. It lives only in this tab's sessionStorage: never in localStorage, a
// cookie or a URL, so it goes when the tab closes and no other site or request ever carries it.
// Anything else the page remembers (the API last opened) is not secret and lives in the URL.

const kStorageKey = 'tollgate.rootKey';

type Listener = () => void;
const listeners = new Set<Listener>();

export function rootKey(): string | null {
  try {
    return sessionStorage.getItem(kStorageKey);
  } catch {
    return null; // storage disabled: every load asks again
  }
}

export function signIn(key: string): void {
  sessionStorage.setItem(kStorageKey, key);
  listeners.forEach((listener) => listener());
}

/** Forgets the key and all else this tab kept; `reason` is shown on the sign-in form (e.g. the
 *  server refused the key). */
export function signOut(reason?: string): void {
  sessionStorage.clear();
  signOutReason = reason ?? null;
  listeners.forEach((listener) => listener());
}

export let signOutReason: string | null = null;

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
