// Customers (identities) with their tier and this month's use of the tier's quota. The quota a
// verification reports is the tier's includedQuota against the VALID verifications of the
// calendar month (UTC); the page reads the same two numbers from identities.*, tiers.* and
// usage.*. A tier chosen by --default-tier or on a key itself is not visible per identity, so
// an identity without a tier shows no gauge.

import { rpc, rpcAll } from './api';
import { currentMonth } from './range';
import type { TopEntry } from './usage';

export interface RateLimit {
  name: string;
  limit: number;
  duration: number;
  algorithm?: string;
  autoApply?: boolean;
}

export interface Identity {
  id: string;
  externalId: string;
  meta?: Record<string, unknown>;
  ratelimits: RateLimit[];
  tier?: string;
  billingCycle: 'calendar' | 'anniversary';
}

export interface MeterPricing {
  meter: string;
  included?: number;
  model?: 'graduated' | 'volume';
  packageSize?: number;
  slices: { upTo?: number | null; priceMicros: number }[];
}

export interface Tier {
  name: string;
  description: string;
  ratelimits: RateLimit[];
  includedQuota: number | null;
  overagePolicy: 'block' | 'allow' | 'throttle';
  throttleTo: string | null;
  gracePercent: number;
  pricing: { currency: string; baseFee: number; overageUnitPriceMicros: number; meters: MeterPricing[] };
  builtin: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface QuotaRow {
  externalId: string;
  tier: string;
  used: number;
  included: number;
  ratio: number;
}

export const listTiers = () => rpc<Tier[]>('tiers.listTiers');

/** Identities at or above `threshold` of their tier's monthly quota, fullest first. */
export async function identitiesNearQuota(threshold: number): Promise<QuotaRow[]> {
  const [tiers, identities, top] = await Promise.all([
    listTiers(),
    rpcAll<Identity>('identities.listIdentities'),
    rpc<TopEntry[]>('usage.topIdentities', { ...currentMonth(), limit: 100 }),
  ]);
  const tierOf = new Map(identities.map((identity) => [identity.externalId, identity.tier]));
  const quotaOf = new Map(tiers.map((tier) => [tier.name, tier.includedQuota]));
  const rows: QuotaRow[] = [];
  for (const entry of top) {
    const tier = tierOf.get(entry.externalId ?? '');
    const included = tier ? quotaOf.get(tier) : undefined;
    if (!tier || included === undefined || included === null) continue;
    const ratio = included > 0 ? entry.valid / included : Infinity;
    if (ratio >= threshold) rows.push({ externalId: entry.externalId!, tier, used: entry.valid, included, ratio });
  }
  return rows.sort((a, b) => b.ratio - a.ratio);
}
