import { useMemo, useState } from 'preact/hooks'
import type { MetricSeries, MonitoringMetricsQuery } from '../../../sdk/js/src/index.ts'
import { TimeChart } from '../chart.tsx'
import { useI18n, type MessageKey } from '../i18n.ts'
import { Choice, LoadState, useLoad } from '../ui.tsx'

type TimeRange = NonNullable<MonitoringMetricsQuery['timeRange']>
type MetricName = MetricSeries['name']

const RANGES: TimeRange[] = ['1h', '24h', '7d', '30d']

/** The charts, each of one metric about the server (series carry its key in their `server` label). */
const CHARTS: Array<{ metric: MetricName, title: MessageKey }> = [
  { metric: 'serverCpu', title: 'servers.metrics.cpu' },
  { metric: 'serverMemory', title: 'servers.metrics.memory' },
  { metric: 'toolCalls', title: 'servers.metrics.toolCalls' },
  { metric: 'toolErrors', title: 'servers.metrics.toolErrors' },
  { metric: 'toolLatency', title: 'servers.metrics.toolLatency' }
]

const MIB = 1024 * 1024

/** Memory in MiB reads better than bytes; the server's label is the same on every series, so it is left out of the legend. */
function shown (series: MetricSeries): MetricSeries {
  const { server: _server, ...labels } = series.labels
  if (series.unit !== 'bytes') return { ...series, labels }
  return { ...series, labels, unit: 'MiB', points: series.points.map((point) => ({ ...point, value: Math.round(point.value / MIB * 10) / 10 })) }
}

/** A server's stored metrics over a chosen range (whoever may read the server may read them). */
export function ServerMetrics ({ serverKey }: { serverKey: string }) {
  const { t } = useI18n()
  const [timeRange, setTimeRange] = useState<TimeRange>('1h')
  const loaded = useLoad(async (client) => {
    const answer = await client.monitoring.metrics({ timeRange, metrics: CHARTS.map((chart) => chart.metric) })
    return { span: answer, series: answer.series.filter((series) => series.labels.server === serverKey).map(shown) }
  }, [timeRange, serverKey])
  const series = loaded.data?.series
  // One array per chart, kept while the data is: a chart redraws only when its series change.
  const byChart = useMemo(() => series === undefined ? undefined : CHARTS.map((chart) => series.filter((one) => one.name === chart.metric)), [series])
  return (
    <section class='server-metrics' aria-labelledby='server-metrics'>
      <h2 id='server-metrics'>{t('servers.metrics.title')}</h2>
      <div class='log-controls'>
        <Choice label={t('servers.metrics.range')} value={timeRange} onValue={setTimeRange} options={RANGES.map((range) => [range, t(`servers.metrics.range.${range}`)])} />
        <button type='button' class='secondary' onClick={() => loaded.reload()}>{t('servers.metrics.refresh')}</button>
      </div>
      <LoadState loaded={loaded} />
      {byChart !== undefined && (
        <div class='charts'>
          {CHARTS.map((chart, index) => (
            <TimeChart key={chart.metric} title={t(chart.title)} series={byChart[index]!} span={loaded.data!.span} />
          ))}
        </div>
      )}
    </section>
  )
}
