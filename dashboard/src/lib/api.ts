// tollgate's public HTTP API, as the dashboard calls it: POST /v2/<resource>.<action> with the
// signed-in root key, and the few plain GETs (/readyz, /metrics, an invoice's HTML page). Nothing
// here knows more than the README documents: the page shows what the API answers.

import { rootKey, signOut } from './session';

export interface FieldProblem {
  location: string;
  message: string;
  fix?: string;
}

/** An error envelope ({title, detail, status, errors?}), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly fields: FieldProblem[] = [],
  ) {
    super(detail || title);
  }

  /** 403: the root key lacks a permission; the detail names it. */
  get forbidden(): boolean {
    return this.status === 403;
  }
}

export interface Page<T> {
  data: T[];
  cursor?: string;
  hasMore: boolean;
}

interface Envelope {
  data?: unknown;
  pagination?: { cursor?: string; hasMore?: boolean };
  error?: { title?: string; detail?: string; status?: number; errors?: FieldProblem[] };
}

async function post(method: string, body: unknown): Promise<Envelope> {
  const key = rootKey();
  if (!key) throw new ApiError(401, 'Unauthorized', 'sign in with a root key first');
  let response: Response;
  try {
    response = await fetch(`/v2/${method}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
      body: JSON.stringify(body ?? {}),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'Network error', `tollgate did not answer ${method}; is the server running?`);
  }
  let envelope: Envelope;
  try {
    envelope = (await response.json()) as Envelope;
  } catch {
    throw new ApiError(response.status, `HTTP ${response.status}`, `${method} did not answer JSON`);
  }
  if (!response.ok || envelope.error) {
    const error = envelope.error ?? {};
    if (response.status === 401) signOut(`The server refused the root key: ${error.detail ?? 'unauthorized'}.`);
    throw new ApiError(response.status, error.title ?? `HTTP ${response.status}`, error.detail ?? '', error.errors ?? []);
  }
  return envelope;
}

/** One RPC call; resolves with `data`. */
export async function rpc<T>(method: string, body: unknown = {}): Promise<T> {
  return (await post(method, body)).data as T;
}

/** One page of a list RPC (data + pagination). */
export async function rpcPage<T>(method: string, body: unknown = {}): Promise<Page<T>> {
  const envelope = await post(method, body);
  return {
    data: (envelope.data as T[]) ?? [],
    cursor: envelope.pagination?.cursor,
    hasMore: envelope.pagination?.hasMore ?? false,
  };
}

/** Every page of a list RPC, up to `max` items (lists the dashboard needs whole are short). */
export async function rpcAll<T>(method: string, body: Record<string, unknown> = {}, max = 1000): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await rpcPage<T>(method, { ...body, ...(cursor ? { cursor } : {}), limit: 100 });
    items.push(...page.data);
    cursor = page.hasMore ? page.cursor : undefined;
  } while (cursor && items.length < max);
  return items;
}

/** A plain GET; `withKey` sends the root key (invoice pages need it, /metrics and /readyz do not). */
export async function getText(path: string, withKey = false): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  const key = rootKey();
  if (withKey && key) headers.Authorization = `Bearer ${key}`;
  try {
    const response = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    return { status: response.status, text: await response.text() };
  } catch {
    throw new ApiError(0, 'Network error', `tollgate did not answer GET ${path}`);
  }
}

/** A message for a person: the API's detail, with the fields it names. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.detail || error.title;
  return error instanceof Error ? error.message : String(error);
}
