// Keys as apis.listKeys / keys.getKey answer them, and the recently opened APIs. tollgate's API
// has no call that lists APIs, so the page opens one by its id (from the URL, or typed) and keeps
// the ids opened in this tab, which are not secret, in sessionStorage.

import type { Identity, RateLimit } from './identities';

export interface Credits {
  remaining: number | null;
  refill?: { interval: 'daily' | 'monthly'; amount: number; refillDay?: number };
}

export interface Key {
  keyId: string;
  start: string;
  enabled: boolean;
  name?: string;
  meta?: Record<string, unknown>;
  createdAt: number;
  updatedAt?: number;
  expires?: number;
  permissions: string[];
  roles: string[];
  credits?: Credits;
  identity?: Identity;
  ratelimits?: RateLimit[];
  tier?: string;
}

const kRecentApis = 'tollgate.recentApis';

export function recentApis(): { apiId: string; name: string }[] {
  try {
    return JSON.parse(sessionStorage.getItem(kRecentApis) ?? '[]') as { apiId: string; name: string }[];
  } catch {
    return [];
  }
}

export function rememberApi(apiId: string, name: string): void {
  const list = [{ apiId, name }, ...recentApis().filter((api) => api.apiId !== apiId)].slice(0, 8);
  sessionStorage.setItem(kRecentApis, JSON.stringify(list));
}

export function keyStatus(key: Key, now = Date.now()): { label: string; tone: 'ok' | 'bad' | 'warn' | 'muted' } {
  if (!key.enabled) return { label: 'disabled', tone: 'muted' };
  if (key.expires !== undefined && key.expires <= now) return { label: 'expired', tone: 'bad' };
  if (key.credits && key.credits.remaining !== null && key.credits.remaining <= 0) return { label: 'no credits', tone: 'warn' };
  return { label: 'active', tone: 'ok' };
}
