// Issue 5, exports: the printable page of one invoice (GET /billing/invoices/<invoiceId>.html)
// and billing.exportInvoices as JSON and CSV, checked against billing.getInvoice for invoices
// closed from a month of usage.ingest. The server runs under libfaketime three times: on
// 2026-09-28 (the two customers are created on pro), on 2026-10-15 (their October usage
// arrives) and on 2026-11-02 (October is closed), so October is a whole month on pro and every
// amount below is worked out by hand. One customer's external id is built to break HTML and CSV.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import { createRootKey, describeResponse, expectError, expectFieldError, expectOk } from './lib/expect.mjs';
import { parseCsv } from './lib/csv.mjs';
import { startServer } from './lib/server.mjs';

const kFaketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const serverClockAt = (when) => ({ LD_PRELOAD: kFaketime, FAKETIME: `@${when}`, FAKETIME_DONT_FAKE_MONOTONIC: '1' });

const kAcme = 'acme <script>alert("x")</script>, "inc"';
const kAcmeHtml = 'acme &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;, &quot;inc&quot;';
const kCent = 1_000_000;  // a price of one cent, in micro-units

// pro: 49.00 a month with 100,000 tokens included, then 0.50 per 1,000 tokens for the first
// 1,000,000 over and 0.30 per 1,000 beyond (graduated).
const kProPricing = {
  currency: 'USD',
  baseFee: 4900,
  meters: [{
    meter: 'tokens', included: 100_000, model: 'graduated', packageSize: 1000,
    slices: [{ upTo: 1_000_000, priceMicros: 50 * kCent }, { priceMicros: 30 * kCent }],
  }],
};

const kCsvColumns = ['number', 'invoiceId', 'externalId', 'period', 'status', 'currency', 'lineKind', 'description',
  'tier', 'meter', 'quantity', 'unitPriceMicros', 'packageSize', 'amount', 'amountFormatted', 'total',
  'totalFormatted'];

// Minor units of USD as the CSV writes them: 17450 -> "174.50" (integers only, like the server).
const dollars = (minor) =>
  `${minor < 0 ? '-' : ''}${Math.floor(Math.abs(minor) / 100)}.${String(Math.abs(minor) % 100).padStart(2, '0')}`;

async function rpc(server, name, body, options) {
  return expectOk(await server.call(`/v2/${name}`, body, options), name);
}

const page = (server, path, options = {}) => server.call(path, undefined, { method: 'GET', ...options });

// The CSV rows as objects by column name, after checking the header.
function csvRecords(text) {
  const [header, ...rows] = parseCsv(text);
  assert.deepEqual(header, kCsvColumns);
  for (const row of rows) assert.equal(row.length, kCsvColumns.length, JSON.stringify(row));
  return rows.map((row) => Object.fromEntries(kCsvColumns.map((name, i) => [name, row[i]])));
}

// Each invoice's rows say what billing.getInvoice says of it, line by line.
function assertCsvMatches(records, invoices) {
  assert.equal(records.length, invoices.reduce((n, invoice) => n + invoice.lines.length, 0));
  for (const invoice of invoices) {
    const rows = records.filter((r) => r.invoiceId === invoice.invoiceId);
    assert.equal(rows.length, invoice.lines.length, invoice.number);
    rows.forEach((row, i) => {
      const line = invoice.lines[i];
      assert.deepEqual(row, {
        number: invoice.number, invoiceId: invoice.invoiceId, externalId: invoice.externalId, period: invoice.period,
        status: invoice.status, currency: invoice.currency, lineKind: line.kind, description: line.description,
        tier: line.tier, meter: line.meter, quantity: String(line.quantity),
        unitPriceMicros: line.unitPriceMicros === null ? '' : String(line.unitPriceMicros),
        packageSize: String(line.packageSize), amount: String(line.amount), amountFormatted: dollars(line.amount),
        total: String(invoice.total), totalFormatted: dollars(invoice.total),
      }, `${invoice.number} line ${i}`);
    });
    assert.equal(rows.reduce((sum, r) => sum + Number(r.amount), 0), invoice.total, `${invoice.number}: lines add up`);
  }
}

function assertAttachment(res, contentType, filename) {
  assert.equal(res.status, 200, describeResponse(res));
  assert.equal(res.headers['content-type'], contentType);
  assert.equal(res.headers['content-disposition'], `attachment; filename="${filename}"`);
}

test('invoice pages and exports say what billing.getInvoice says, escaped and formatted', async (t) => {
  assert.ok(fs.existsSync(kFaketime), `${kFaketime} is missing: make deps installs libfaketime`);
  const server = await startServer({ env: serverClockAt('2026-09-28 12:00:00') });
  t.after(() => server.stop());

  await rpc(server, 'tiers.updateTier', { name: 'pro', overagePolicy: 'allow', pricing: kProPricing });
  await rpc(server, 'identities.createIdentity', { externalId: kAcme, tier: 'pro' });
  await rpc(server, 'identities.createIdentity', { externalId: 'globex', tier: 'pro' });

  await server.restart({ env: serverClockAt('2026-10-15 12:00:00') });
  await rpc(server, 'usage.ingest', { events: [
    { eventId: 'oct-1', externalId: kAcme, meter: 'tokens', quantity: 200_000 },
    { eventId: 'oct-2', externalId: kAcme, meter: 'tokens', quantity: 150_500 },
    { eventId: 'oct-3', externalId: 'globex', meter: 'tokens', quantity: 3_600_000 },
  ] });

  await server.restart({ env: serverClockAt('2026-11-02 12:00:00') });
  const closed = await rpc(server, 'billing.closePeriod', { period: '2026-10' });
  const invoiceOf = (externalId) => closed.invoices.find((i) => i.externalId === externalId);
  // acme: 49.00 + 250,500 tokens over = 251 packages at 0.50 = 125.50; 174.50 in all.
  // globex: 49.00 + 3,500,000 over = 1,000 packages at 0.50 (500.00) + 2,500 at 0.30 (750.00); 1,299.00.
  assert.equal(invoiceOf(kAcme)?.total, 17_450, JSON.stringify(closed));
  assert.equal(invoiceOf('globex')?.total, 129_900, JSON.stringify(closed));
  const acmeId = invoiceOf(kAcme).invoiceId;
  const globexId = invoiceOf('globex').invoiceId;

  await t.test('the HTML page of an invoice', async () => {
    const acme = await rpc(server, 'billing.getInvoice', { invoiceId: acmeId });
    const res = await page(server, `/billing/invoices/${acmeId}.html`);
    assert.equal(res.status, 200, describeResponse(res));
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers['content-security-policy'], "default-src 'none'; style-src 'unsafe-inline'");
    assert.equal(res.headers['cache-control'], 'no-store');
    const html = res.text;
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.ok(html.includes(`<h1>Invoice <span class="number">${acme.number}</span></h1>`), html);
    assert.ok(html.includes(`<dt>Customer</dt><dd>${kAcmeHtml}</dd>`), 'the external id, escaped');
    assert.ok(!html.includes('<script'), 'no script, not even the one in the external id');
    assert.ok(html.includes('<dt>Period</dt><dd>2026-10 (2026-10-01 to 2026-10-31, UTC)</dd>'));
    assert.ok(html.includes('<td class="num">250,500</td><td class="num">0.50 per 1,000</td><td class="num">125.50</td>'),
      'the overage line: quantity, unit price per package, amount');
    assert.ok(html.includes('<th colspan="4">Total (USD)</th><td class="num total">174.50</td>'));
    assert.ok(!html.includes('class="void-banner"'));
    assert.equal((html.match(/<tr><td>/g) ?? []).length, acme.lines.length, 'one row per line');

    const head = await page(server, `/billing/invoices/${acmeId}.html`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  await t.test('a void invoice carries a banner with its reason', async () => {
    await rpc(server, 'billing.voidInvoice', { invoiceId: globexId, reason: 'issued twice <b>by mistake</b>' });
    const res = await page(server, `/billing/invoices/${globexId}.html`);
    assert.equal(res.status, 200, describeResponse(res));
    assert.match(res.text, /<div class="void-banner" role="alert"><strong>VOID<\/strong> This invoice was voided on 2026-11-02 and is not to be paid\. Reason: issued twice &lt;b&gt;by mistake&lt;\/b&gt;<\/div>/);
    assert.ok(res.text.includes('<td class="num">1,000,000 at 0.50 per 1,000<br>2,500,000 at 0.30 per 1,000</td>'));
    assert.ok(res.text.includes('<td class="num total">1,299.00</td>'));
  });

  await t.test('the CSV export: one row per line, totals as getInvoice says', async () => {
    const invoices = [await rpc(server, 'billing.getInvoice', { invoiceId: acmeId }),
      await rpc(server, 'billing.getInvoice', { invoiceId: globexId })];
    const res = await server.call('/v2/billing.exportInvoices', { period: '2026-10', format: 'csv' });
    assertAttachment(res, 'text/csv; charset=utf-8', 'invoices-2026-10.csv');
    const records = csvRecords(res.text);
    assertCsvMatches(records, invoices);
    const acmeRow = records.find((r) => r.invoiceId === acmeId);
    assert.equal(acmeRow.externalId, kAcme, 'quotes and commas survive the round trip');
    assert.equal(acmeRow.totalFormatted, '174.50');
    assert.deepEqual(new Set(records.filter((r) => r.invoiceId === globexId).map((r) => r.totalFormatted)), new Set(['1299.00']));
    const overage = records.find((r) => r.invoiceId === acmeId && r.lineKind === 'overage');
    assert.deepEqual([overage.quantity, overage.unitPriceMicros, overage.packageSize, overage.amount, overage.amountFormatted],
      ['250500', String(50 * kCent), '1000', '12550', '125.50']);

    const onlyVoid = await server.call('/v2/billing.exportInvoices', { status: 'void', format: 'csv' });
    assertAttachment(onlyVoid, 'text/csv; charset=utf-8', 'invoices.csv');
    const voidRecords = csvRecords(onlyVoid.text);
    assertCsvMatches(voidRecords, [invoices[1]]);
    assert.ok(voidRecords.every((r) => r.status === 'void'));
  });

  await t.test('the JSON export is the invoices of billing.listInvoices, as a file', async () => {
    const listed = await rpc(server, 'billing.listInvoices', { period: '2026-10' });
    assert.equal(listed.length, 2);
    const all = await server.call('/v2/billing.exportInvoices', { period: '2026-10', format: 'json' });
    assertAttachment(all, 'application/json', 'invoices-2026-10.json');
    assert.deepEqual(JSON.parse(all.text), listed);

    const acme = await server.call('/v2/billing.exportInvoices', { externalId: kAcme, format: 'json' });
    assertAttachment(acme, 'application/json', 'invoices.json');
    assert.deepEqual(JSON.parse(acme.text), [await rpc(server, 'billing.getInvoice', { invoiceId: acmeId })]);
  });

  await t.test('a root key with billing.*.read is needed; unknown invoices are 404', async () => {
    const pagePath = `/billing/invoices/${acmeId}.html`;
    expectError(await page(server, pagePath, { rootKey: null }), 401, 'page without a key');
    expectError(await page(server, pagePath, { rootKey: 'tg_root_not_a_key_at_all' }), 401, 'page with an unknown key');
    const exportBody = { format: 'csv' };
    expectError(await server.call('/v2/billing.exportInvoices', exportBody, { rootKey: null }), 401, 'export without a key');

    const keysOnly = await createRootKey(server, ['api.*.read_key'], 'keys-only');
    const forbidden = expectError(await page(server, pagePath, { rootKey: keysOnly.key }), 403, 'page without the scope');
    assert.match(forbidden.detail, /billing\.\*\.read/);
    expectError(await server.call('/v2/billing.exportInvoices', exportBody, { rootKey: keysOnly.key }), 403, 'export without the scope');

    const reader = await createRootKey(server, ['billing.*.read'], 'billing-reader');
    assert.equal((await page(server, pagePath, { rootKey: reader.key })).status, 200);
    assert.equal((await server.call('/v2/billing.exportInvoices', exportBody, { rootKey: reader.key })).status, 200);

    const unknown = expectError(await page(server, '/billing/invoices/inv_doesNotExist.html'), 404, 'unknown invoice');
    assert.match(unknown.detail, /inv_doesNotExist/);
    expectError(await page(server, `/billing/invoices/${acmeId}`), 404, 'no .html');
    expectError(await page(server, `/billing/invoices/${acmeId}.html/x`), 404, 'a path below the page');
    expectError(await server.call(pagePath, {}), 405, 'POST to the page');
  });

  await t.test('export bodies are validated', async () => {
    expectFieldError(await server.call('/v2/billing.exportInvoices', {}), 'body.format', 'no format');
    expectFieldError(await server.call('/v2/billing.exportInvoices', { format: 'xml' }), 'body.format', 'unknown format');
    expectFieldError(await server.call('/v2/billing.exportInvoices', { format: 'csv', period: 'Oct-026' }), 'body.period', 'not YYYY-MM');
    expectFieldError(await server.call('/v2/billing.exportInvoices', { format: 'csv', status: 'paid' }), 'body.status', 'unknown status');
  });
});
