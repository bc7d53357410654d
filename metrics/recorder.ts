import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { LATENCY_BOUNDS_MS, METRICS, type CounterName, type GaugeName, type HistogramName, type LabelsOf, type MetricName } from './catalog.ts'

/** What one series recorded over one period: the shape of a stored bucket. */
export interface SeriesSummary {
  name: MetricName
  labels: Record<string, string>
  /** The server the series is about (server-scoped metrics), for who may read it. */
  serverId: string | null
  n: number
  sum: number
  min: number
  max: number
  /** Histograms: counts per bound of `LATENCY_BOUNDS_MS`, the last one above them all. */
  histogram: number[] | null
}

export interface MinuteTake {
  /** When the period began (the previous take, or the recorder's start). */
  from: number
  series: SeriesSummary[]
}

type PromMetric = Counter | Gauge | Histogram

/**
 * The one place measurements go in. Each call adds to the current period's summary of its
 * series (taken once a minute by the history writer) and to the Prometheus registry's
 * cumulative figures; a disabled recorder does nothing at all.
 */
export class MetricRecorder {
  readonly enabled: boolean
  /** The Prometheus registry `/metrics` renders. */
  readonly registry = new Registry()
  #period = new Map<string, SeriesSummary>()
  #periodStart: number
  readonly #prom = new Map<MetricName, PromMetric>()

  constructor (options: { enabled?: boolean, now?: () => number } = {}) {
    this.enabled = options.enabled ?? true
    this.#periodStart = (options.now ?? Date.now)()
    for (const [name, definition] of Object.entries(METRICS) as Array<[MetricName, (typeof METRICS)[MetricName]]>) {
      const prometheus = definition.prometheus
      const common = { name: prometheus.name, help: definition.help, labelNames: [...prometheus.labels], registers: [this.registry] }
      this.#prom.set(name, definition.kind === 'counter'
        ? new Counter(common)
        : definition.kind === 'gauge'
          ? new Gauge(common)
          : new Histogram({ ...common, buckets: [...LATENCY_BOUNDS_MS] }))
    }
  }

  /** Counts `by` events of a counter. */
  count<N extends CounterName> (name: N, labels: LabelsOf<N>, by = 1, serverId: string | null = null): void {
    if (!this.enabled) return
    this.#add(name, labels, by, serverId, false)
    ;(this.#prom.get(name) as Counter).inc(this.#promLabels(name, labels), by)
  }

  /** Records one sample of a gauge's level. */
  set<N extends GaugeName> (name: N, labels: LabelsOf<N>, value: number, serverId: string | null = null): void {
    if (!this.enabled) return
    this.#add(name, labels, value, serverId, false)
    ;(this.#prom.get(name) as Gauge).set(this.#promLabels(name, labels), value)
  }

  /** Records one observed value of a histogram. */
  observe<N extends HistogramName> (name: N, labels: LabelsOf<N>, value: number, serverId: string | null = null): void {
    if (!this.enabled) return
    this.#add(name, labels, value, serverId, true)
    ;(this.#prom.get(name) as Histogram).observe(this.#promLabels(name, labels), value)
  }

  /** Forgets a gauge series on `/metrics` (a deleted server, a state no server is in). */
  removeGauge<N extends GaugeName> (name: N, labels: LabelsOf<N>): void {
    if (!this.enabled) return
    ;(this.#prom.get(name) as Gauge).remove(this.#promLabels(name, labels))
  }

  /** What was recorded since the last take, left in place: a read of the current minute (its summaries are live: do not change them). */
  peekMinute (): MinuteTake {
    return { from: this.#periodStart, series: [...this.#period.values()] }
  }

  /** What was recorded since the last take, per series; the next period starts `now`. */
  takeMinute (now: number): MinuteTake {
    const taken = { from: this.#periodStart, series: [...this.#period.values()] }
    this.#period = new Map()
    this.#periodStart = now
    return taken
  }

  #add (name: MetricName, labels: Record<string, string>, value: number, serverId: string | null, histogram: boolean): void {
    const key = seriesKey(name, labels)
    let summary = this.#period.get(key)
    if (summary === undefined) {
      summary = { name, labels, serverId, n: 0, sum: 0, min: value, max: value, histogram: histogram ? new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0) : null }
      this.#period.set(key, summary)
    }
    summary.n++
    summary.sum += value
    if (value < summary.min) summary.min = value
    if (value > summary.max) summary.max = value
    if (summary.histogram !== null) summary.histogram[boundIndex(value)]!++
  }

  #promLabels (name: MetricName, labels: Record<string, string>): Record<string, string> {
    const names = METRICS[name].prometheus.labels
    if (names.length === Object.keys(labels).length) return labels
    const picked: Record<string, string> = {}
    for (const label of names) picked[label] = labels[label]!
    return picked
  }
}

/** A series' identity within its metric: its label values in the catalog's order. */
export function seriesOf (name: MetricName, labels: Record<string, string>): string {
  return METRICS[name].labels.map((label) => `${label}=${encodeURIComponent(labels[label] ?? '')}`).join(',')
}

function seriesKey (name: MetricName, labels: Record<string, string>): string {
  let key: string = name
  for (const label of METRICS[name].labels) key += '\u001f' + (labels[label] ?? '')
  return key
}

/** The histogram slot a value falls in: the first bound it does not exceed, or the overflow slot. */
export function boundIndex (value: number): number {
  for (let index = 0; index < LATENCY_BOUNDS_MS.length; index++) {
    if (value <= LATENCY_BOUNDS_MS[index]!) return index
  }
  return LATENCY_BOUNDS_MS.length
}
