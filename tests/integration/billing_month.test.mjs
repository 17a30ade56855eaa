// Issue 5, Done-when 2: a whole month (October 2026, 31 days) played through the API for three
// customers, closed, and every line and total checked against numbers worked out by hand (the
// README's billing example). The server runs under libfaketime three times on one database:
//   2026-09-30 23:59  tiers priced, customers created (free-co: free, pro-co and ent-co: pro);
//   2026-10-16 00:00  ent-co upgraded to enterprise; free-co's key verified past its quota of 3;
//   2026-11-02 00:00  October's metered usage ingested with its real timestamps, period closed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import { createApi, createKey, expectError, expectFieldError, expectOk, verify } from './lib/expect.mjs';
import { startServer } from './lib/server.mjs';

const kFaketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const at = (when) => ({ LD_PRELOAD: kFaketime, FAKETIME: `@${when}`, FAKETIME_DONT_FAKE_MONOTONIC: '1' });
const cent = 1_000_000;  // one cent in micro-units
const oct = (day, hour = 12) => Date.UTC(2026, 9, day, hour);

async function call(server, path, body) {
  return expectOk(await server.call(`/v2/${path}`, body), path);
}

function lines(invoice, kind, meter, tier) {
  return invoice.lines.filter((l) => l.kind === kind && l.meter === meter && l.tier === tier);
}
function amount(invoice, kind, meter, tier) {
  return lines(invoice, kind, meter, tier).reduce((sum, l) => sum + l.amount, 0);
}

test('October for free, pro and an upgraded customer closes to the hand-worked invoices', async (t) => {
  assert.ok(fs.existsSync(kFaketime), `${kFaketime} is missing: make deps installs libfaketime`);
  const server = await startServer({ env: at('2026-09-30 23:59:00') });
  t.after(() => server.stop());

  // Prices. free: 3 requests a month, blocked past them. pro: 49.00, 1M requests, then 0.50 per
  // 1,000 for the first 1M over and 0.30 beyond (graduated); 2M tokens, then 0.02 per 1,000 up to
  // 10M over, 0.01 beyond (volume). enterprise: 999.00, 50M requests, 100M tokens, 0.005 per 1,000.
  await call(server, 'tiers.updateTier', { name: 'free', includedQuota: 3 });
  await call(server, 'tiers.updateTier', {
    name: 'pro',
    pricing: {
      baseFee: 4900,
      meters: [
        { meter: 'requests', packageSize: 1000, slices: [{ upTo: 1_000_000, priceMicros: 50 * cent }, { priceMicros: 30 * cent }] },
        { meter: 'tokens', included: 2_000_000, model: 'volume', packageSize: 1000,
          slices: [{ upTo: 10_000_000, priceMicros: 2 * cent }, { priceMicros: 1 * cent }] },
      ],
    },
  });
  await call(server, 'tiers.updateTier', {
    name: 'enterprise',
    pricing: { baseFee: 99900, meters: [{ meter: 'tokens', included: 100_000_000, packageSize: 1000, slices: [{ priceMicros: cent / 2 }] }] },
  });
  await call(server, 'identities.createIdentity', { externalId: 'free-co', tier: 'free' });
  await call(server, 'identities.createIdentity', { externalId: 'pro-co', tier: 'pro' });
  await call(server, 'identities.createIdentity', { externalId: 'ent-co', tier: 'pro' });
  const apiId = await createApi(server, 'billing');
  const freeKey = await createKey(server, apiId, { externalId: 'free-co' });

  // Mid-month: the upgrade, and free-co's verifications, blocked past its quota.
  await server.restart({ env: at('2026-10-16 00:00:00') });
  await call(server, 'identities.updateIdentity', { identity: 'ent-co', tier: 'enterprise' });
  const codes = [];
  for (let i = 0; i < 5; ++i) codes.push((await verify(server, freeKey.key)).code);
  assert.deepEqual(codes, ['VALID', 'VALID', 'VALID', 'USAGE_EXCEEDED', 'USAGE_EXCEEDED']);
  expectFieldError(await server.call('/v2/billing.closePeriod', { period: '2026-10' }), 'body.period');

  // After the month: its metered usage arrives with the times it happened, then the close.
  await server.restart({ env: at('2026-11-02 00:00:00') });
  const events = [
    ['free-co', 'tokens', 60_000, oct(2)],
    ['pro-co', 'requests', 2_600_000, oct(10)],
    ['pro-co', 'tokens', 5_500_000, oct(21)],
    ['ent-co', 'requests', 900_000, oct(11)],  // under pro
    ['ent-co', 'tokens', 1_000_000, oct(12)],  // under pro
    ['ent-co', 'requests', 3_000_000, oct(20)],  // under enterprise
    ['ent-co', 'tokens', 4_000_000, oct(21)],  // under enterprise
  ].map(([externalId, meter, quantity, timestamp], i) => ({ eventId: `oct-${i}`, externalId, meter, quantity, timestamp }));
  assert.equal((await call(server, 'usage.ingest', { events })).ingested, events.length);

  const closed = await call(server, 'billing.closePeriod', { period: '2026-10' });
  assert.equal(closed.created, 3);
  const byCustomer = Object.fromEntries(closed.invoices.map((i) => [i.externalId, i]));
  assert.deepEqual(closed.invoices.map((i) => i.number), ['INV-000001', 'INV-000002', 'INV-000003']);
  for (const invoice of closed.invoices) {
    assert.equal(invoice.status, 'finalized');
    assert.equal(invoice.currency, 'USD');
    assert.equal(invoice.period, '2026-10');
    assert.equal(invoice.total, invoice.lines.reduce((sum, l) => sum + l.amount, 0), 'total = sum of lines');
  }

  // free-co: 3 of 3 requests included (the 2 refused ones were never served, so never counted);
  // tokens are not priced in free. 0.00.
  const free = byCustomer['free-co'];
  assert.equal(lines(free, 'included', 'requests', 'free')[0].quantity, 3);
  assert.equal(lines(free, 'overage', 'requests', 'free').length, 0);
  assert.equal(lines(free, 'included', 'tokens', 'free')[0].quantity, 60_000);
  assert.equal(free.total, 0);

  // pro-co: 49.00 + requests 1.6M over = 1,000 x 0.50 + 600 x 0.30 = 680.00
  //              + tokens 3.5M over, all at 0.02 (volume) = 70.00 => 799.00
  const pro = byCustomer['pro-co'];
  assert.equal(amount(pro, 'base_fee', '', 'pro'), 4900);
  const requests = lines(pro, 'overage', 'requests', 'pro')[0];
  assert.equal(requests.quantity, 1_600_000);
  assert.deepEqual(requests.slices, [
    { quantity: 1_000_000, packages: 1000, priceMicros: 50 * cent },
    { quantity: 600_000, packages: 600, priceMicros: 30 * cent },
  ]);
  assert.equal(requests.amount, 68_000);
  assert.equal(amount(pro, 'overage', 'tokens', 'pro'), 7_000);
  assert.equal(pro.total, 79_900);

  // ent-co: pro for 15 of 31 days, enterprise for 16 (the upgrade a few ms after midnight of the
  // 16th changes no rounding).
  //   base 49.00 x 15/31 = 23.71; 999.00 x 16/31 = 515.61
  //   pro requests: 900,000 used, 1M x 15/31 = 483,871 included, 416,129 over = 417 packages
  //     (the last one started) x 0.50 = 208.50
  //   pro tokens: 1M used, 2M x 15/31 = 967,742 included, 32,258 over = 33 x 0.02 = 0.66
  //   enterprise: 3M requests and 4M tokens are inside 16/31 of 50M and 100M.
  //   total 23.71 + 515.61 + 208.50 + 0.66 = 748.48
  const ent = byCustomer['ent-co'];
  assert.equal(amount(ent, 'base_fee', '', 'pro'), 2_371);
  assert.equal(amount(ent, 'base_fee', '', 'enterprise'), 51_561);
  assert.equal(lines(ent, 'included', 'requests', 'pro')[0].quantity, 483_871);
  assert.equal(lines(ent, 'overage', 'requests', 'pro')[0].quantity, 416_129);
  assert.equal(amount(ent, 'overage', 'requests', 'pro'), 20_850);
  assert.equal(amount(ent, 'overage', 'tokens', 'pro'), 66);
  assert.equal(lines(ent, 'overage', 'requests', 'enterprise').length, 0);
  assert.equal(lines(ent, 'included', 'requests', 'enterprise')[0].quantity, 3_000_000);
  assert.equal(ent.total, 74_848);

  // Closing again: the same invoices, nothing new.
  const again = await call(server, 'billing.closePeriod', { period: '2026-10' });
  assert.equal(again.created, 0);
  assert.deepEqual(again.invoices, closed.invoices);
  assert.deepEqual(await call(server, 'billing.getInvoice', { invoiceId: pro.invoiceId }), pro);
  assert.deepEqual((await call(server, 'billing.listInvoices', { period: '2026-10' })).map((i) => i.number),
    ['INV-000001', 'INV-000002', 'INV-000003']);

  // The live draft of November: pro-co's base fee so far, no number.
  const preview = await call(server, 'billing.previewInvoice', { externalId: 'pro-co' });
  assert.equal(preview.period, '2026-11');
  assert.equal(preview.number, '');
  assert.equal(preview.total, 4900);

  // Voiding needs a reason; a voided invoice is re-issued by closing again, with a new number.
  expectFieldError(await server.call('/v2/billing.voidInvoice', { invoiceId: free.invoiceId }), 'body.reason');
  const voided = await call(server, 'billing.voidInvoice', { invoiceId: free.invoiceId, reason: 'sent to the wrong address' });
  assert.equal(voided.status, 'void');
  assert.equal(voided.voidReason, 'sent to the wrong address');
  expectError(await server.call('/v2/billing.voidInvoice', { invoiceId: free.invoiceId, reason: 'again' }), 409);
  const reissued = await call(server, 'billing.closePeriod', { period: '2026-10' });
  assert.equal(reissued.created, 1);
  const newFree = reissued.invoices.find((i) => i.externalId === 'free-co');
  assert.equal(newFree.number, 'INV-000004');
  assert.deepEqual(newFree.lines, free.lines);
  expectError(await server.call('/v2/billing.getInvoice', { invoiceId: 'inv_nope' }), 404);
});

test('an identity can bill on anniversary months; the preview runs from its creation', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const before = Date.now();
  const created = await call(server, 'identities.createIdentity', { externalId: 'anni-co', tier: 'pro', billingCycle: 'anniversary' });
  assert.equal((await call(server, 'identities.getIdentity', { identity: 'anni-co' })).billingCycle, 'anniversary');
  assert.ok(created);
  const preview = await call(server, 'billing.previewInvoice', { externalId: 'anni-co' });
  assert.ok(preview.periodStart >= before && preview.periodStart <= Date.now(), 'the month starts when the identity was created');
  const start = new Date(preview.periodStart);
  const nextMonth = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  const lastDay = new Date(Date.UTC(nextMonth.getUTCFullYear(), nextMonth.getUTCMonth() + 1, 0)).getUTCDate();
  const expectedEnd = Date.UTC(nextMonth.getUTCFullYear(), nextMonth.getUTCMonth(), Math.min(start.getUTCDate(), lastDay),
    start.getUTCHours(), start.getUTCMinutes(), start.getUTCSeconds(), start.getUTCMilliseconds());
  assert.equal(preview.periodEnd, expectedEnd);
  assert.equal(preview.total, 4900, 'a whole month of pro so far: its base fee');

  const calendar = await call(server, 'identities.updateIdentity', { identity: 'anni-co', billingCycle: 'calendar' });
  assert.equal(calendar.billingCycle, 'calendar');
  expectFieldError(await server.call('/v2/identities.updateIdentity', { identity: 'anni-co', billingCycle: 'weekly' }),
    'body.billingCycle');
});
