import { createRequire } from 'node:module'
import t from 'tap'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { build, createUser, signIn, type SignedIn } from './helper.ts'
import { createApiKey } from './helpers/auth.ts'
import { until } from './helpers/wait.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const METRICS_TOKEN = 'scrape-token-0123456789abcdef0123456789'
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000, backoffBaseMs: 50, backoffMaxMs: 100, backoffJitter: 0 }

interface Sample { value?: string, labels?: Record<string, string>, count?: string, sum?: string, buckets?: Record<string, string> }
interface Family { name: string, type: string, metrics: Sample[] }
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

type App = Awaited<ReturnType<typeof build>>

interface Scraped {
  families: Map<string, Family>
  /** The parser folds a labelled histogram's series into one: their `_count` and `_sum` lines, read from the text. */
  text: string
}

async function scrape (app: App, headers: Record<string, string> = { authorization: `Bearer ${METRICS_TOKEN}` }): Promise<Scraped> {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers })
  if (res.statusCode !== 200) throw new Error(`GET /metrics: ${res.statusCode} ${res.body}`)
  return { families: new Map(parsePrometheus(res.body).map((family) => [family.name, family])), text: res.body }
}

/** A histogram series' `_count` or `_sum`, by its exact label text, e.g. `server="echo"`. */
function histogramLine ({ text }: Scraped, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** The sample of a family whose labels include `labels`. */
function sampleOf ({ families }: Scraped, name: string, labels: Record<string, string> = {}): Sample | undefined {
  return families.get(name)?.metrics.find((sample) => Object.entries(labels).every(([label, value]) => sample.labels?.[label] === value))
}

const valueOf = (families: Scraped, name: string, labels: Record<string, string> = {}) => {
  const sample = sampleOf(families, name, labels)
  return sample?.value === undefined ? undefined : Number(sample.value)
}

async function api (app: App, who: SignedIn, method: string, url: string, payload?: object) {
  const res = await app.inject({ method: method as 'POST', url, headers: who.headers, ...(payload === undefined ? {} : { payload }) })
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.body}`)
  return res.body === '' ? undefined : res.json().data
}

async function mcpClient (t: { teardown: (fn: () => unknown) => void }, app: App, who: SignedIn): Promise<Client> {
  const { port } = app.server.address() as { port: number }
  const client = new Client({ name: 'test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: who.headers } }))
  t.teardown(() => client.close())
  return client
}

// A crashing server's restarts on /metrics: test/monitoring-story.test.ts.
t.test('/metrics counts real traffic: REST calls, tool calls through a child, a stopped server', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: POLICY, config: { metricsToken: METRICS_TOKEN } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const admin = await signIn(app)
  const echo = await api(app, admin, 'POST', '/api/servers', { name: 'echo', command: process.execPath, args: [FIXTURE], enabled: false }) as { id: string, key: string }
  await api(app, admin, 'POST', `/api/servers/${echo.id}/start`)

  for (let i = 0; i < 3; i++) await api(app, admin, 'GET', '/api/groups')
  t.equal((await app.inject({ method: 'GET', url: '/api/no-such-route' })).statusCode, 404)

  const client = await mcpClient(t, app, admin)
  const calls = 7
  for (let i = 0; i < calls; i++) t.same((await client.callTool({ name: 'echo__echo', arguments: { text: `hi ${i}` } })).content, [{ type: 'text', text: `hi ${i}` }])
  // No `text`: the server answers with an error.
  await t.rejects(client.callTool({ name: 'echo__echo', arguments: {} }))

  const stopped = await api(app, admin, 'POST', '/api/servers', { name: 'stopped', command: process.execPath, args: [FIXTURE], enabled: false }) as { id: string, key: string }
  await api(app, admin, 'POST', `/api/servers/${stopped.id}/start`)
  await api(app, admin, 'POST', `/api/servers/${stopped.id}/stop`)

  await app.sampler.sample(false)
  const families = await scrape(app)

  t.equal(valueOf(families, 'mcphub_http_requests_total', { route: '/api/groups', method: 'GET', status: '2xx' }), 3, 'each REST call, by route template')
  t.equal(valueOf(families, 'mcphub_http_requests_total', { route: 'unmatched', method: 'GET', status: '4xx' }), 1, 'a request no route matched')
  t.equal(histogramLine(families, 'mcphub_http_response_time_ms_count', 'route="/api/groups"'), 3, 'their response times')

  t.equal(valueOf(families, 'mcphub_tool_calls_total', { server: echo.key }), calls + 1, 'every tools/call answered')
  t.equal(valueOf(families, 'mcphub_tool_errors_total', { server: echo.key }), 1, 'the one that failed')
  t.equal(histogramLine(families, 'mcphub_tool_latency_ms_count', `server="${echo.key}"`), calls + 1, 'a latency for each call')
  const latencySum = histogramLine(families, 'mcphub_tool_latency_ms_sum', `server="${echo.key}"`)!
  t.ok(latencySum >= 0 && latencySum < (calls + 1) * 5000, `plausible latencies: ${latencySum} ms in all`)
  t.same(Object.keys(sampleOf(families, 'mcphub_tool_calls_total')!.labels!).sort(), ['server'], 'no tool label on /metrics')
  t.equal(valueOf(families, 'mcphub_mcp_requests_total', { method: 'tools/call' }), calls + 1, 'MCP requests by method')
  t.equal(valueOf(families, 'mcphub_mcp_requests_total', { method: 'initialize' }), 1)

  t.equal(valueOf(families, 'mcphub_server_up', { server: echo.key }), 1, 'the running server is up')
  t.equal(valueOf(families, 'mcphub_server_up', { server: stopped.key }), 0, 'the stopped one is not')
  t.equal(valueOf(families, 'mcphub_servers', { state: 'running' }), 1)
  t.equal(valueOf(families, 'mcphub_servers', { state: 'stopped' }), 1)
  t.ok(valueOf(families, 'mcphub_server_resident_memory_bytes', { server: echo.key })! > 1_000_000, 'the child\'s memory, from /proc')
  t.equal(sampleOf(families, 'mcphub_server_resident_memory_bytes', { server: stopped.key }), undefined, 'none for a server without a process')
  t.equal(valueOf(families, 'mcphub_mcp_sessions'), 1, 'the open MCP session')
  t.ok(valueOf(families, 'mcphub_process_resident_memory_bytes')! > 10_000_000, 'the hub\'s memory')
  t.ok(Number(sampleOf(families, 'mcphub_db_query_time_ms')?.count) > 0, 'database queries timed')
  t.equal(valueOf(families, 'mcphub_db_pool_connections'), 0, 'no pool on the embedded database')

  // The child's CPU needs two samples; a busy call in between is not needed for a figure.
  await app.sampler.sample(false)
  const cpu = valueOf(await scrape(app), 'mcphub_server_cpu_percent', { server: echo.key })
  t.ok(cpu !== undefined && cpu >= 0 && cpu <= 100 * 64, `the child's CPU: ${cpu}%`)
})

t.test('/metrics: admins (token or API key) and the scrape token; everyone else 401/403 in the envelope', async (t) => {
  const app = await build(t, 'pglite', { config: { metricsToken: METRICS_TOKEN } })
  const admin = await signIn(app)
  const user = await createUser(app, admin)
  const { key } = await createApiKey(app, admin)

  const asAdmin = await app.inject({ method: 'GET', url: '/metrics', headers: admin.headers })
  t.equal(asAdmin.statusCode, 200)
  t.match(asAdmin.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.ok(parsePrometheus(asAdmin.body).some((family) => family.name === 'mcphub_http_requests_total'), 'the exposition parses')
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { 'x-api-key': key } })).statusCode, 200, 'an admin\'s API key')
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode, 200, 'the scrape token')

  const refusals: Array<[string, Record<string, string>, number, string]> = [
    ['no credential', {}, 401, 'AUTHENTICATION_FAILED'],
    ['a wrong token', { authorization: `Bearer ${METRICS_TOKEN}x` }, 401, 'AUTHENTICATION_FAILED'],
    ['a user', user.headers, 403, 'AUTHORIZATION_FAILED']
  ]
  for (const [who, headers, status, code] of refusals) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers })
    t.equal(res.statusCode, status, who)
    t.match(res.json(), { success: false, error: { code } }, `${who}: the contract's envelope`)
  }
  const elsewhere = await app.inject({ method: 'GET', url: '/api/servers', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  t.equal(elsewhere.statusCode, 401, 'the scrape token opens nothing else')
})

t.test('MCPHUB_METRICS=off: nothing recorded, no sampler', async (t) => {
  const app = await build(t, 'pglite', { config: { metricsEnabled: false } })
  const admin = await signIn(app)
  await api(app, admin, 'GET', '/api/groups')
  t.equal(app.sampler.running, false, 'the sampler does not run')
  t.same(app.metrics.takeMinute(Date.now()).series, [], 'nothing recorded')
  const { families } = await scrape(app, admin.headers)
  const zero = (sample: Sample) => sample.labels === undefined && [sample.value, sample.count, sample.sum, ...Object.values(sample.buckets ?? {})].every((value) => value === undefined || Number(value) === 0)
  t.ok(families.size > 0 && [...families.values()].every((family) => family.metrics.every(zero)), '/metrics: no series, every total 0')
})

t.test('the sampler runs every sampleMs while metrics are on', async (t) => {
  const app = await build(t, 'pglite')
  t.equal(app.sampler.running, true)
  await until('a sample of the hub\'s memory', () => app.metrics.takeMinute(Date.now()).series.find((series) => series.name === 'memory'), 15_000)
})

t.test('a server\'s sampling requests relayed to the calling client are counted', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: { startTimeoutMs: 15_000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const admin = await signIn(app)
  const conformance = new URL('./fixtures/conformance-server.ts', import.meta.url).pathname
  const server = await api(app, admin, 'POST', '/api/servers', { name: 'sampler', command: process.execPath, args: [conformance], enabled: false }) as { id: string, key: string }
  await api(app, admin, 'POST', `/api/servers/${server.id}/start`)
  const { port } = app.server.address() as { port: number }
  const client = new Client({ name: 'asked', version: '1.0.0' }, { capabilities: { sampling: {} } })
  client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: 'sampled' } }))
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/servers/${server.key}`), { requestInit: { headers: admin.headers } }))
  t.teardown(() => client.close())
  for (let i = 0; i < 2; i++) t.same((await client.callTool({ name: 'test_sampling', arguments: { prompt: 'hello' } })).content, [{ type: 'text', text: 'LLM response: sampled' }])
  t.equal(valueOf(await scrape(app, admin.headers), 'mcphub_mcp_relayed_requests_total', { server: server.key, method: 'sampling/createMessage' }), 2)
})
