// Overview: live verifications per second (from /metrics, this node), outcomes over time, the
// busiest keys and customers, customers near their quota, and the health of the store and
// backends (/readyz and the readiness gauges).

import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { getText, rpc } from '../lib/api';
import { fmtNumber, fmtPercent, fmtRate, shortId } from '../lib/format';
import { useAsync } from '../lib/hooks';
import { identitiesNearQuota } from '../lib/identities';
import type { Metrics } from '../lib/metrics';
import { parseMetrics, sum } from '../lib/metrics';
import { rangeBounds, rangeById } from '../lib/range';
import { href } from '../lib/route';
import type { TopEntry } from '../lib/usage';
import { describeOutcomes, outcomesOver, summaryOver } from '../lib/usage';
import { Chart } from '../components/Chart';
import { Badge, Card, ErrorNotice, Listing, Loading, PageHead, QuotaGauge, RangePicker, Table } from '../components/ui';

const kLivePollMs = 2000;
const kLiveWindow = 60; // samples: two minutes

interface LiveSample {
  at: number;
  total: number;
  valid: number;
}

/** Polls /metrics; verifications per second between the last two samples, and the recent history. */
function useLiveRate() {
  const [state, setState] = useState<{ rates: { at: number; rate: number; denied: number }[]; metrics?: Metrics; off?: boolean; error?: string }>({ rates: [] });
  const last = useRef<LiveSample | null>(null);
  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const { status, text } = await getText('/metrics');
        if (stopped) return;
        if (status === 404) return setState({ rates: [], off: true });
        const metrics = parseMetrics(text);
        const sample = {
          at: performance.now(),
          total: sum(metrics, 'tollgate_verifications_total') ?? 0,
          valid: sum(metrics, 'tollgate_verifications_total', { code: 'VALID' }) ?? 0,
        };
        const previous = last.current;
        last.current = sample;
        setState((s) => {
          if (!previous) return { ...s, metrics, error: undefined };
          const seconds = (sample.at - previous.at) / 1000;
          // A restart resets the counters: count that interval as nothing rather than negative.
          const rate = Math.max(0, sample.total - previous.total) / seconds;
          const denied = Math.max(0, sample.total - sample.valid - (previous.total - previous.valid)) / seconds;
          return { metrics, rates: [...s.rates, { at: Date.now(), rate, denied }].slice(-kLiveWindow) };
        });
      } catch (error) {
        if (!stopped) setState((s) => ({ ...s, error: String(error) }));
      }
    };
    poll();
    const timer = setInterval(() => document.visibilityState === 'visible' && poll(), kLivePollMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  return state;
}

export function Overview() {
  const [rangeId, setRangeId] = useState('24h');
  const range = rangeById(rangeId);
  const live = useLiveRate();
  const usage = useAsync(
    () => Promise.all([summaryOver(range), outcomesOver(range)]),
    [rangeId],
    10_000,
  );
  const top = useAsync(
    () => Promise.all([
      rpc<TopEntry[]>('usage.topKeys', { ...rangeBounds(range), limit: 5 }),
      rpc<TopEntry[]>('usage.topIdentities', { ...rangeBounds(range), limit: 5 }),
    ]),
    [rangeId],
    10_000,
  );
  const nearQuota = useAsync(() => identitiesNearQuota(0.8), [], 30_000);

  const current = live.rates.at(-1);
  const [summary, outcomes] = usage.data ?? [];

  return (
    <>
      <PageHead title="Overview" subtitle="Traffic, customers and the health of this tollgate.">
        <RangePicker value={rangeId} onChange={setRangeId} label="Range of the usage figures" />
      </PageHead>

      <section aria-label="Key figures">
        <dl class="stats">
          <Stat label="Verifications / s" live hint={live.off ? 'metrics are off (--metrics false)' : 'live, this node, every 2 s'}>
            {live.off ? '—' : current ? fmtRate(current.rate) : '…'}
          </Stat>
          <Stat label="Verifications" hint={`last ${range.label}`}>
            {summary ? fmtNumber(summary.total) : '…'}
          </Stat>
          <Stat label="Valid" hint={summary ? `${fmtNumber(summary.valid)} valid` : ''}>
            {summary ? (summary.total ? fmtPercent(summary.valid / summary.total) : '—') : '…'}
          </Stat>
          <Stat label="Denied" hint={summary ? topDenial(summary.byCode) : ''}>
            {summary ? fmtNumber(summary.total - summary.valid) : '…'}
          </Stat>
          <Stat label="Credits spent" hint={`last ${range.label}`}>
            {summary ? fmtNumber(summary.creditsSpent) : '…'}
          </Stat>
        </dl>
      </section>

      <div class="grid grid-3">
        <Card title="Outcomes over time" note={`per ${range.granularity}, last ${range.label}`}>
          <ErrorNotice error={usage.error} what="Usage analytics" />
          {outcomes ? (
            outcomes.series.length ? (
              <Chart height={300} times={outcomes.times} series={outcomes.series} bars summary={describeOutcomes('Verifications', range, outcomes)} />
            ) : (
              <p class="empty">No verifications in the last {range.label}.</p>
            )
          ) : (
            !usage.error && <Loading />
          )}
        </Card>
        <Card title="Live traffic" note="last 2 minutes">
          {live.off ? (
            <p class="empty">This server runs with --metrics false, so there is no live counter.</p>
          ) : live.rates.length > 1 ? (
            <Chart
              height={170}
              times={live.rates.map((r) => r.at)}
              series={[
                { label: 'verifications/s', color: '#1d4ed8', values: live.rates.map((r) => r.rate) },
                { label: 'denied/s', color: '#b91c1c', values: live.rates.map((r) => r.denied) },
              ]}
              summary={`Verifications per second over the last two minutes; now ${fmtRate(current?.rate ?? 0)}.`}
            />
          ) : (
            <Loading label="Measuring…" />
          )}
          <Health metrics={live.metrics} />
        </Card>
      </div>

      <div class="grid grid-2 spaced">
        <Card title="Top keys" note={`last ${range.label}`}>
          <Listing items={top.data?.[0]} error={top.error} what="Top keys" empty="No traffic in this range.">
            {(entries) => <TopTable entries={entries} kind="key" />}
          </Listing>
        </Card>
        <Card title="Top customers" note={`identities, last ${range.label}`}>
          <Listing items={top.data?.[1]} error={null} what="Top customers" empty="No traffic in this range.">
            {(entries) => <TopTable entries={entries} kind="identity" />}
          </Listing>
        </Card>
      </div>

      <div class="spaced">
        <Card title="Customers above 80 % of their quota" note="VALID verifications this calendar month (UTC) against the tier's included quota">
          <Listing items={nearQuota.data} error={nearQuota.error} what="The quota list" empty="No customer has used 80 % of their tier's quota this month.">
            {(rows) => (
              <Table columns={['Customer', 'Tier', 'Quota used']}>
                {rows.map((row) => (
                  <tr key={row.externalId}>
                    <td>
                      <a href={href('identities', undefined, { search: row.externalId })}>{row.externalId}</a>
                    </td>
                    <td>{row.tier}</td>
                    <td>
                      <QuotaGauge used={row.used} included={row.included} />
                    </td>
                  </tr>
                ))}
              </Table>
            )}
          </Listing>
        </Card>
      </div>
    </>
  );
}

function Stat({ label, hint, live, children }: { label: string; hint: string; live?: boolean; children: ComponentChildren }) {
  return (
    <div class="card stat">
      <dt class="label">
        {live && <span class="live-dot" aria-hidden="true" />}
        {label}
      </dt>
      <dd class="value">{children}</dd>
      <dd class="hint">{hint}</dd>
    </div>
  );
}

function topDenial(byCode: Record<string, number>): string {
  const denials = Object.entries(byCode).filter(([code]) => code !== 'VALID').sort((a, b) => b[1] - a[1]);
  return denials.length ? `most: ${denials[0][0]}` : 'none';
}

function TopTable({ entries, kind }: { entries: TopEntry[]; kind: 'key' | 'identity' }) {
  const names = useAsync(
    () => (kind === 'key'
      ? Promise.all(entries.map((e) => rpc<{ name?: string }>('keys.getKey', { keyId: e.keyId }).then((k) => k.name ?? '', () => null)))
      : Promise.resolve(entries.map(() => ''))),
    [entries.map((e) => e.keyId ?? e.externalId).join()],
  );
  return (
    <Table columns={[kind === 'key' ? 'Key' : 'Customer', { label: 'Verifications', num: true }, { label: 'Valid', num: true }, { label: 'Credits', num: true }]}>
      {entries.map((entry, i) => {
        const id = (kind === 'key' ? entry.keyId : entry.externalId) ?? '';
        const name = names.data?.[i];
        return (
          <tr key={id || `none-${i}`}>
            <td>
              {!id ? (
                <span class="muted">{kind === 'key' ? 'unknown keys' : 'no identity'}</span>
              ) : kind === 'key' ? (
                <>
                  <a href={href('keys', id)} class="mono">{shortId(id, 16)}</a>
                  {name ? <span class="muted small"> {name}</span> : name === null ? <span class="muted small"> (deleted)</span> : null}
                </>
              ) : (
                <a href={href('identities', undefined, { search: id })}>{id}</a>
              )}
            </td>
            <td class="num">{fmtNumber(entry.count)}</td>
            <td class="num">{fmtNumber(entry.valid)}</td>
            <td class="num">{fmtNumber(entry.credits)}</td>
          </tr>
        );
      })}
    </Table>
  );
}

/** /readyz (the verdict and its failing check) and the readiness gauges of /metrics. */
function Health({ metrics }: { metrics?: Metrics }) {
  const ready = useAsync(() => getText('/readyz').then(({ status, text }) => ({ status, body: JSON.parse(text) as { status: string; failing?: string } })), [], 5000);
  const checks = metrics?.get('tollgate_readiness_check_ok') ?? [];
  const shards = metrics?.get('tollgate_redis_shard_up') ?? [];
  const buffered = metrics ? sum(metrics, 'tollgate_usage_buffered_events') : undefined;
  const lag = metrics ? sum(metrics, 'tollgate_usage_flush_lag_seconds') : undefined;
  const pending = metrics ? sum(metrics, 'tollgate_webhook_pending_deliveries') : undefined;
  const version = metrics?.get('tollgate_build_info')?.[0]?.labels.version;
  return (
    <div class="spaced">
      <h3 class="subhead">Health</h3>
      <ul class="health-list">
        <li>
          <span>Ready (/readyz)</span>
          {ready.data ? (
            ready.data.status === 200 ? <Badge tone="ok">ready</Badge> : <Badge tone="bad">failing: {ready.data.body.failing ?? ready.data.status}</Badge>
          ) : ready.error ? <Badge tone="bad">no answer</Badge> : <Badge tone="muted">…</Badge>}
        </li>
        {checks.map((check) => (
          <li key={check.labels.check}>
            <span>{describeCheck(check.labels.check)}</span>
            <Badge tone={check.value === 1 ? 'ok' : 'bad'}>{check.value === 1 ? 'up' : 'down'}</Badge>
          </li>
        ))}
        {shards.map((shard) => (
          <li key={shard.labels.shard}>
            <span>Redis shard {shard.labels.shard}</span>
            <Badge tone={shard.value === 1 ? 'ok' : 'bad'}>{shard.value === 1 ? 'up' : 'down'}</Badge>
          </li>
        ))}
        {metrics && !checks.some((check) => check.labels.check === 'limiter') && (
          <li>
            <span>Rate limiter</span>
            <Badge tone="info">in memory</Badge>
          </li>
        )}
        {buffered !== undefined && (
          <li>
            <span>Usage not yet written</span>
            <span class="small">
              {fmtNumber(buffered)} event{buffered === 1 ? '' : 's'}
              {lag ? `, ${lag.toFixed(1)} s behind` : ''}
            </span>
          </li>
        )}
        {pending !== undefined && (
          <li>
            <span>Webhook deliveries pending</span>
            <span class="small">{fmtNumber(pending)}</span>
          </li>
        )}
      </ul>
      {version && <p class="muted small">tollgate {version}</p>}
    </div>
  );
}

function describeCheck(check: string): string {
  if (check === 'store') return 'Store';
  if (check === 'events') return 'Event bus (RabbitMQ)';
  if (check === 'limiter') return 'Rate limiter (all Redis shards)';
  return check;
}
