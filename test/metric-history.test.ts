import { and, asc, eq, sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import type { DatabaseHandle } from '../db/client.ts'
import { metricBuckets } from '../db/schema.ts'
import { DEFAULT_METRICS_RETENTION } from '../lib/config.ts'
import { DAY_MS, HOUR_MS, MetricHistory, MINUTE_MS, pruneHistory, rollUp } from '../metrics/history.ts'
import { MetricRecorder } from '../metrics/recorder.ts'
import { build, DRIVERS, testDatabase } from './helper.ts'

// The stored history with a clock the tests move: each minute written as one row per series,
// merged with a row of the same minute written before a restart, kept when the database fails
// and written on the next tick, rolled up into hours and days (again and again to the same
// rows, catching up after downtime), pruned after each resolution's retention, and the partial
// minute written when the app closes.

const T0 = Date.UTC(2026, 2, 10, 10, 0, 0)
const SERVER_ID = '9a7b3c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d'

/** A recorder and its history on `handle`, with a clock the test moves. */
function historyOn (handle: DatabaseHandle, start: number, retention = DEFAULT_METRICS_RETENTION) {
  const clock = { now: start }
  const recorder = new MetricRecorder({ now: () => clock.now })
  const errors: unknown[] = []
  const history = new MetricHistory({ db: handle.db, recorder, now: () => clock.now, retention, onError: (error) => errors.push(error) })
  return { clock, recorder, history, errors }
}

async function rows (handle: DatabaseHandle, resolution: '1m' | '1h' | '1d', name?: string) {
  return await handle.db.select().from(metricBuckets)
    .where(and(eq(metricBuckets.resolution, resolution), name === undefined ? undefined : eq(metricBuckets.name, name)))
    .orderBy(asc(metricBuckets.bucketStart), asc(metricBuckets.name), asc(metricBuckets.series))
}

/** Records one minute of traffic at `minute` (ms): `calls` tool calls of 20 ms and one of 400 ms, and a memory sample. */
async function minuteOfTraffic (setup: ReturnType<typeof historyOn>, minute: number, calls: number) {
  setup.clock.now = minute + 1000
  for (let i = 0; i < calls; i++) setup.recorder.observe('toolLatency', { server: 'fs', tool: 'read' }, 20, SERVER_ID)
  setup.recorder.observe('toolLatency', { server: 'fs', tool: 'read' }, 400, SERVER_ID)
  setup.recorder.count('toolCalls', { server: 'fs', tool: 'read' }, calls + 1, SERVER_ID)
  setup.recorder.set('memory', {}, 100 + calls)
  setup.clock.now = minute + MINUTE_MS
  t.equal(await setup.history.writeMinute(), true, 'the minute is written')
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    /** A migrated database of its own for one test. */
    const database = async (t: Test) => {
      const handle = await testDatabase(t, driver)
      t.teardown(() => handle.close())
      await handle.migrate()
      return handle
    }

    t.test('a minute is one row per series, added to a row of the same minute written before', async (t) => {
      const handle = await database(t)
      const first = historyOn(handle, T0 + 5000)
      first.recorder.count('requests', { route: '/api/servers', method: 'GET', status: '2xx' }, 3)
      first.recorder.observe('responseTime', { route: '/api/servers' }, 4)
      first.recorder.observe('responseTime', { route: '/api/servers' }, 300)
      first.clock.now = T0 + 30_000
      t.equal(await first.history.writeMinute(), true)

      const written = await rows(handle, '1m')
      t.equal(written.length, 2, 'one row per series')
      t.match(written.find((row) => row.name === 'requests'), {
        bucketStart: new Date(T0), series: 'route=%2Fapi%2Fservers,method=GET,status=2xx', labels: { route: '/api/servers', method: 'GET', status: '2xx' }, serverId: null, n: 1, sum: 3
      })
      const latency = written.find((row) => row.name === 'responseTime')!
      t.match(latency, { n: 2, sum: 304, min: 4, max: 300 })
      t.equal(latency.histogram?.[2], 1, '4 ms counted at the 5 ms bound')
      t.equal(latency.histogram?.[8], 1, '300 ms counted at the 500 ms bound')

      // Another hub process (a restart) writes the same minute: its figures are added.
      const second = historyOn(handle, T0 + 40_000)
      second.recorder.observe('responseTime', { route: '/api/servers' }, 2)
      second.recorder.observe('responseTime', { route: '/api/servers' }, 4)
      second.clock.now = T0 + MINUTE_MS
      t.equal(await second.history.writeMinute(), true)
      const merged = (await rows(handle, '1m', 'responseTime'))[0]!
      t.match(merged, { n: 4, sum: 310, min: 2, max: 300 })
      t.equal(merged.histogram?.length, 16)
      t.equal(merged.histogram?.[1], 1, '2 ms')
      t.equal(merged.histogram?.[2], 2, 'the two 4 ms values added up')
      t.equal(merged.histogram?.[8], 1)
      t.equal(merged.histogram?.reduce((sum, count) => sum + count, 0), 4)
      t.same(first.errors, [])
      t.same(second.errors, [])
    })

    t.test('a label the database could not store is cleaned, not the reason a minute is lost', async (t) => {
      const handle = await database(t)
      const setup = historyOn(handle, T0)
      setup.recorder.count('toolCalls', { server: 'fs', tool: 'bad\u0000name\ud800' }, 1, SERVER_ID)
      setup.recorder.count('toolCalls', { server: 'fs', tool: 'good' }, 2, SERVER_ID)
      setup.clock.now = T0 + MINUTE_MS
      t.equal(await setup.history.writeMinute(), true)
      t.same((await rows(handle, '1m')).map((row) => [row.labels.tool, row.sum]), [['bad\ufffdname\ufffd', 1], ['good', 2]])
      t.same(setup.errors, [])
    })

    t.test('a failed write keeps the minute and writes it on the next tick', async (t) => {
      const handle = await database(t)
      const setup = historyOn(handle, T0)
      setup.recorder.count('toolCalls', { server: 'fs', tool: 'read' }, 2, SERVER_ID)
      setup.clock.now = T0 + MINUTE_MS
      await handle.db.execute(sql`alter table metric_buckets rename to metric_buckets_away`)
      t.equal(await setup.history.writeMinute(), false, 'not written while the table is away')
      t.equal(setup.history.pending, 1)
      t.equal(setup.errors.length, 1, 'the failure is reported')
      await setup.history.maintain()
      t.equal(setup.errors.length, 1, 'no rollup is tried while a minute waits')

      await handle.db.execute(sql`alter table metric_buckets_away rename to metric_buckets`)
      setup.recorder.count('toolCalls', { server: 'fs', tool: 'read' }, 5, SERVER_ID)
      setup.clock.now = T0 + 2 * MINUTE_MS
      t.equal(await setup.history.writeMinute(), true)
      t.equal(setup.history.pending, 0)
      t.same((await rows(handle, '1m')).map((row) => [row.bucketStart.getTime(), row.sum]), [[T0, 2], [T0 + MINUTE_MS, 5]], 'both minutes, each in its own bucket')
      t.equal(setup.history.dropped, 0)
    })

    t.test('complete hours and days roll up, again to the same rows, and catch up after downtime', async (t) => {
      const handle = await database(t)
      const setup = historyOn(handle, T0)
      // Three minutes in the 10:00 hour, two in 11:00, one at 13:05 (the hub was down at noon).
      for (const [offset, calls] of [[0, 1], [1, 2], [59, 3], [60, 4], [61, 5], [185, 6]] as const) {
        await minuteOfTraffic(setup, T0 + offset * MINUTE_MS, calls)
      }
      setup.clock.now = T0 + 185 * MINUTE_MS + 30_000
      await setup.history.maintain()
      t.same(setup.errors, [])

      const hours = await rows(handle, '1h')
      t.same([...new Set(hours.map((row) => row.bucketStart.getTime()))], [T0, T0 + HOUR_MS], '10:00 and 11:00; 13:00 is not complete, noon had nothing')
      const calls = hours.filter((row) => row.name === 'toolCalls')
      t.same(calls.map((row) => row.sum), [1 + 1 + 2 + 1 + 3 + 1, 4 + 1 + 5 + 1], 'counters add up')
      const latency = hours.filter((row) => row.name === 'toolLatency')
      t.match(latency[0], { n: 9, sum: 6 * 20 + 3 * 400, min: 20, max: 400, serverId: SERVER_ID, labels: { server: 'fs', tool: 'read' } })
      t.equal(latency[0]!.histogram?.[4], 6, 'six 20 ms calls at the 25 ms bound')
      t.equal(latency[0]!.histogram?.[8], 3, 'three 400 ms calls at the 500 ms bound')
      const memory = hours.filter((row) => row.name === 'memory')
      t.match(memory[0], { n: 3, sum: 101 + 102 + 103, min: 101, max: 103 })

      const before = await rows(handle, '1h')
      await handle.db.delete(metricBuckets).where(eq(metricBuckets.resolution, '1h'))
      t.equal(await rollUp(handle.db, '1h', setup.clock.now), 2)
      await rollUp(handle.db, '1h', setup.clock.now)
      t.same(await rows(handle, '1h'), before, 'rolling up again gives the same rows')

      // The next day: the 13:00 hour and the whole first day roll up.
      setup.clock.now = T0 + DAY_MS
      await setup.history.maintain()
      t.same((await rows(handle, '1h', 'toolCalls')).map((row) => row.sum), [9, 11, 7])
      const days = await rows(handle, '1d', 'toolCalls')
      t.same(days.map((row) => [row.bucketStart.getTime(), row.sum]), [[Date.UTC(2026, 2, 10), 27]], 'one day, every call')
      const dayLatency = (await rows(handle, '1d', 'toolLatency'))[0]!
      t.match(dayLatency, { n: 9 + 11 + 7, min: 20, max: 400 })
      t.equal(dayLatency.histogram?.reduce((sum, count) => sum + count, 0), dayLatency.n, 'the histogram counts every value')
    })

    t.test('a rollup does a bounded number of periods per run and resumes; an hour waits a minute after its end', async (t) => {
      const handle = await database(t)
      const setup = historyOn(handle, T0)
      for (let hour = 0; hour < 5; hour++) await minuteOfTraffic(setup, T0 + hour * HOUR_MS, hour + 1)
      const now = T0 + 5 * HOUR_MS
      t.equal(await rollUp(handle.db, '1h', now, 2), 2)
      t.equal((await rows(handle, '1h', 'toolCalls')).length, 2)
      t.equal(await rollUp(handle.db, '1h', now, 2), 2)
      t.equal(await rollUp(handle.db, '1h', now, 2), 0, 'the hour that has just ended waits a minute for the last writes')
      t.equal(await rollUp(handle.db, '1h', now + MINUTE_MS, 2), 1)
      t.equal(await rollUp(handle.db, '1h', now + MINUTE_MS, 2), 0, 'nothing left')
      t.same((await rows(handle, '1h', 'toolCalls')).map((row) => row.sum), [2, 3, 4, 5, 6])
    })

    t.test('each resolution is pruned after its retention, never before it is rolled up', async (t) => {
      const handle = await database(t)
      const retention = { '1m': 1, '1h': 2, '1d': 10 }
      const setup = historyOn(handle, T0, retention)
      await minuteOfTraffic(setup, T0, 1)
      await minuteOfTraffic(setup, T0 + HOUR_MS, 2)

      // Down for a week: nothing rolled up yet, so the old minutes stay until the rollup has used them.
      setup.clock.now = T0 + 7 * DAY_MS
      await pruneHistory(handle.db, setup.clock.now, retention)
      t.equal((await rows(handle, '1m', 'toolCalls')).length, 2, 'minutes not rolled up are kept')

      await setup.history.maintain()
      t.same(await rows(handle, '1m'), [], 'minutes older than a day are gone once rolled up')
      t.same(await rows(handle, '1h'), [], 'hours older than two days are gone once rolled up into days')
      t.same((await rows(handle, '1d', 'toolCalls')).map((row) => row.sum), [5], 'the day is kept (ten days)')

      setup.clock.now = T0 + 12 * DAY_MS
      await setup.history.maintain()
      t.same(await rows(handle, '1d'), [], 'days older than ten days are gone')
      t.same(setup.errors, [])
    })

    t.test('closing the app writes the current partial minute; the next process adds to it', async (t) => {
      const handle = await database(t)
      // The app closes its database; this test reads it afterwards.
      const shared = { ...handle, close: async () => {} }
      let clock = T0 + 10_000
      const first = await build(t, driver, { database: shared, now: () => clock })
      first.metrics.count('serverRestarts', { server: 'fs' }, 1, SERVER_ID)
      clock = T0 + 20_000
      await first.close()
      t.match(await rows(handle, '1m', 'serverRestarts'), [{ bucketStart: new Date(T0), sum: 1 }], 'written on close')

      clock = T0 + 30_000
      const second = await build(t, driver, { database: shared, now: () => clock })
      second.metrics.count('serverRestarts', { server: 'fs' }, 2, SERVER_ID)
      clock = T0 + MINUTE_MS
      t.equal(await second.metricHistory.history.writeMinute(), true)
      t.match(await rows(handle, '1m', 'serverRestarts'), [{ bucketStart: new Date(T0), n: 2, sum: 3 }], 'one minute, both processes\' counts')
    })
  })
}
