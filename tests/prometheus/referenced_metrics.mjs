// Which metric families the operator files name: deploy/prometheus/alerts.yml (expressions and
// the runbook hints in annotations) and deploy/grafana/tollgate.json (queries and descriptions).
// Both are read as text and every tollgate_* / process_* word is taken, so that a renamed metric
// is caught wherever an operator would read the old name. Histogram series (_bucket, _sum,
// _count) count as their family.
//
// Used by dashboard.test.mjs (hermetic) and tests/integration/prometheus_scrape.test.mjs, which
// compares the names with what a real tollgate serves on /metrics.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const kRepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const kPrometheusDir = path.join(kRepoRoot, 'deploy', 'prometheus');
export const kAlertsPath = path.join(kPrometheusDir, 'alerts.yml');
export const kDashboardPath = path.join(kRepoRoot, 'deploy', 'grafana', 'tollgate.json');

// Not inside a recording rule's name (instance_job:tollgate_http_requests:rate5m is no metric).
const kMetricWord = /(?<![\w:])(?:tollgate|process)_[a-z0-9_]*[a-z0-9](?![\w:])/g;

/** The family a series name belongs to: histogram series lose _bucket, _sum or _count. */
export function familyOf(name) {
  return name.replace(/_(bucket|sum|count)$/, '');
}

/** The metric families named in `text`, sorted. */
export function referencedFamilies(text) {
  return [...new Set((text.match(kMetricWord) ?? []).map(familyOf))].sort();
}

export function readDashboard() {
  return JSON.parse(readFileSync(kDashboardPath, 'utf8'));
}

/** Every query of the dashboard: [{ panel (title), refId, expr }], rows left out. */
export function dashboardQueries(dashboard = readDashboard()) {
  return dashboard.panels
    .filter((panel) => panel.type !== 'row')
    .flatMap((panel) => (panel.targets ?? []).map((t) => ({ panel: panel.title, refId: t.refId, expr: t.expr })));
}
