// deploy/grafana/tollgate.json as a Grafana user imports it: JSON Grafana 9/10 takes (schema 38),
// one data source variable that every panel queries through (so that the file works both when
// imported and when provisioned), an `instance` variable that every query filters on, panels that
// do not overlap, and queries Prometheus accepts: each is handed to `promtool check rules` as a
// recording rule, with Grafana's variables replaced the way Grafana would.
//
// Hermetic and fast (ctest -L unit). Run alone: PROMTOOL=promtool node --test dashboard.test.mjs
// Whether the metrics it names exist is checked against a real tollgate by
// tests/integration/prometheus_scrape.test.mjs.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { dashboardQueries, readDashboard } from './referenced_metrics.mjs';

const run = promisify(execFile);
const kPromtool = process.env.PROMTOOL ?? 'promtool';
const kDataSource = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
const kGridWidth = 24;

const dashboard = readDashboard();
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');

test('the dashboard is importable: schema 38, a uid, a Prometheus data source variable and an instance variable', () => {
  assert.equal(dashboard.schemaVersion, 38);
  assert.equal(dashboard.uid, 'tollgate');
  assert.equal(dashboard.id, null, 'an exported dashboard has no database id');
  const variables = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
  assert.deepEqual(Object.keys(variables).sort(), ['DS_PROMETHEUS', 'instance']);
  assert.equal(variables.DS_PROMETHEUS.type, 'datasource');
  assert.equal(variables.DS_PROMETHEUS.query, 'prometheus');
  const instance = variables.instance;
  assert.equal(instance.type, 'query');
  assert.deepEqual(instance.datasource, kDataSource);
  assert.match(instance.query.query, /^label_values\(tollgate_build_info\{job="tollgate"\}, instance\)$/);
  assert.ok(instance.multi && instance.includeAll, 'several nodes can be picked at once');
});

test('every panel queries Prometheus through ${DS_PROMETHEUS} and filters on $instance', () => {
  assert.ok(panels.length >= 25, `only ${panels.length} panels`);
  const ids = dashboard.panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length, `panel ids repeat: ${ids}`);
  for (const panel of panels) {
    assert.deepEqual(panel.datasource, kDataSource, `panel "${panel.title}"`);
    assert.ok(panel.title && panel.description, `panel ${panel.id} needs a title and a description`);
    assert.ok(panel.targets?.length > 0, `panel "${panel.title}" has no query`);
    const refIds = panel.targets.map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `panel "${panel.title}": refIds repeat`);
    for (const target of panel.targets) {
      assert.deepEqual(target.datasource, kDataSource, `panel "${panel.title}" ${target.refId}`);
      assert.match(target.expr, /instance=~"\$instance"/, `panel "${panel.title}" ${target.refId}: ${target.expr}`);
    }
  }
});

test('panels fit the 24-column grid without overlapping', () => {
  const cells = new Map();
  for (const panel of dashboard.panels) {
    const { x, y, w, h } = panel.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= kGridWidth && y >= 0 && h > 0, `panel "${panel.title}": ${JSON.stringify(panel.gridPos)}`);
    for (let row = y; row < y + h; ++row) {
      for (let col = x; col < x + w; ++col) {
        const key = `${row},${col}`;
        assert.ok(!cells.has(key), `panels "${cells.get(key)}" and "${panel.title}" overlap at row ${row}, column ${col}`);
        cells.set(key, panel.title);
      }
    }
  }
});

test('every panel query is PromQL that promtool accepts', async (t) => {
  const queries = dashboardQueries(dashboard);
  // Grafana's substitutions: $__rate_interval becomes a duration, a multi-value $instance a regex.
  const rules = queries.map((q, i) => ({
    record: `dashboard:query_${i}`,
    expr: q.expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', 'node-a:8080|node-b:8080'),
  }));
  for (const rule of rules) assert.ok(!rule.expr.includes('$'), `a Grafana variable left in ${rule.expr}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-dashboard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'dashboard_rules.yml');
  // JSON is YAML: no YAML library needed.
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }, null, 1));
  const result = await run(kPromtool, ['check', 'rules', file]).catch((error) => error);
  if (result.code === 'ENOENT') assert.fail(`${kPromtool} not found: install the Debian package prometheus (make deps)`);
  const index = queries.map((q, i) => `dashboard:query_${i} = panel "${q.panel}" ${q.refId}`).join('\n  ');
  assert.equal(result.code ?? 0, 0, `promtool check rules failed:\n${result.stdout}${result.stderr}\n  ${index}`);
  assert.match(result.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
});
