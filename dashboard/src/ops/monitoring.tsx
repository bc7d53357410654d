import { useRef, useState } from 'preact/hooks'
import type { MetricSeries, MonitoringMetricsQuery, MonitoringStatus } from '../../../sdk/js/src/index.ts'
import { TimeChart } from '../chart.tsx'
import { useI18n, type MessageKey } from '../i18n.ts'
import { useSession } from '../session-context.ts'
import { Choice, LoadState, Page, useLoad, type Labelled } from '../ui.tsx'
import { ActivityTrail } from './activity.tsx'
import { AlertList } from './alerts.tsx'
import { useLiveRefresh } from '../live.ts'

type TimeRange = NonNullable<MonitoringMetricsQuery['timeRange']>
type Granularity = NonNullable<MonitoringMetricsQuery['granularity']>
type MetricName = MetricSeries['name']

/** The seed's ranges, each with the bucket length the hub serves it in by default (fine enough, under its point limit). */
const RANGES: Record<TimeRange, Granularity> = { '1h': '1m', '24h': '5m', '7d': '1h', '30d': '1h' }
const RANGE_LABELS: Labelled<TimeRange> = [['1h', 'monitoring.range.1h'], ['24h', 'monitoring.range.24h'], ['7d', 'monitoring.range.7d'], ['30d', 'monitoring.range.30d']]

/** How often live samples reload the charts (their buckets are a minute or more). */
const CHARTS_REFRESH_MS = 30_000

interface ChartSpec {
  metric: MetricName
  title: MessageKey
  /** Shown in another unit than the hub's (bytes as MiB). */
  scale?: { factor: number, unit: string }
}

/** Admins see the hub's own figures; users those of the servers they may read (the hub refuses them the rest). */
const ADMIN_CHARTS: ChartSpec[] = [
  { metric: 'requests', title: 'monitoring.chart.requests' },
  { metric: 'errors', title: 'monitoring.chart.errors' },
  { metric: 'responseTime', title: 'monitoring.chart.responseTime' },
  { metric: 'toolCalls', title: 'monitoring.chart.toolCalls' },
  { metric: 'cpu', title: 'monitoring.chart.cpu' },
  { metric: 'memory', title: 'monitoring.chart.memory', scale: { factor: 1 / (1024 * 1024), unit: 'MiB' } }
]
const USER_CHARTS: ChartSpec[] = [
  { metric: 'toolCalls', title: 'monitoring.chart.toolCalls' },
  { metric: 'toolErrors', title: 'monitoring.chart.toolErrors' },
  { metric: 'toolLatency', title: 'monitoring.chart.toolLatency' }
]

/**
 * One series of a metric over every label (routes, servers, tools): counters summed per bucket,
 * the others averaged (histograms weighted by their counts).
 */
function total (series: MetricSeries[], name: MetricName, scale?: ChartSpec['scale']): MetricSeries[] {
  const parts = series.filter((one) => one.name === name)
  const first = parts[0]
  if (first === undefined) return []
  const buckets = new Map<string, { sum: number, weight: number }>()
  for (const part of parts) {
    for (const point of part.points) {
      const weight = first.kind === 'histogram' ? point.count ?? 1 : 1
      const bucket = buckets.get(point.t) ?? { sum: 0, weight: 0 }
      bucket.sum += point.value * (first.kind === 'counter' ? 1 : weight)
      bucket.weight += weight
      buckets.set(point.t, bucket)
    }
  }
  const factor = scale?.factor ?? 1
  const points = [...buckets.entries()].sort(([a], [b]) => Date.parse(a) - Date.parse(b)).map(([t, { sum, weight }]) => {
    const value = first.kind === 'counter' ? sum : weight === 0 ? 0 : sum / weight
    return { t, value: Math.round(value * factor * 100) / 100 }
  })
  return [{ ...first, labels: {}, unit: scale?.unit ?? first.unit, points }]
}

/** Seconds as days, hours and minutes. */
function duration (seconds: number): string {
  const days = Math.floor(seconds / 86_400)
  const hours = Math.floor((seconds % 86_400) / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  return [days > 0 ? `${days}d` : '', days > 0 || hours > 0 ? `${hours}h` : '', `${minutes}m`].filter(Boolean).join(' ')
}

export function MonitoringPage () {
  const { t } = useI18n()
  const { isAdmin } = useSession()
  const [range, setRange] = useState<TimeRange>('1h')
  const charts = isAdmin ? ADMIN_CHARTS : USER_CHARTS

  const status = useLoad((client) => client.monitoring.status(), [])
  const metrics = useLoad((client) => client.monitoring.metrics({ timeRange: range, granularity: RANGES[range], metrics: charts.map((chart) => chart.metric) }), [range, isAdmin])
  const [liveError, setLiveError] = useState<string | undefined>(undefined)
  // Admins hear the hub's samples (every few seconds, one socket): the status follows them, the charts at most twice a minute.
  // The monitoring channel is theirs alone; users' status follows their servers' changes.
  const chartsLoadedAt = useRef(Date.now())
  const followSamples = () => {
    status.reload()
    if (Date.now() - chartsLoadedAt.current < CHARTS_REFRESH_MS) return
    chartsLoadedAt.current = Date.now()
    metrics.reload()
  }
  useLiveRefresh('monitoring', followSamples, { enabled: isAdmin, throttleMs: 5000, onError: setLiveError })
  useLiveRefresh('server-status', status.reload, { enabled: !isAdmin, throttleMs: 5000, onError: setLiveError })

  return (
    <Page title={t('monitoring.title')}>
      <section aria-labelledby='status-title'>
        <h2 id='status-title'>{t('monitoring.status')}</h2>
        {liveError !== undefined && <p role='alert' class='error'>{liveError}</p>}
        <LoadState loaded={status} />
        {status.data !== undefined && <StatusCards status={status.data} isAdmin={isAdmin} />}
      </section>

      <section aria-labelledby='metrics-title'>
        <div class='heading'>
          <h2 id='metrics-title'>{t('monitoring.metrics')}</h2>
          <Choice label={t('monitoring.range')} value={range} onValue={setRange} options={RANGE_LABELS.map(([value, key]) => [value, t(key)])} />
        </div>
        <LoadState loaded={metrics} />
        {metrics.data !== undefined && (
          <div class='charts' data-range={metrics.data.timeRange}>
            {charts.map((chart) => <TimeChart key={chart.metric} title={t(chart.title)} series={total(metrics.data!.series, chart.metric, chart.scale)} span={metrics.data!} />)}
          </div>
        )}
      </section>

      <AlertList />
      <ActivityTrail />
    </Page>
  )
}

function StatusCards ({ status, isAdmin }: { status: MonitoringStatus, isAdmin: boolean }) {
  const { t } = useI18n()
  const { servers, performance, system } = status
  const cards: Array<[MessageKey, string, string?]> = [
    ['monitoring.uptime', duration(system.uptime)],
    ['monitoring.version', system.version, `Node.js ${system.nodeVersion}`],
    ['monitoring.servers', `${servers.running} / ${servers.total}`, t('monitoring.serversDetail', { stopped: String(servers.stopped), error: String(servers.error + servers.backoff) })],
    [isAdmin ? 'monitoring.requestsPerMinute' : 'monitoring.toolCallsPerMinute', String(performance.requestsPerMinute)],
    [isAdmin ? 'monitoring.avgResponseTime' : 'monitoring.avgToolCallTime', performance.avgResponseTime],
    ['monitoring.errorRate', performance.errorRate]
  ]
  return (
    <dl class='cards'>
      {cards.map(([label, figure, detail]) => (
        <div class='card' key={label}>
          <dt class='label'>{t(label)}</dt>
          <dd class='figure'>{figure}</dd>
          {detail !== undefined && <dd class='hint'>{detail}</dd>}
        </div>
      ))}
    </dl>
  )
}
