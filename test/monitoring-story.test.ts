import t from 'tap'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { MINUTE_MS } from '../metrics/history.ts'
import { build, signIn, type SignedIn } from './helper.ts'
import { until } from './helpers/wait.ts'

// One operator's afternoon, read back from every monitoring endpoint: REST calls, tool calls
// through a real child process, a server that keeps crashing; then the stored minute
// (`/api/monitoring/metrics`), the summary (`/status`), the hub's log (`/logs`) and `/metrics`
// all tell the same story. Driver-independent (the stores have their own tests on both).

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000, backoffBaseMs: 50, backoffMaxMs: 100, backoffJitter: 0 }

interface Point { t: string, value: number, count?: number, p50?: number, p95?: number, p99?: number, max?: number }
interface Series { name: string, labels: Record<string, string>, points: Point[] }

t.test('traffic, tool calls and a crashing server, read back from every monitoring endpoint', async (t) => {
  const clock = { now: Date.now() }
  const app = await build(t, 'pglite', { now: () => clock.now, supervisorPolicy: POLICY })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const admin = await signIn(app)
  const api = async (method: string, url: string, payload?: object, who: SignedIn = admin) => {
    const res = await app.inject({ method: method as 'POST', url, headers: who.headers, ...(payload === undefined ? {} : { payload }) })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
    return res.json().data
  }

  const echo = await api('POST', '/api/servers', { name: 'echo', command: process.execPath, args: [FIXTURE], enabled: false })
  await api('POST', `/api/servers/${echo.id}/start`)
  for (let i = 0; i < 4; i++) await api('GET', '/api/groups')

  const { port } = app.server.address() as { port: number }
  const client = new Client({ name: 'story', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: admin.headers } }))
  t.teardown(() => client.close())
  const calls = 5
  for (let i = 0; i < calls; i++) await client.callTool({ name: 'echo__echo', arguments: { text: `call ${i}` } })
  await t.rejects(client.callTool({ name: 'echo__echo', arguments: {} }), 'a call the server refuses')

  const crasher = await api('POST', '/api/servers', { name: 'crasher', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'crash-after-init', FIXTURE_CRASH_MS: '20' }, enabled: true })
  await until('two restarts of the crashing server', () => (app.supervisor.get(crasher.id)?.status().restartCount ?? 0) >= 2)
  await api('POST', `/api/servers/${crasher.id}/stop`)
  const restarts = app.supervisor.get(crasher.id)!.status().restartCount

  // The minute ends: what it measured is stored.
  clock.now += MINUTE_MS
  t.equal(await app.metricHistory.history.writeMinute(), true, 'the minute is written')

  const metrics = await api('GET', '/api/monitoring/metrics?timeRange=1h&granularity=1m&metrics=toolCalls,toolErrors,toolLatency,requests,responseTime,serverRestarts')
  const series = metrics.series as Series[]
  const total = (name: string, labels: Record<string, string>) => series
    .filter((one) => one.name === name && Object.entries(labels).every(([label, value]) => one.labels[label] === value))
    .reduce((sum, one) => sum + one.points.reduce((inner, point) => inner + (point.count ?? point.value), 0), 0)
  t.equal(total('toolCalls', { server: echo.key, tool: 'echo' }), calls + 1, 'every tool call, per server and tool')
  t.equal(total('toolErrors', { server: echo.key, tool: 'echo' }), 1, 'the failed one')
  t.equal(total('toolLatency', { server: echo.key }), calls + 1, 'a latency for each')
  const latency = series.find((one) => one.name === 'toolLatency')!.points[0]!
  t.ok(latency.p50! > 0 && latency.p50! <= latency.p95! && latency.p95! <= latency.p99! && latency.p99! < 5000, `plausible latencies: p50 ${latency.p50} ms, p99 ${latency.p99} ms`)
  t.equal(total('requests', { route: '/api/groups', method: 'GET', status: '2xx' }), 4, 'the REST calls, by route template')
  t.equal(total('responseTime', { route: '/api/groups' }), 4, 'their response times')
  t.equal(total('serverRestarts', { server: crasher.key }), restarts, `${restarts} restarts of the crashing server`)

  const status = await api('GET', '/api/monitoring/status')
  t.match(status.servers, { total: 2, running: 1, stopped: 1 }, 'servers by state')
  t.ok(status.performance.requestsPerMinute > 0, `requests per minute: ${status.performance.requestsPerMinute}`)
  t.match(status.performance, { avgResponseTime: /^\d+(\.\d+)?ms$/, errorRate: /^\d+(\.\d+)?%$/ })

  const supervisorLog = await api('GET', '/api/monitoring/logs?source=supervisor&limit=1000')
  t.ok(supervisorLog.items.some((entry: { message: string }) => entry.message.includes('crasher')), 'the crashes in the hub\'s log')
  const crasherLines = await api('GET', `/api/monitoring/logs?source=server:${crasher.key}&limit=1000`)
  t.ok(crasherLines.items.length > 0, 'and the crashing server\'s own lines')

  const scraped = await app.inject({ method: 'GET', url: '/metrics', headers: admin.headers })
  t.match(scraped.body, new RegExp(`^mcphub_tool_calls_total\\{server="${echo.key}"\\} ${calls + 1}$`, 'm'), '/metrics counts the same calls')
  t.match(scraped.body, new RegExp(`^mcphub_server_restarts_total\\{server="${crasher.key}"\\} ${restarts}$`, 'm'), 'and the same restarts')
})
