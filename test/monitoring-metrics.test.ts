import t, { type Test } from 'tap'
import type { App } from '../app.ts'
import { HOUR_MS, MINUTE_MS } from '../metrics/history.ts'
import { build, createUser, DRIVERS, signIn, type Driver } from './helper.ts'
import { createApiKey } from './helpers/auth.ts'

// GET /api/monitoring/metrics over real stored buckets: values recorded through `app.metrics`,
// minutes written with a clock the test moves, read back with the right totals, means and
// percentiles at each granularity; combinations that cannot be served are 422s saying what to
// ask instead; users see only the series of the servers they may read.

const T0 = Date.UTC(2026, 2, 10, 12, 0, 0)
const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

interface Point { t: string, value: number, count?: number, p50?: number, p95?: number, p99?: number, max?: number }
interface Series { name: string, labels: Record<string, string>, unit: string, kind: string, points: Point[] }

/** The app on a clock the test moves, and an admin whose API key outlives any clock jump. */
async function setUp (t: Test, driver: Driver) {
  const clock = { now: T0 + 10_000 }
  const app = await build(t, driver, { now: () => clock.now })
  const admin = await signIn(app)
  const key = await createApiKey(app, admin)
  return { app, clock, admin, headers: { 'x-api-key': key.key } }
}

async function metrics (app: App, headers: Record<string, string>, query: string) {
  const res = await app.inject({ method: 'GET', url: `/api/monitoring/metrics?${query}`, headers })
  return { status: res.statusCode, body: res.json() }
}

/** The series of one name (and labels matching `labels`) in an answer. */
function seriesOf (body: { data: { series: Series[] } }, name: string, labels: Record<string, string> = {}): Series | undefined {
  return body.data.series.find((one) => one.name === name && Object.entries(labels).every(([label, value]) => one.labels[label] === value))
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    t.test('counters, gauges and histograms read back per minute and per 5 minutes', async (t) => {
      const { app, clock, headers } = await setUp(t, driver)
      const fs = { server: 'fs', tool: 'read' }
      // Minute 0: 100 calls, 50 of 20 ms, 40 of 80 ms, 10 of 200 ms; the server's memory sampled at 100 and 300.
      for (const [value, times] of [[20, 50], [80, 40], [200, 10]]) {
        for (let i = 0; i < times!; i++) app.metrics.observe('toolLatency', fs, value!)
      }
      app.metrics.count('toolCalls', fs, 100)
      app.metrics.set('serverMemory', { server: 'fs' }, 100)
      app.metrics.set('serverMemory', { server: 'fs' }, 300)
      clock.now = T0 + MINUTE_MS
      t.equal(await app.metricHistory.history.writeMinute(), true)
      // Minute 1: 30 calls; minute 2 (the current one, not written yet): 5.
      app.metrics.count('toolCalls', fs, 30)
      clock.now = T0 + 2 * MINUTE_MS
      t.equal(await app.metricHistory.history.writeMinute(), true)
      app.metrics.count('toolCalls', fs, 5)
      clock.now = T0 + 2 * MINUTE_MS + 30_000

      const perMinute = await metrics(app, headers, 'timeRange=1h&metrics=serverMemory,toolCalls,toolLatency')
      t.equal(perMinute.status, 200)
      t.match(perMinute.body.data, { timeRange: '1h', granularity: '1m', from: new Date(clock.now - HOUR_MS).toISOString(), to: new Date(clock.now).toISOString() })
      t.same(perMinute.body.data.series.map((one: Series) => one.name), ['toolCalls', 'toolLatency', 'serverMemory'], 'the catalog\'s order')
      const calls = seriesOf(perMinute.body, 'toolCalls', fs)!
      t.match(calls, { labels: fs, unit: 'calls', kind: 'counter' })
      t.same(calls.points, [
        { t: new Date(T0).toISOString(), value: 100 },
        { t: new Date(T0 + MINUTE_MS).toISOString(), value: 30 },
        { t: new Date(T0 + 2 * MINUTE_MS).toISOString(), value: 5 }
      ], 'a total per minute, the current minute included')
      // p50: rank 50 falls in (10, 25]: 10 + 15 × 50/50. p95: rank 95 is the 5th of 10 in (100, 250]: 100 + 150 × 5/10.
      // p99 would be 235, above every value seen: the maximum.
      t.same(seriesOf(perMinute.body, 'toolLatency')!.points, [{ t: new Date(T0).toISOString(), count: 100, value: 62, p50: 25, p95: 175, p99: 200, max: 200 }])
      t.same(seriesOf(perMinute.body, 'serverMemory')!.points, [{ t: new Date(T0).toISOString(), value: 200, max: 300 }], 'a gauge: mean and max')

      const fiveMinutes = await metrics(app, headers, 'timeRange=1h&granularity=5m&metrics=toolCalls')
      t.equal(fiveMinutes.body.data.granularity, '5m')
      t.same(seriesOf(fiveMinutes.body, 'toolCalls')!.points, [{ t: new Date(T0).toISOString(), value: 135 }], 'five minutes from the minute buckets')

      const repeated = await metrics(app, headers, 'metrics=toolCalls&metrics=serverMemory')
      t.same(repeated.body.data.series.map((one: Series) => one.name), ['toolCalls', 'serverMemory'], 'the parameter may also be repeated')
      const everything = await metrics(app, headers, '')
      const names = everything.body.data.series.map((one: Series) => one.name)
      t.ok(['toolCalls', 'toolLatency', 'serverMemory'].every((name) => names.includes(name)), 'by default every metric with data')

      // A tool name a server made up, not valid Unicode: shown cleaned, as it will be stored.
      app.metrics.count('toolCalls', { server: 'fs', tool: 'odd\ud800' }, 1)
      const odd = await metrics(app, headers, 'metrics=toolCalls')
      t.equal(odd.status, 200)
      t.ok(seriesOf(odd.body, 'toolCalls', { tool: 'odd\ufffd' }), 'the current minute\'s series with its cleaned label')
    })

    t.test('hours and days come from the rollups, the periods not rolled up yet from finer buckets', async (t) => {
      const { app, clock, headers } = await setUp(t, driver)
      const minute = async (at: number, calls: number) => {
        clock.now = at + 1000
        app.metrics.count('toolCalls', { server: 'fs', tool: 'read' }, calls)
        clock.now = at + MINUTE_MS
        t.equal(await app.metricHistory.history.writeMinute(), true)
      }
      await minute(T0, 1)
      await minute(T0 + 30 * MINUTE_MS, 2)
      await minute(T0 + HOUR_MS, 4)
      await minute(T0 + 2 * HOUR_MS + 5 * MINUTE_MS, 8)
      clock.now = T0 + 2 * HOUR_MS + 6 * MINUTE_MS
      app.metrics.count('toolCalls', { server: 'fs', tool: 'read' }, 16)
      await app.metricHistory.history.maintain()

      const hourly = await metrics(app, headers, 'timeRange=24h&granularity=1h&metrics=toolCalls')
      t.equal(hourly.status, 200)
      t.same(seriesOf(hourly.body, 'toolCalls')!.points.map((point) => [point.t, point.value]), [
        [new Date(T0).toISOString(), 3],
        [new Date(T0 + HOUR_MS).toISOString(), 4],
        [new Date(T0 + 2 * HOUR_MS).toISOString(), 24]
      ], 'two rolled-up hours, and the current one from its minutes and the minute not written yet')

      const daily = await metrics(app, headers, 'timeRange=30d&granularity=1d&metrics=toolCalls')
      t.same(seriesOf(daily.body, 'toolCalls')!.points.map((point) => [point.t, point.value]), [[new Date(Date.UTC(2026, 2, 10)).toISOString(), 31]], 'today from hours and minutes')
      const defaults = await metrics(app, headers, 'timeRange=30d&metrics=toolCalls')
      t.equal(defaults.body.data.granularity, '1h', '30 days are hourly by default')
    })

    t.test('combinations that cannot be served are 422s saying what to ask instead', async (t) => {
      const { app, headers } = await setUp(t, driver)
      for (const [query, says] of [
        ['timeRange=7d&granularity=1m', /10080 points per series, more than 1500; use granularity=1h/],
        ['timeRange=7d&granularity=5m', /2016 points per series, more than 1500; use granularity=1h/],
        ['timeRange=30d&granularity=5m', /kept 7 days, less than timeRange=30d; use granularity=1h/],
        ['timeRange=30d&granularity=1m', /use granularity=1h/],
        ['timeRange=1h&granularity=1h', /1h is not finer than timeRange=1h; use granularity=1m/],
        ['timeRange=24h&granularity=1d', /1d is not finer than timeRange=24h; use granularity=1m/]
      ] as const) {
        const res = await metrics(app, headers, query)
        t.equal(res.status, 422, query)
        t.match(res.body, { success: false, error: { code: 'VALIDATION_ERROR', message: says, details: { field: 'granularity' } } }, query)
      }
      const unknown = await metrics(app, headers, 'metrics=requests,bogus')
      t.equal(unknown.status, 422)
      t.match(unknown.body.error, { code: 'VALIDATION_ERROR', message: /"bogus" is not a metric/, details: { field: 'metrics' } })
      for (const query of ['timeRange=2h', 'granularity=10m', 'metrics=', 'other=1']) {
        const res = await metrics(app, headers, query)
        t.equal(res.status, 422, query)
        t.equal(res.body.error.code, 'VALIDATION_ERROR', query)
      }
    })

    t.test('users see only the series of the servers they may read; hub-wide series are for admins', async (t) => {
      const { app, clock, admin, headers } = await setUp(t, driver)
      const api = async (method: string, url: string, payload?: object) => {
        const res = await app.inject({ method: method as 'POST', url, headers: admin.headers, ...(payload === undefined ? {} : { payload }) })
        if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
        return res.json().data
      }
      const server = (name: string) => api('POST', '/api/servers', { name, command: process.execPath, args: [FIXTURE], enabled: false })
      const mine = await server('mine')
      const theirs = await server('theirs')
      const group = await api('POST', '/api/groups', { name: 'watchers', permissions: { servers: ['read'] } })
      await api('POST', `/api/groups/${group.id}/servers`, { serverId: mine.id, permissions: ['read'] })
      const user = await createUser(app, admin)
      await api('POST', `/api/groups/${group.id}/members`, { userId: user.userId })
      const outsider = await createUser(app, admin)

      for (const one of [mine, theirs]) {
        app.metrics.count('toolCalls', { server: one.key, tool: 'echo' }, 3, one.id)
        app.metrics.set('serverMemory', { server: one.key }, 1000, one.id)
      }
      app.metrics.count('requests', { route: '/api/servers', method: 'GET', status: '2xx' }, 7)
      clock.now = T0 + MINUTE_MS
      t.equal(await app.metricHistory.history.writeMinute(), true)
      // One more call in the current minute, not written yet: the same rules apply to it.
      app.metrics.count('toolCalls', { server: theirs.key, tool: 'echo' }, 1, theirs.id)
      const userHeaders = { 'x-api-key': (await createApiKey(app, user)).key }

      const seen = await metrics(app, userHeaders, '')
      t.equal(seen.status, 200)
      // The sampler may add series of its own (serverUp…): all of them are about the user's server too.
      t.same(seen.body.data.series.filter((one: Series) => one.labels.server !== mine.key), [], 'only the server the user may read')
      const recorded = seen.body.data.series.filter((one: Series) => one.name === 'toolCalls' || one.name === 'serverMemory')
      t.same(recorded.map((one: Series) => [one.name, one.labels.server]), [['toolCalls', mine.key], ['serverMemory', mine.key]], 'what was recorded for it')
      const named = await metrics(app, userHeaders, 'metrics=toolCalls')
      t.same(named.body.data.series.map((one: Series) => one.labels.server), [mine.key])

      const hubWide = await metrics(app, userHeaders, 'metrics=toolCalls,requests')
      t.equal(hubWide.status, 403)
      t.match(hubWide.body, { success: false, error: { code: 'AUTHORIZATION_FAILED', message: /requests is hub-wide/ } })

      const nothing = await metrics(app, { 'x-api-key': (await createApiKey(app, outsider)).key }, '')
      t.same(nothing.body.data.series, [], 'a user of no server sees nothing')

      const all = await metrics(app, headers, 'metrics=toolCalls,requests')
      const total = (one: Series) => one.points.reduce((sum, point) => sum + point.value, 0)
      t.same(all.body.data.series.filter((one: Series) => one.name === 'toolCalls').map((one: Series) => [one.labels.server, total(one)]), [[mine.key, 3], [theirs.key, 4]], 'admins see every server\'s series')
      t.ok(total(seriesOf(all.body, 'requests', { route: '/api/servers', method: 'GET', status: '2xx' })!) >= 7, 'and the hub-wide ones')

      const anonymous = await app.inject({ method: 'GET', url: '/api/monitoring/metrics' })
      t.equal(anonymous.statusCode, 401)
    })
  })
}
