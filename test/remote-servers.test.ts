import t, { type Test } from 'tap'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { servers } from '../db/schema.ts'
import { freePort, shellQuote } from '../scripts/bench-peer.ts'
import { createUser, rememberSecret, signIn, type SignedIn } from './helper.ts'
import { apiAs, startLiveHub, type LiveHub } from './helpers/live-hub.ts'
import { startProcess } from './helpers/processes.ts'
import { headersSeen, startUpstream, stopUpstream } from './helpers/remote-upstream.ts'
import { until } from './helpers/wait.ts'
import { startTcpProxy } from './tcp-proxy.ts'

/**
 * Remote MCP servers started by the tests as real HTTP servers: the conformance fixture over
 * Streamable HTTP (2025 sessions, and the 2026-07-28 protocol), over the older HTTP+SSE
 * transport, and a stdio server behind supergateway.
 */

const STDIO_FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const SUPERGATEWAY = new URL('../node_modules/supergateway/dist/index.js', import.meta.url).pathname
const HEADER_SECRET = 'upstream-token-7c1d0e5b9a'
rememberSecret(HEADER_SECRET)

/** A hub that may reach 127.0.0.1, with short supervisor timings. */
async function hub (t: Test, options: { allow?: string[] } = {}): Promise<{ app: LiveHub['app'], baseUrl: string, admin: SignedIn, api: ReturnType<typeof apiAs> }> {
  const live = await startLiveHub(t, 'pglite', {
    config: { egressAllow: options.allow ?? ['127.0.0.1'] },
    supervisorPolicy: { startTimeoutMs: 15_000, backoffBaseMs: 200, backoffJitter: 0, maxFailures: 3, stdinGraceMs: 300, stopTimeoutMs: 1000 }
  })
  const admin = await signIn(live.app)
  return { app: live.app, baseUrl: live.baseUrl, admin, api: apiAs(live.app, admin) }
}

async function mcpClient (t: Test, url: string, who: SignedIn, capabilities: Record<string, object> = {}): Promise<Client> {
  const client = new Client({ name: 'test-client', version: '1.0.0' }, { capabilities })
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: who.headers } }))
  t.teardown(() => client.close())
  return client
}

const textOf = (result: { content?: unknown }) => (result.content as Array<{ text?: string }>)[0]?.text

t.test('a Streamable HTTP server: served on every endpoint, with the hub\'s headers only', async (t) => {
  const upstream = await startUpstream(t, 'streamable-http')
  const { app, api, admin, baseUrl } = await hub(t)
  const created = await api('POST', '/api/servers', { name: 'Remote', type: 'streamable-http', url: upstream.url, headers: { 'X-Upstream-Token': HEADER_SECRET }, keepAlive: 1000, enabled: false }) as { id: string, key: string }
  await api('POST', `/api/servers/${created.id}/start`)
  const shown = await api('GET', `/api/servers/${created.id}`) as Record<string, unknown>
  t.match(shown, { type: 'streamable-http', url: upstream.url, headers: { 'x-upstream-token': '********' }, status: 'running', pid: null, command: null }, 'running, its header masked')

  await api('POST', '/api/groups', { name: 'remote-users', permissions: { servers: ['read'], tools: ['read', 'execute'] } })
  await api('POST', '/api/groups/remote-users/servers', { serverId: created.id, permissions: ['read'] })
  const member = await createUser(app, admin, { groups: ['remote-users'] })

  const aggregate = await mcpClient(t, `${baseUrl}/mcp`, admin, { sampling: {}, roots: {}, elicitation: {} })
  aggregate.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { username: 'ann', email: 'ann@example.com' } }))
  aggregate.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: 'from the caller' } }))
  aggregate.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///home/caller', name: 'home' }] }))
  const names = (await aggregate.listTools()).tools.map((tool) => tool.name)
  t.ok(names.includes(`${created.key}__test_simple_text`), '/mcp lists its tools, namespaced')
  t.equal(textOf(await aggregate.callTool({ name: `${created.key}__test_simple_text`, arguments: {} })), 'This is a simple text response for testing.', '/mcp calls them')
  t.equal(textOf(await aggregate.callTool({ name: `${created.key}__test_sampling`, arguments: { prompt: 'hi' } })), 'LLM response: from the caller', 'the server\'s sampling request is relayed to the caller')
  t.equal(textOf(await aggregate.callTool({ name: `${created.key}__list_roots`, arguments: {} })), 'file:///home/caller', 'and its roots/list')
  t.match(textOf(await aggregate.callTool({ name: `${created.key}__test_elicitation`, arguments: { message: 'who?' } })), /action=accept.*ann@example\.com/, 'and its elicitation')

  const direct = await mcpClient(t, `${baseUrl}/mcp/servers/${created.key}`, admin)
  const progress: number[] = []
  await direct.callTool({ name: 'test_tool_with_progress', arguments: {} }, { onprogress: (update) => { progress.push(update.progress) } })
  t.same(progress, [0, 50, 100], '/mcp/servers/{key}: progress comes through')
  const logged: string[] = []
  direct.setNotificationHandler('notifications/message', (notification) => { logged.push(String(notification.params.data)) })
  await direct.callTool({ name: 'test_tool_with_logging', arguments: {} })
  await until('the server\'s log messages', () => logged.length >= 3)
  t.ok(logged.length >= 3, 'its log messages reach the caller')

  const grouped = await mcpClient(t, `${baseUrl}/mcp/groups/remote-users`, member)
  t.ok((await grouped.listTools()).tools.some((tool) => tool.name === `${created.key}__test_simple_text`), 'a group endpoint lists them for a member')
  t.equal(textOf(await grouped.callTool({ name: `${created.key}__test_simple_text`, arguments: {} })), 'This is a simple text response for testing.', 'and a member calls them')

  await api('PUT', `/api/servers/${created.id}/tools`, { kind: 'tool', name: 'test_image_content', enabled: false })
  t.notOk((await direct.listTools()).tools.some((tool) => tool.name === 'test_image_content'), 'per-item settings apply')

  await api('PUT', `/api/servers/${created.id}`, { callTimeout: 1000 })
  const timedOut = await direct.callTool({ name: 'wait', arguments: { ms: 30_000 } }).then((result) => JSON.stringify(result), (error: Error) => error.message)
  t.match(timedOut, /time|1000/i, `a call over the server's timeout ends: ${timedOut}`)
  await upstream.process.waitFor(/wait cancelled/, 'stderr')
  t.pass('and is cancelled upstream')

  const seen = headersSeen(upstream)
  t.ok(seen.length > 5, `the upstream was sent ${seen.length} requests`)
  t.ok(seen.every((headers) => headers['x-upstream-token'] === HEADER_SECRET), 'each with the configured header')
  t.ok(seen.every((headers) => headers.authorization === undefined && headers.cookie === undefined && headers['x-api-key'] === undefined), 'and never the client\'s credentials')

  const logs = await app.inject({ method: 'GET', url: `/api/servers/${created.id}/logs?limit=1000`, headers: admin.headers })
  t.match(logs.body, /connecting to http:\/\/127\.0\.0\.1:\d+\/mcp/, 'its log holds its connection events')
  t.match(logs.body, /running \(protocol 2025-11-25\)/, 'and the protocol it speaks')
  t.ok((logs.json().data as Array<{ source: string }>).some((line) => line.source === 'mcp'), 'and its MCP log messages')
  t.notOk(logs.body.includes(HEADER_SECRET), 'never the header value')
  const scraped = await app.inject({ method: 'GET', url: '/metrics', headers: admin.headers })
  t.match(scraped.body, new RegExp(`^mcphub_tool_calls_total\\{server="${created.key}"\\} [1-9]`, 'm'), 'its calls are counted')
})

t.test('the 2026-07-28 protocol: a server that speaks it is served through the hub', async (t) => {
  const upstream = await startUpstream(t, 'modern')
  const { api, admin, baseUrl } = await hub(t)
  const created = await api('POST', '/api/servers', { name: 'Modern', url: upstream.url, enabled: false }) as { id: string, key: string }
  await api('POST', `/api/servers/${created.id}/start`)
  const client = await mcpClient(t, `${baseUrl}/mcp/servers/${created.key}`, admin)
  t.ok((await client.listTools()).tools.some((tool) => tool.name === 'test_simple_text'), 'its tools are listed')
  t.equal(textOf(await client.callTool({ name: 'test_simple_text', arguments: {} })), 'This is a simple text response for testing.', 'and called')
  const progress: number[] = []
  await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, { onprogress: (update) => { progress.push(update.progress) } })
  t.same(progress, [0, 50, 100], 'progress comes through')
  let changes = 0
  client.setNotificationHandler('notifications/tools/list_changed', () => { changes++ })
  await fetch(`http://127.0.0.1:${upstream.port}/tools-changed`, { method: 'POST' })
  await until('the list change relayed', () => changes > 0)
  t.pass('a list change it announces on its subscriptions/listen stream reaches the caller')
  const logs = await api('GET', `/api/servers/${created.id}/logs?limit=1000`) as Array<{ message: string }>
  t.ok(logs.some((line) => line.message.includes('protocol 2026-07-28')), 'the hub spoke 2026-07-28 to it')
})

t.test('the upstream restarting: the hub reconnects and calls resume; the upstream gone: backoff, then error', async (t) => {
  // The hub reaches the upstream through a proxy, so that a new upstream process can take over its address at once.
  const first = await startUpstream(t, 'streamable-http')
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: first.port })
  t.teardown(() => proxy.close())
  const { app, api, admin, baseUrl } = await hub(t)
  const created = await api('POST', '/api/servers', { name: 'Flaky', url: `http://127.0.0.1:${proxy.port}/mcp`, keepAlive: 1000, enabled: true }) as { id: string, key: string }
  const managed = () => app.supervisor.get(created.id)!
  await until('the server running', () => managed().state === 'running')
  const client = await mcpClient(t, `${baseUrl}/mcp/servers/${created.key}`, admin)
  t.equal(textOf(await client.callTool({ name: 'test_simple_text', arguments: {} })), 'This is a simple text response for testing.', 'a call before')

  const states: string[] = []
  const watch = setInterval(() => { if (states.at(-1) !== managed().state) states.push(managed().state) }, 5)
  t.teardown(() => clearInterval(watch))
  const second = await startUpstream(t, 'streamable-http')
  proxy.retarget(second.port)
  proxy.cut()
  proxy.restore()
  await stopUpstream(first)
  await until('the server running again', () => managed().state === 'running' && managed().status().restartCount >= 1)
  t.ok(states.includes('backoff'), `it backed off meanwhile (${states.join(' → ')})`)
  t.equal(textOf(await client.callTool({ name: 'test_simple_text', arguments: {} })), 'This is a simple text response for testing.', 'calls resume on the same client session')
  t.ok(headersSeen(second).length > 0, 'served by the new upstream')

  await stopUpstream(second)
  await until('the server giving up', () => managed().state === 'error')
  const status = await api('GET', `/api/servers/${created.id}`) as { status: string, lastError: string }
  t.equal(status.status, 'error', 'error after the crash budget')
  t.match(status.lastError, /gave up after 3 failures/, `with the reason: ${status.lastError}`)
  const logs = await api('GET', `/api/servers/${created.id}/logs?limit=1000`) as Array<{ message: string }>
  t.ok(logs.some((line) => line.message.startsWith('connection lost')), 'its log says the connection was lost')
})

t.test('an HTTP+SSE server and supergateway in front of a stdio server', async (t) => {
  const sse = await startUpstream(t, 'sse')
  const port = await freePort()
  const gateway = startProcess(t, process.execPath, [SUPERGATEWAY, '--stdio', `${shellQuote(process.execPath)} ${shellQuote(STDIO_FIXTURE)}`, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'info'])
  await gateway.waitFor(/[Ll]istening on port/)
  const { api, admin, baseUrl } = await hub(t)
  const legacy = await api('POST', '/api/servers', { name: 'Legacy SSE', type: 'sse', url: sse.url, enabled: false }) as { id: string, key: string }
  const wrapped = await api('POST', '/api/servers', { name: 'Supergateway', type: 'streamable-http', url: `http://127.0.0.1:${port}/mcp`, enabled: false }) as { id: string, key: string }
  await api('POST', `/api/servers/${legacy.id}/start`)
  await api('POST', `/api/servers/${wrapped.id}/start`)
  const client = await mcpClient(t, `${baseUrl}/mcp`, admin)
  t.equal(textOf(await client.callTool({ name: `${legacy.key}__test_simple_text`, arguments: {} })), 'This is a simple text response for testing.', 'the SSE server\'s tool')
  t.equal(textOf(await client.callTool({ name: `${wrapped.key}__echo`, arguments: { text: 'through two gateways' } })), 'through two gateways', 'the stdio server behind supergateway')
  let changes = 0
  client.setNotificationHandler('notifications/tools/list_changed', () => { changes++ })
  await client.callTool({ name: `${wrapped.key}__add_tool`, arguments: {} })
  await until('the list change relayed', () => changes > 0)
  t.ok((await client.listTools()).tools.some((tool) => tool.name === `${wrapped.key}__extra_1`), 'a tool the server added is listed after its list_changed')
})

t.test('the egress guard: a stored URL of a private address is never connected to without the allow-list', async (t) => {
  const upstream = await startUpstream(t, 'streamable-http')
  const { app, api } = await hub(t, { allow: [] })
  for (const url of ['http://169.254.169.254/mcp', 'http://[::ffff:127.0.0.1]/mcp', 'http://[2002:7f00:1::]/mcp', upstream.url]) {
    const refused = await app.inject({ method: 'POST', url: '/api/servers', headers: (await signIn(app)).headers, payload: { name: `refused ${url}`, url, enabled: false } })
    t.equal(refused.statusCode, 422, `${url} refused`)
    t.match(refused.json(), { error: { code: 'VALIDATION_ERROR' } })
  }
  // A record stored before the address was refused (or a name that now resolves elsewhere): the connection is checked too.
  const [row] = await app.db.insert(servers).values({ name: 'stored', key: 'stored', type: 'streamable-http', url: `http://localhost:${upstream.port}/mcp`, enabled: false }).returning()
  await api('POST', `/api/servers/${row!.id}/start`).catch(() => {})
  const status = app.supervisor.get(row!.id)!.status()
  t.match(status.lastError, /refused/, `not connected: ${status.lastError}`)
  t.same(headersSeen(upstream), [], 'the upstream was never reached')
})
