// What the signed-in root key may do. The server decides every call (a 403 names the missing
// permission); the page only uses this to grey out what would surely be refused. The scopes are
// known when the key may list root keys (rootkey.*.read) and exactly one listed key starts like
// it; otherwise they are unknown and every control stays enabled.

export interface Access {
  /** null: not known. */
  scopes: string[] | null;
  name?: string;
  start?: string;
}

interface RootKeyInfo {
  keyId: string;
  name: string;
  start: string;
  permissions: string[];
}

export type ProbeResult = { ok: true; access: Access } | { ok: false; message: string };

/** Checks a root key before it is kept: 401 means it is not one; anything else signs in. */
export async function probeRootKey(key: string): Promise<ProbeResult> {
  let response: Response;
  try {
    response = await fetch('/v2/rootKeys.listRootKeys', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
      body: '{}',
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    return { ok: false, message: 'tollgate did not answer; is the server running?' };
  }
  if (response.status === 401) return { ok: false, message: 'tollgate does not know this root key.' };
  if (response.status === 403) return { ok: true, access: { scopes: null } };
  if (!response.ok) return { ok: false, message: `tollgate answered HTTP ${response.status}; try again.` };
  const body = (await response.json()) as { data?: RootKeyInfo[] };
  const mine = (body.data ?? []).filter((info) => info.start && key.startsWith(info.start));
  if (mine.length !== 1) return { ok: true, access: { scopes: null } };
  return { ok: true, access: { scopes: mine[0].permissions, name: mine[0].name, start: mine[0].start } };
}

/** tollgate's scope matching: three dot-separated segments, "*" matching any one; "*" alone, all. */
export function scopeMatches(granted: string, required: string): boolean {
  if (granted === '*') return true;
  const g = granted.split('.');
  const r = required.split('.');
  return g.length === r.length && g.every((segment, i) => segment === '*' || segment === r[i]);
}

/** false only when the scopes are known and none grants `required`. */
export function allows(access: Access, required: string): boolean {
  return access.scopes === null || access.scopes.some((granted) => scopeMatches(granted, required));
}

export function describeAccess(access: Access): string {
  if (access.scopes === null) return 'permissions checked by the server';
  if (access.scopes.includes('*')) return 'all permissions';
  return `${access.scopes.length} permission${access.scopes.length === 1 ? '' : 's'}`;
}
