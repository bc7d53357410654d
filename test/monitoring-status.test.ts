import t from 'tap'
import type { App } from '../app.ts'
import { MINUTE_MS } from '../metrics/history.ts'
import packageJson from '../package.json' with { type: 'json' }
import { build, createUser, DRIVERS, signIn, type SignedIn } from './helper.ts'
import { createApiKey } from './helpers/auth.ts'
import { until } from './helpers/wait.ts'

// GET /api/monitoring/status: the hub process, servers counted by the state of their real
// processes (all for admins, the readable ones for users), and the last five minutes'
// throughput, mean latency and error rate from the stored minutes and the current one.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000, maxFailures: 1 }
const T0 = Date.UTC(2026, 2, 10, 12, 0, 0)

async function status (app: App, headers: Record<string, string>) {
  const res = await app.inject({ method: 'GET', url: '/api/monitoring/status', headers })
  if (res.statusCode !== 200) throw new Error(`status: ${res.statusCode} ${res.body}`)
  return res.json().data
}

/** Admin requests through the API; throws on failure. */
function adminApi (app: App, admin: SignedIn) {
  return async (method: string, url: string, payload?: object) => {
    const res = await app.inject({ method: method as 'POST', url, headers: admin.headers, ...(payload === undefined ? {} : { payload }) })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
    return res.json().data
  }
}

/** A user who may read `serverId` (through a group), with an API key. */
async function readerOf (app: App, admin: SignedIn, serverId: string) {
  const api = adminApi(app, admin)
  const group = await api('POST', '/api/groups', { name: `readers-${serverId.slice(0, 8)}`, permissions: { servers: ['read'] } })
  await api('POST', `/api/groups/${group.id}/servers`, { serverId, permissions: ['read'] })
  const user = await createUser(app, admin)
  await api('POST', `/api/groups/${group.id}/members`, { userId: user.userId })
  return { 'x-api-key': (await createApiKey(app, user)).key }
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    t.test('servers are counted by the state of their processes', async (t) => {
      const app = await build(t, driver, { supervisorPolicy: POLICY })
      const admin = await signIn(app)
      const api = adminApi(app, admin)
      const server = (name: string, mode: string) => api('POST', '/api/servers', { name, command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: mode }, enabled: false })
      const up = await server('up', 'normal')
      const broken = await server('broken', 'exit')
      await server('idle', 'normal')
      t.equal((await api('POST', `/api/servers/${up.id}/start`)).status, 'running')
      await app.inject({ method: 'POST', url: `/api/servers/${broken.id}/start`, headers: admin.headers })
      await until('the broken server to give up', async () => (await api('GET', `/api/servers/${broken.id}`)).status === 'error')

      const seen = await status(app, admin.headers)
      t.same(seen.servers, { total: 3, stopped: 1, starting: 0, running: 1, stopping: 0, backoff: 0, error: 1 }, 'every state, a server never started counted as stopped')
      t.match(seen.system, { version: packageJson.version, nodeVersion: process.versions.node })
      t.ok(Number.isInteger(seen.system.uptime) && seen.system.uptime >= 0, 'uptime in whole seconds')

      const reader = await readerOf(app, admin, up.id)
      t.same((await status(app, reader)).servers, { total: 1, stopped: 0, starting: 0, running: 1, stopping: 0, backoff: 0, error: 0 }, 'a user counts the servers they may read')

      await api('POST', `/api/servers/${up.id}/stop`, { graceful: false })
      t.match((await status(app, admin.headers)).servers, { total: 3, running: 0, stopped: 2, error: 1 })
    })

    t.test('performance covers the last five minutes: the hub\'s requests for admins, their servers\' tool calls for users', async (t) => {
      let clock = T0 - 10 * MINUTE_MS
      const app = await build(t, driver, { now: () => clock })
      const admin = await signIn(app)
      const adminHeaders = { 'x-api-key': (await createApiKey(app, admin)).key }
      const api = adminApi(app, admin)
      const mine = await api('POST', '/api/servers', { name: 'mine', command: process.execPath, args: [FIXTURE], enabled: false })
      const theirs = await api('POST', '/api/servers', { name: 'theirs', command: process.execPath, args: [FIXTURE], enabled: false })
      const reader = await readerOf(app, admin, mine.id)
      t.same((await status(app, reader)).performance, { requestsPerMinute: 0, avgResponseTime: '0ms', errorRate: '0%' }, 'no calls yet')

      const traffic = (calls: number, errors: number, latencies: number[]) => {
        const tool = { server: mine.key, tool: 'echo' }
        app.metrics.count('toolCalls', tool, calls, mine.id)
        app.metrics.count('toolErrors', tool, errors, mine.id)
        app.metrics.count('requests', { route: '/api/servers', method: 'GET', status: '2xx' }, calls)
        app.metrics.count('errors', { route: '/api/servers' }, errors)
        for (const latency of latencies) {
          app.metrics.observe('toolLatency', tool, latency, mine.id)
          app.metrics.observe('responseTime', { route: '/api/servers' }, latency)
        }
      }
      // Ten minutes ago, outside the window: a burst that must not count.
      traffic(5000, 500, [5000])
      app.metrics.count('toolCalls', { server: theirs.key, tool: 'echo' }, 1000, theirs.id)
      clock = T0 - 9 * MINUTE_MS
      t.equal(await app.metricHistory.history.writeMinute(), true)
      // The last whole minute (stored): 600 calls, 2 errors, latencies averaging 245 ms; the
      // current minute (not stored yet): 300 calls, 1 error, 245 ms each.
      clock = T0 + 1000
      traffic(600, 2, [...Array(300).fill(200), ...Array(300).fill(290)])
      app.metrics.count('toolCalls', { server: theirs.key, tool: 'echo' }, 1000, theirs.id)
      clock = T0 + MINUTE_MS
      t.equal(await app.metricHistory.history.writeMinute(), true)
      traffic(300, 1, Array(300).fill(245))
      clock = T0 + MINUTE_MS + 30_000

      // 900 calls over the 4.5 minutes from 11:57 to 12:01:30; 3 errors in 900 calls.
      t.same((await status(app, reader)).performance, { requestsPerMinute: 200, avgResponseTime: '245ms', errorRate: '0.3%' }, 'the user: tool calls of the servers they may read')

      const hub = (await status(app, adminHeaders)).performance
      // The hub's own instrumentation may add the requests this test made to the figures.
      t.ok(hub.requestsPerMinute >= 200 && hub.requestsPerMinute < 220, `admins: the hub's requests per minute (${hub.requestsPerMinute})`)
      t.match(hub.avgResponseTime, /^2[0-4][0-9]ms$/)
      t.equal(hub.errorRate, '0.3%')
    })
  })
}
