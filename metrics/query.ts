import { and, eq, gte, inArray, lt, type SQL } from 'drizzle-orm'
import { isAdmin, readableServerIds, type Principal } from '../access/index.ts'
import type { Database } from '../db/client.ts'
import { metricBuckets } from '../db/schema.ts'
import { authorizationFailed, validationFailed } from '../lib/errors.ts'
import type { MetricsRetention } from '../lib/config.ts'
import { LATENCY_BOUNDS_MS, METRIC_NAMES, METRICS, type MetricKind, type MetricName } from './catalog.ts'
import { addFigures, copyFigures, DAY_MS, floorTo, HOUR_MS, MINUTE_MS, minuteOf, RESOLUTION_MS, storedSeries, type Figures, type Resolution } from './history.ts'
import type { MetricRecorder } from './recorder.ts'

export const TIME_RANGES = { '1h': HOUR_MS, '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS } as const
export const GRANULARITIES = { '1m': MINUTE_MS, '5m': 5 * MINUTE_MS, '1h': HOUR_MS, '1d': DAY_MS } as const
export type TimeRange = keyof typeof TIME_RANGES
export type Granularity = keyof typeof GRANULARITIES

/** The granularity a range gets when none is asked for. */
export const DEFAULT_GRANULARITY: Record<TimeRange, Granularity> = { '1h': '1m', '24h': '5m', '7d': '1h', '30d': '1h' }
/** Most points one series may have. */
export const MAX_POINTS = 1500

/** The stored resolution each granularity is computed from (complete periods; finer buckets fill in the rest). */
const SOURCE: Record<Granularity, Resolution> = { '1m': '1m', '5m': '1m', '1h': '1h', '1d': '1d' }

/** Why `granularity` cannot serve `range`, or undefined when it can. */
function problemWith (range: TimeRange, granularity: Granularity, retention: MetricsRetention): string | undefined {
  const rangeMs = TIME_RANGES[range]
  const granularityMs = GRANULARITIES[granularity]
  if (granularityMs >= rangeMs) return `${granularity} is not finer than timeRange=${range}`
  const kept = retention[SOURCE[granularity]]
  if (rangeMs > kept * DAY_MS) return `${SOURCE[granularity]} buckets are kept ${kept} days, less than timeRange=${range}`
  if (rangeMs / granularityMs > MAX_POINTS) return `${granularity} over timeRange=${range} gives ${rangeMs / granularityMs} points per series, more than ${MAX_POINTS}`
  return undefined
}

/** The granularity to use: the one asked for (422 saying what to ask instead when it cannot serve the range), or the range's default. */
export function granularityFor (range: TimeRange, asked: Granularity | undefined, retention: MetricsRetention): Granularity {
  const usable = (Object.keys(GRANULARITIES) as Granularity[]).filter((granularity) => problemWith(range, granularity, retention) === undefined)
  if (asked === undefined) {
    const preferred = DEFAULT_GRANULARITY[range]
    return usable.includes(preferred) ? preferred : usable[0] ?? preferred
  }
  const problem = problemWith(range, asked, retention)
  if (problem === undefined) return asked
  throw validationFailed('granularity', usable.length === 0 ? problem : `${problem}; use granularity=${usable[0]}`)
}

/**
 * The metrics a caller may read, checked: server series (of the servers it may read) for
 * everyone, hub-wide ones for admins only (403 when a user names one).
 */
export function readableMetrics (principal: Principal, asked: MetricName[] | undefined): MetricName[] {
  if (isAdmin(principal)) return asked ?? METRIC_NAMES
  if (asked === undefined) return METRIC_NAMES.filter((name) => METRICS[name].scope === 'server')
  const hubWide = asked.find((name) => METRICS[name].scope === 'hub')
  if (hubWide !== undefined) throw authorizationFailed(`Metric ${hubWide} is hub-wide: admins only`)
  return asked
}

/** A histogram's `q` quantile, interpolated linearly within the slot it falls in (like Prometheus' histogram_quantile), kept within the observed min and max. */
export function quantile (q: number, counts: number[], min: number, max: number): number {
  const total = counts.reduce((sum, count) => sum + count, 0)
  const rank = q * total
  let below = 0
  for (let slot = 0; slot < counts.length; slot++) {
    const count = counts[slot]!
    if (count > 0 && below + count >= rank) {
      const lower = slot === 0 ? 0 : LATENCY_BOUNDS_MS[slot - 1]!
      const upper = LATENCY_BOUNDS_MS[slot] ?? max
      const estimate = lower + (upper - lower) * (rank - below) / count
      return Math.min(max, Math.max(min, estimate))
    }
    below += count
  }
  return max
}

const round = (value: number) => Math.round(value * 1000) / 1000

export interface MetricPoint {
  t: string
  value: number
  max?: number
  count?: number
  p50?: number
  p95?: number
  p99?: number
}

/** A bucket as a point: counters their total, gauges their mean and max, histograms their count, mean, percentiles and max. */
export function pointOf (kind: MetricKind, t: number, figures: Figures): MetricPoint {
  const at = new Date(t).toISOString()
  if (kind === 'counter') return { t: at, value: figures.sum }
  const mean = round(figures.sum / figures.n)
  if (kind === 'gauge' || figures.histogram === null) return { t: at, value: mean, max: figures.max }
  const percentile = (q: number) => round(quantile(q, figures.histogram!, figures.min, figures.max))
  return { t: at, count: figures.n, value: mean, p50: percentile(0.5), p95: percentile(0.95), p99: percentile(0.99), max: figures.max }
}

/** The series readable by a principal, as a condition: server series of its servers (hub series have no server); nothing extra for admins. */
function scopeOf (readable: string[] | undefined): SQL | undefined {
  return readable === undefined ? undefined : inArray(metricBuckets.serverId, readable)
}

export interface SeriesBuckets {
  name: MetricName
  labels: Record<string, string>
  /** Figures by bucket start (ms). */
  buckets: Map<number, Figures>
}

/**
 * Gathers the figures of `names` from `from` to now into buckets of `bucketMs`: the stored
 * `resolution` first, then finer stored buckets for the periods not rolled up yet, then the
 * recorder's current minute. `readable` limits the series to those servers' (undefined: all).
 */
export async function gatherBuckets (db: Database, recorder: MetricRecorder, options: {
  names: MetricName[]
  readable: string[] | undefined
  from: number
  now: number
  bucketMs: number
  resolution: Resolution
}): Promise<SeriesBuckets[]> {
  const { names, readable, now, bucketMs } = options
  const series = new Map<string, SeriesBuckets>()
  const add = (name: MetricName, key: string, labels: Record<string, string>, start: number, figures: Figures) => {
    let one = series.get(`${name}\u001f${key}`)
    if (one === undefined) series.set(`${name}\u001f${key}`, one = { name, labels, buckets: new Map() })
    const bucket = floorTo(start, bucketMs)
    const sum = one.buckets.get(bucket)
    if (sum === undefined) one.buckets.set(bucket, copyFigures(figures))
    else addFigures(sum, figures)
  }
  if (names.length === 0 || readable?.length === 0) return []
  const layers = (['1d', '1h', '1m'] as const).slice(['1d', '1h', '1m'].indexOf(options.resolution))
  let since = floorTo(options.from, bucketMs)
  for (const resolution of layers) {
    const rows = await db.select().from(metricBuckets).where(and(
      eq(metricBuckets.resolution, resolution),
      gte(metricBuckets.bucketStart, new Date(since)),
      lt(metricBuckets.bucketStart, new Date(now)),
      inArray(metricBuckets.name, names),
      scopeOf(readable)
    ))
    let latest: number | undefined
    for (const row of rows) {
      const start = row.bucketStart.getTime()
      add(row.name as MetricName, row.series, row.labels, start, row)
      if (latest === undefined || start > latest) latest = start
    }
    // The finer buckets take over where this resolution's (rolled-up) ones end.
    if (latest !== undefined) since = latest + RESOLUTION_MS[resolution]
  }
  const current = recorder.peekMinute()
  const wanted = new Set<string>(names)
  const servers = readable === undefined ? undefined : new Set(readable)
  for (const one of current.series) {
    if (!wanted.has(one.name) || (servers !== undefined && (one.serverId === null || !servers.has(one.serverId)))) continue
    const { series: key, labels } = storedSeries(one.name, one.labels)
    add(one.name, key, labels, minuteOf(current.from, now), one)
  }
  const order = (one: SeriesBuckets) => METRIC_NAMES.indexOf(one.name)
  return [...series.entries()].sort(([keyA, a], [keyB, b]) => order(a) - order(b) || keyA.localeCompare(keyB)).map(([, one]) => one)
}

export interface MetricsQuery {
  timeRange?: TimeRange
  granularity?: Granularity
  metrics?: MetricName[]
}

/**
 * `GET /api/monitoring/metrics`: the named series the caller may read over the range, one
 * point per bucket with data, oldest first.
 */
export async function queryMetrics (db: Database, recorder: MetricRecorder, principal: Principal, query: MetricsQuery, options: { now: number, retention: MetricsRetention }) {
  const timeRange = query.timeRange ?? '1h'
  const granularity = granularityFor(timeRange, query.granularity, options.retention)
  const names = readableMetrics(principal, query.metrics === undefined ? undefined : [...new Set(query.metrics)])
  const from = options.now - TIME_RANGES[timeRange]
  const gathered = await gatherBuckets(db, recorder, {
    names,
    readable: await readableServerIds(db, principal),
    from,
    now: options.now,
    bucketMs: GRANULARITIES[granularity],
    resolution: SOURCE[granularity]
  })
  return {
    timeRange,
    granularity,
    from: new Date(from).toISOString(),
    to: new Date(options.now).toISOString(),
    series: gathered.map(({ name, labels, buckets }) => ({
      name,
      labels,
      unit: METRICS[name].unit,
      kind: METRICS[name].kind,
      points: [...buckets.entries()].sort(([a], [b]) => a - b).map(([t, figures]) => pointOf(METRICS[name].kind, t, figures))
    }))
  }
}
