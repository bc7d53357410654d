import { and, eq, gte, lt, max, min, sql } from 'drizzle-orm'
import type { Database } from '../db/client.ts'
import { metricBuckets, type MetricBucketRow } from '../db/schema.ts'
import { permanentDatabaseError } from '../lib/batch-writer.ts'
import type { MetricsRetention } from '../lib/config.ts'
import type { MetricName } from './catalog.ts'
import { seriesOf, type MetricRecorder, type SeriesSummary } from './recorder.ts'

export type Resolution = MetricBucketRow['resolution']

export const MINUTE_MS = 60_000
export const HOUR_MS = 60 * MINUTE_MS
export const DAY_MS = 24 * HOUR_MS
export const RESOLUTION_MS: Record<Resolution, number> = { '1m': MINUTE_MS, '1h': HOUR_MS, '1d': DAY_MS }

/** The start of the period of length `ms` (UTC) that `time` falls in. */
export function floorTo (time: number, ms: number): number {
  return time - (time % ms)
}

/**
 * The minute a period of the recorder (from `from` to `now`) is stored in: the one it began in,
 * or, after a gap without takes (a stalled process, a test moving its clock), the minute before `now`.
 */
export function minuteOf (from: number, now: number): number {
  return floorTo(Math.max(from, now - MINUTE_MS), MINUTE_MS)
}

/** What a bucket holds about one series: the fields of a stored row that add up. */
export type Figures = Pick<SeriesSummary, 'n' | 'sum' | 'min' | 'max' | 'histogram'>

/** A new accumulator holding `figures` (a copy: adding to it never changes them). */
export function copyFigures (figures: Figures): Figures {
  return { n: figures.n, sum: figures.sum, min: figures.min, max: figures.max, histogram: figures.histogram === null ? null : [...figures.histogram] }
}

/** Adds `more` to the accumulator `into`: counts and sums add up, min and max widen, histogram counts add up slot by slot. */
export function addFigures (into: Figures, more: Figures): void {
  into.n += more.n
  into.sum += more.sum
  into.min = Math.min(into.min, more.min)
  into.max = Math.max(into.max, more.max)
  if (more.histogram === null) return
  if (into.histogram === null) {
    into.histogram = [...more.histogram]
    return
  }
  for (let slot = 0; slot < more.histogram.length; slot++) into.histogram[slot] = (into.histogram[slot] ?? 0) + more.histogram[slot]!
}

/** Rows per insert: far below PostgreSQL's 65,535 parameters (11 a row); a minute has fewer series than this. */
const ROWS_PER_STATEMENT = 5000

type BucketInsert = typeof metricBuckets.$inferInsert

/**
 * A series' labels as they are stored, and its identity: values without NUL or lone surrogates,
 * which JSON columns refuse (a tool's name comes from its server; one refused row would lose the minute).
 */
export function storedSeries (name: MetricName, labels: Record<string, string>): { series: string, labels: Record<string, string> } {
  const clean: Record<string, string> = {}
  for (const [label, value] of Object.entries(labels)) clean[label] = value.toWellFormed().replaceAll('\0', '\uFFFD')
  return { series: seriesOf(name, clean), labels: clean }
}

function toRow (resolution: Resolution, bucketStart: Date, series: SeriesSummary): BucketInsert {
  return {
    resolution,
    bucketStart,
    name: series.name,
    ...storedSeries(series.name, series.labels),
    serverId: series.serverId,
    n: series.n,
    sum: series.sum,
    min: series.min,
    max: series.max,
    histogram: series.histogram
  }
}

/** On a row of the same bucket already stored (a minute written before a restart): both add up. */
const MERGED = {
  n: sql`${metricBuckets.n} + excluded.n`,
  sum: sql`${metricBuckets.sum} + excluded.sum`,
  min: sql`least(${metricBuckets.min}, excluded.min)`,
  max: sql`greatest(${metricBuckets.max}, excluded.max)`,
  histogram: sql`case when ${metricBuckets.histogram} is null or excluded.histogram is null then coalesce(excluded.histogram, ${metricBuckets.histogram})
    else (select jsonb_agg(stored.count::float8 + added.count::float8 order by slot)
      from jsonb_array_elements_text(${metricBuckets.histogram}) with ordinality as stored(count, slot)
      join jsonb_array_elements_text(excluded.histogram) with ordinality as added(count, slot) using (slot)) end`
}

/** On a rollup of a period rolled up before (a second run): the new figures replace the old. */
const REPLACED = {
  n: sql`excluded.n`,
  sum: sql`excluded.sum`,
  min: sql`excluded.min`,
  max: sql`excluded.max`,
  histogram: sql`excluded.histogram`,
  labels: sql`excluded.labels`,
  serverId: sql`excluded.server_id`
}

async function upsertBuckets (db: Database, rows: BucketInsert[], set: typeof MERGED | typeof REPLACED): Promise<void> {
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    await db.insert(metricBuckets).values(rows.slice(start, start + ROWS_PER_STATEMENT)).onConflictDoUpdate({
      target: [metricBuckets.resolution, metricBuckets.name, metricBuckets.series, metricBuckets.bucketStart],
      set
    })
  }
}

/** Stores one minute's series in one statement; figures of the same minute already stored are added to. */
export async function writeMinute (db: Database, minuteStart: Date, series: SeriesSummary[]): Promise<void> {
  if (series.length === 0) return
  await upsertBuckets(db, series.map((one) => toRow('1m', minuteStart, one)), MERGED)
}

/** The resolution each coarser one is rolled up from. */
const ROLLED_FROM = { '1h': '1m', '1d': '1h' } as const

/** Where rolling up into `resolution` has got to: the end of its latest stored bucket, or null when it has none. */
async function rolledUntil (db: Database, resolution: '1h' | '1d'): Promise<number | null> {
  const [row] = await db.select({ latest: max(metricBuckets.bucketStart) }).from(metricBuckets).where(eq(metricBuckets.resolution, resolution))
  return row?.latest === null || row?.latest === undefined ? null : row.latest.getTime() + RESOLUTION_MS[resolution]
}

/**
 * Rolls the finer buckets of every complete period (hour or day, UTC) not rolled up yet into one
 * bucket per series, oldest first, at most `maxPeriods` of them (the rest on the next run);
 * periods without data are skipped. Rolling a period up again writes the same rows. Returns the
 * number of periods rolled up.
 */
export async function rollUp (db: Database, resolution: '1h' | '1d', now: number, maxPeriods = 24): Promise<number> {
  const source = ROLLED_FROM[resolution]
  const length = RESOLUTION_MS[resolution]
  // A period is rolled up a minute after it ends: by then every hub sharing the database has written its last minute.
  const end = new Date(floorTo(now - MINUTE_MS, length))
  let next = new Date(await rolledUntil(db, resolution) ?? 0)
  let periods = 0
  for (; periods < maxPeriods; periods++) {
    const [found] = await db.select({ first: min(metricBuckets.bucketStart) }).from(metricBuckets)
      .where(and(eq(metricBuckets.resolution, source), gte(metricBuckets.bucketStart, next), lt(metricBuckets.bucketStart, end)))
    if (found?.first === null || found?.first === undefined) break
    const start = new Date(floorTo(found.first.getTime(), length))
    next = new Date(start.getTime() + length)
    const rows = await db.select().from(metricBuckets)
      .where(and(eq(metricBuckets.resolution, source), gte(metricBuckets.bucketStart, start), lt(metricBuckets.bucketStart, next)))
    const bySeries = new Map<string, BucketInsert & Figures>()
    for (const row of rows) {
      const key = `${row.name}\u001f${row.series}`
      const rolled = bySeries.get(key)
      if (rolled === undefined) bySeries.set(key, { ...row, ...copyFigures(row), resolution, bucketStart: start })
      else addFigures(rolled, row)
    }
    await upsertBuckets(db, [...bySeries.values()], REPLACED)
  }
  return periods
}

/**
 * Deletes what is older than each resolution's retention, but never finer buckets of a period
 * not rolled up yet (rolling up after a long downtime comes first).
 */
export async function pruneHistory (db: Database, now: number, retention: MetricsRetention): Promise<void> {
  const rolled = { '1m': await rolledUntil(db, '1h'), '1h': await rolledUntil(db, '1d'), '1d': Infinity }
  for (const resolution of ['1m', '1h', '1d'] as const) {
    const before = Math.min(now - retention[resolution] * DAY_MS, rolled[resolution] ?? -Infinity)
    if (before === -Infinity) continue
    await db.delete(metricBuckets).where(and(eq(metricBuckets.resolution, resolution), lt(metricBuckets.bucketStart, new Date(before))))
  }
}

export interface HistoryOptions {
  db: Database
  recorder: MetricRecorder
  now: () => number
  retention: MetricsRetention
  /** A write failed; `retrying` tells whether its minute was kept for the next tick. */
  onError?: (error: unknown, retrying: boolean) => void
  /** Minutes given up (the backlog of unwritten minutes was full, or the database refused one). */
  onDrop?: (minutes: number) => void
}

/** Minutes kept for a retry while the database is away; older ones are dropped (counted). */
const MAX_PENDING_MINUTES = 60

interface PendingMinute {
  start: Date
  series: SeriesSummary[]
}

/**
 * The stored history: once a minute, what the recorder measured goes into the minute's bucket
 * (a failed write is retried on the next tick, up to an hour of minutes); then complete hours
 * and days are rolled up and what is past its retention is pruned.
 */
export class MetricHistory {
  readonly #options: HistoryOptions
  #pending: PendingMinute[] = []
  #dropped = 0

  constructor (options: HistoryOptions) {
    this.#options = options
  }

  /** Minutes taken but not written yet. */
  get pending (): number {
    return this.#pending.length
  }

  /** Minutes given up so far. */
  get dropped (): number {
    return this.#dropped
  }

  /** The once-a-minute work: writes the minute that ended, then rolls up and prunes. Never rejects. */
  async tick (): Promise<void> {
    await this.writeMinute()
    await this.maintain()
  }

  /**
   * Takes what the recorder measured since the last take (or since the start) and writes it as
   * the bucket of its minute (`minuteOf`), after any minutes still waiting. Also how the current,
   * partial minute is kept on close. Resolves true when nothing is left waiting; never rejects.
   */
  async writeMinute (): Promise<boolean> {
    const now = this.#options.now()
    const taken = this.#options.recorder.takeMinute(now)
    if (taken.series.length > 0) this.#pending.push({ start: new Date(minuteOf(taken.from, now)), series: taken.series })
    if (this.#pending.length > MAX_PENDING_MINUTES) this.#drop(this.#pending.splice(0, this.#pending.length - MAX_PENDING_MINUTES).length)
    return await this.flush()
  }

  /** Writes the minutes waiting, oldest first; stops at the first failure (kept for the next tick). Never rejects. */
  async flush (): Promise<boolean> {
    while (this.#pending.length > 0) {
      const minute = this.#pending[0]!
      try {
        await writeMinute(this.#options.db, minute.start, minute.series)
        this.#pending.shift()
      } catch (error) {
        const retrying = !permanentDatabaseError(error)
        this.#options.onError?.(error, retrying)
        if (retrying) return false
        this.#pending.shift()
        this.#drop(1)
      }
    }
    return true
  }

  /**
   * Rolls up the complete hours and days and prunes; skipped while minutes wait to be written
   * (an hour is rolled up only once all its minutes are stored). Never rejects.
   */
  async maintain (): Promise<void> {
    if (this.#pending.length > 0) return
    const { db, now, retention } = this.#options
    try {
      await rollUp(db, '1h', now())
      await rollUp(db, '1d', now())
      await pruneHistory(db, now(), retention)
    } catch (error) {
      this.#options.onError?.(error, true)
    }
  }

  #drop (minutes: number): void {
    this.#dropped += minutes
    this.#options.onDrop?.(minutes)
  }
}
