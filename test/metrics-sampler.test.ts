import t from 'tap'
import { authedClient, listen, subscribe } from './helpers/ws.ts'
import { build, DRIVERS, signIn } from './helper.ts'

const isMonitoring = (message: { type: string, channel?: unknown }) => message.type === 'event' && message.channel === 'monitoring'

t.test('monitoring: samples from the metrics sampler, every 5 s by default', async (t) => {
  const app = await build(t, 'pglite')
  const admin = await signIn(app)
  const client = await authedClient(t, await listen(app), { token: admin.token })
  await subscribe(client, { channel: 'monitoring', metrics: ['wsConnections', 'mcpSessions', 'eventLoopUtilization'] })
  const first = await client.waitFor(isMonitoring)
  const metrics = (first.data as { metrics: Record<string, number> }).metrics
  t.same(Object.keys(metrics).sort(), ['eventLoopUtilization', 'mcpSessions', 'wsConnections'], 'the metrics asked for')
  t.equal(metrics.wsConnections, 1, 'this socket')
  t.equal(metrics.mcpSessions, 0, 'no MCP session')
  t.ok(metrics.eventLoopUtilization! >= 0 && metrics.eventLoopUtilization! <= 1, `utilization ${metrics.eventLoopUtilization}`)
  const second = await client.waitFor(isMonitoring)
  const gap = Date.parse(second.timestamp as string) - Date.parse(first.timestamp as string)
  t.ok(gap >= 4500, `${gap} ms between samples without an interval`)
})

t.test('MCPHUB_METRICS=off: no monitoring samples either', async (t) => {
  const app = await build(t, 'pglite', { config: { metricsEnabled: false } })
  const admin = await signIn(app)
  const client = await authedClient(t, await listen(app), { token: admin.token })
  await subscribe(client, { channel: 'monitoring', filters: { interval: 1000 } })
  t.equal(app.sampler.running, false)
  t.equal(app.events.lastSeq('monitoring'), 0, 'nothing published')
})

for (const driver of DRIVERS) {
  t.test(`${driver}: database queries are timed; the pool is measured`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    app.metrics.takeMinute(Date.now())
    for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'GET', url: '/api/users', headers: admin.headers })).statusCode, 200)
    await app.sampler.sample(false)
    const series = app.metrics.takeMinute(Date.now()).series
    const queries = series.find((one) => one.name === 'dbQueryTime')
    t.ok(queries !== undefined && queries.n >= 3, `${queries?.n} queries timed`)
    t.ok(queries!.max < 5000, `plausible: at most ${queries!.max} ms`)
    const pool = series.find((one) => one.name === 'dbPoolSize')!
    if (driver === 'pg') t.ok(pool.max >= 1, `${pool.max} pool connections`)
    else t.equal(pool.max, 0, 'no pool on PGlite')
    t.equal(series.find((one) => one.name === 'dbPoolWaiting')?.max, 0, 'nothing waiting')
  })
}
