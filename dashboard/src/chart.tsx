import { useEffect, useRef } from 'preact/hooks'
import UPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { MetricSeries } from '../../sdk/js/src/index.ts'
import { useI18n } from './i18n.ts'

/** Distinct and readable on white, in the order series are drawn. */
const COLOURS = ['#1d4ed8', '#b91c1c', '#15803d', '#7c3aed', '#c2410c', '#0e7490', '#a16207', '#be185d']

/** The series on one time axis: every bucket any of them has, a gap where one has none. */
function aligned (series: MetricSeries[]): UPlot.AlignedData {
  const times = [...new Set(series.flatMap((one) => one.points.map((point) => Date.parse(point.t) / 1000)))].sort((a, b) => a - b)
  const columns = series.map((one) => {
    const byTime = new Map(one.points.map((point) => [Date.parse(point.t) / 1000, point.value]))
    return times.map((time) => byTime.get(time) ?? null)
  })
  return [times, ...columns]
}

const labelOf = (series: MetricSeries): string => Object.values(series.labels).join(' ') || series.name

/** The time range the series were asked for (a metrics answer's `from` and `to`). */
export interface Span { from: string, to: string }

/**
 * A line chart of metric series over `span` (uPlot, drawn on a canvas): the figure's caption
 * names it, and a summary of the latest values is there for those who cannot see the drawing.
 */
export function TimeChart ({ title, series, span, unit }: { title: string, series: MetricSeries[], span: Span, unit?: string }) {
  const { t } = useI18n()
  const box = useRef<HTMLDivElement>(null)
  const shownUnit = unit ?? series[0]?.unit ?? ''

  useEffect(() => {
    const element = box.current
    if (element === null || series.length === 0) return
    const width = () => Math.max(element.clientWidth, 240)
    const plot = new UPlot({
      width: width(),
      height: 200,
      legend: { show: series.length > 1 },
      // The whole range asked for, however few buckets hold data.
      scales: { x: { time: true, range: [Date.parse(span.from) / 1000, Date.parse(span.to) / 1000] } },
      axes: [{}, { label: shownUnit, size: 60 }],
      series: [{}, ...series.map((one, index) => ({ label: labelOf(one), stroke: COLOURS[index % COLOURS.length], width: 2, spanGaps: false }))]
    }, aligned(series), element)
    const resized = new ResizeObserver(() => plot.setSize({ width: width(), height: 200 }))
    resized.observe(element)
    return () => {
      resized.disconnect()
      plot.destroy()
    }
  }, [series, span.from, span.to, shownUnit])

  const latest = series.map((one) => `${labelOf(one)}: ${one.points.at(-1)?.value ?? '—'} ${shownUnit}`).join('; ')
  return (
    <figure class='chart'>
      <figcaption>{title}</figcaption>
      {series.length === 0
        ? <p class='hint'>{t('chart.noData')}</p>
        : <div ref={box} role='img' aria-label={`${title}. ${t('chart.latest')}: ${latest}`} />}
    </figure>
  )
}
