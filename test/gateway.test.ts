import t from 'tap'
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { eq } from 'drizzle-orm'
import { toolCalls } from '../db/schema.ts'
import { build, createUser, signIn, type SignedIn } from './helper.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const FIXTURE_TOOLS = ['echo', 'add', 'env', 'log', 'add_tool', 'slow']

t.test('MCP endpoints serve each caller exactly what the access model allows', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address() as { port: number }
  const base = `http://127.0.0.1:${address.port}`
  const admin = await signIn(app)
  const api = async (method: string, url: string, payload?: object) => {
    const res = await app.inject({ method: method as 'POST', url, headers: admin.headers, ...(payload === undefined ? {} : { payload }) })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.body}`)
    return res.body === '' ? undefined : res.json().data
  }
  const server = async (name: string, key?: string) => {
    const created = await api('POST', '/api/servers', { name, ...(key === undefined ? {} : { key }), command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, enabled: false })
    await api('POST', `/api/servers/${created.id}/start`)
    return created as { id: string, key: string }
  }
  const alpha = await server('Alpha Files')
  const beta = await server('文件服务器')
  t.equal(alpha.key, 'alpha-files', 'keys derive from names')
  t.match(beta.key, /^server-[0-9a-f]{6}$/, 'in any language')

  await api('POST', '/api/groups', { name: 'callers', permissions: { servers: ['read'], tools: ['read', 'execute'] } })
  await api('POST', '/api/groups/callers/servers', { serverId: alpha.id, permissions: ['read'] })
  await api('POST', '/api/groups', { name: 'viewers', permissions: { servers: ['read'], tools: ['read'] } })
  await api('POST', '/api/groups/viewers/servers', { serverId: alpha.id, permissions: ['read'] })
  await api('POST', '/api/groups/viewers/servers', { serverId: beta.id, permissions: ['read'] })
  const caller = await createUser(app, admin, { groups: ['callers'] })
  const viewer = await createUser(app, admin, { groups: ['viewers'] })
  const outsider = await createUser(app, admin)

  const connect = async (who: SignedIn, path: string) => {
    const client = new Client({ name: 'test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}${path}`), { requestInit: { headers: who.headers } }))
    t.teardown(() => client.close())
    return client
  }
  const toolNames = async (who: SignedIn, path: string) => (await (await connect(who, path)).listTools()).tools.map((tool) => tool.name).sort()

  t.test('aggregate endpoint: namespaced names, per caller', async (t) => {
    t.same(await toolNames(admin, '/mcp'), [...FIXTURE_TOOLS.map((name) => `alpha-files__${name}`), ...FIXTURE_TOOLS.map((name) => `${beta.key}__${name}`)].sort())
    t.same(await toolNames(caller, '/mcp'), FIXTURE_TOOLS.map((name) => `alpha-files__${name}`).sort())
    t.same(await toolNames(viewer, '/mcp'), [...FIXTURE_TOOLS.map((name) => `alpha-files__${name}`), ...FIXTURE_TOOLS.map((name) => `${beta.key}__${name}`)].sort())
    t.same(await toolNames(outsider, '/mcp'), [])
  })

  t.test('server endpoint: the server\'s own names; 404 to those who may not read it', async (t) => {
    t.same(await toolNames(caller, `/mcp/servers/${alpha.key}`), [...FIXTURE_TOOLS].sort())
    t.same(await toolNames(caller, `/mcp/${alpha.key}`), [...FIXTURE_TOOLS].sort(), '/mcp/{key} too')
    await t.rejects(connect(caller, `/mcp/servers/${beta.key}`), 'another server is not found')
    await t.rejects(connect(outsider, `/mcp/servers/${alpha.key}`))
  })

  t.test('group endpoint: the group\'s servers, for its members', async (t) => {
    t.same(await toolNames(viewer, '/mcp/groups/viewers'), [...FIXTURE_TOOLS.map((name) => `alpha-files__${name}`), ...FIXTURE_TOOLS.map((name) => `${beta.key}__${name}`)].sort())
    t.same(await toolNames(viewer, '/mcp/viewers'), await toolNames(viewer, '/mcp/groups/viewers'), '/mcp/{group} resolves to the group')
    await t.rejects(connect(caller, '/mcp/groups/viewers'), 'non-members get 404')
  })

  t.test('calls are routed and re-checked: tools execute is needed', async (t) => {
    const asCaller = await connect(caller, '/mcp')
    t.same((await asCaller.callTool({ name: 'alpha-files__add', arguments: { a: 2, b: 40 } })).content, [{ type: 'text', text: '42' }])
    const asViewer = await connect(viewer, '/mcp')
    await t.rejects(asViewer.callTool({ name: 'alpha-files__echo', arguments: { text: 'x' } }), /not allowed/)
    await t.rejects(asCaller.callTool({ name: `${beta.key}__echo`, arguments: { text: 'x' } }), /Unknown tool/)
    await api('DELETE', `/api/groups/callers/servers/${alpha.id}`)
    await t.rejects(asCaller.callTool({ name: 'alpha-files__add', arguments: { a: 1, b: 1 } }), /Unknown tool/, 'revoked access applies to the next call')
    await api('POST', '/api/groups/callers/servers', { serverId: alpha.id, permissions: ['read'] })
  })

  t.test('every tool call is recorded: who, server, tool, duration, outcome', async (t) => {
    const client = await connect(caller, '/mcp')
    await client.callTool({ name: 'alpha-files__echo', arguments: { text: 'counted' } })
    let rows: Array<typeof toolCalls.$inferSelect> = []
    for (let i = 0; i < 40 && !rows.some((row) => row.tool === 'echo'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      rows = await app.db.select().from(toolCalls).where(eq(toolCalls.userId, caller.userId))
    }
    t.ok(rows.length >= 2, 'written in the background within a few seconds')
    t.match(rows.find((row) => row.tool === 'echo'), { serverId: alpha.id, ok: true, error: null })
    t.ok(rows.every((row) => row.durationMs >= 0 && row.startedAt instanceof Date))
  })

  t.test('prompts and resources come through too', async (t) => {
    const client = await connect(admin, `/mcp/servers/${alpha.key}`)
    t.same((await client.listPrompts()).prompts.map((prompt) => prompt.name), ['greet'])
    t.match(JSON.stringify(await client.getPrompt({ name: 'greet', arguments: { name: 'hub' } })), /Hello, hub!/)
    const [resource] = (await client.listResources()).resources
    t.match(JSON.stringify(await client.readResource({ uri: resource!.uri })), /Hello from the fixture/)
  })

  t.test('a call to a stopped server fails fast with a clear error', async (t) => {
    const client = await connect(admin, `/mcp/servers/${alpha.key}`)
    await api('POST', `/api/servers/${alpha.id}/stop`, { graceful: false })
    t.same((await client.listTools()).tools, [], 'a stopped server offers nothing')
    const started = Date.now()
    await t.rejects(client.callTool({ name: 'echo', arguments: { text: 'x' } }))
    t.ok(Date.now() - started < 2000)
    await api('POST', `/api/servers/${alpha.id}/start`)
  })

  t.test('a server that crashes during a call fails the call at once, with a clear error', async (t) => {
    const client = await connect(admin, `/mcp/servers/${alpha.key}`)
    const pid = app.supervisor.get(alpha.id)!.status().pid!
    const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const killedAt = Date.now()
    process.kill(pid, 'SIGKILL')
    await t.rejects(call, /closed|not running|exited/i)
    t.ok(Date.now() - killedAt < 2000, `failed ${Date.now() - killedAt} ms after the crash`)
    const managed = app.supervisor.get(alpha.id)!
    for (let i = 0; i < 50 && managed.state === 'running'; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    t.not(managed.state, 'running', 'the supervisor saw the crash')
    await api('POST', `/api/servers/${alpha.id}/start`)
    t.equal(managed.state, 'running')
  })

  t.test('per-server settings: disabled items are neither listed nor callable; descriptions can be overridden', async (t) => {
    const url = `/api/servers/${alpha.id}/tools`
    const before = await api('GET', url)
    t.same(before.tools.map((tool: { name: string }) => tool.name), FIXTURE_TOOLS)
    t.ok(before.tools.every((tool: { enabled: boolean, offered: boolean }) => tool.enabled && tool.offered))
    await api('PUT', url, { kind: 'tool', name: 'slow', enabled: false })
    await api('PUT', url, { kind: 'tool', name: 'echo', description: 'Says it back' })
    await api('PUT', url, { kind: 'prompt', name: 'greet', enabled: false })
    const resourceUri = before.resources[0].name
    const after = await api('PUT', url, { kind: 'resource', name: resourceUri, enabled: false })
    t.match(after.tools.find((tool: { name: string }) => tool.name === 'slow'), { enabled: false, offered: true })
    t.match(after.tools.find((tool: { name: string }) => tool.name === 'echo'), { description: 'Says it back', descriptionOverride: 'Says it back' })

    const client = await connect(caller, `/mcp/servers/${alpha.key}`)
    const tools = (await client.listTools()).tools
    t.notOk(tools.some((tool) => tool.name === 'slow'), 'a disabled tool is not listed')
    t.equal(tools.find((tool) => tool.name === 'echo')?.description, 'Says it back')
    await t.rejects(client.callTool({ name: 'slow', arguments: { ms: 1 } }), /Unknown tool/, 'nor callable')
    t.same((await (await connect(admin, '/mcp')).listPrompts()).prompts.map((prompt) => prompt.name), [`${beta.key}__greet`])
    t.notOk((await client.listResources()).resources.some((resource) => resource.uri === resourceUri))

    const bad = await app.inject({ method: 'PUT', url, headers: admin.headers, payload: { kind: 'prompt', name: 'greet', description: 'x' } })
    t.equal(bad.statusCode, 422)
    t.equal((await app.inject({ method: 'PUT', url, headers: viewer.headers, payload: { kind: 'tool', name: 'echo', enabled: false } })).statusCode, 403, 'readers cannot change settings')
    t.equal((await app.inject({ method: 'GET', url, headers: outsider.headers })).statusCode, 404)
    await api('PUT', url, { kind: 'tool', name: 'slow', enabled: true })
    await api('PUT', url, { kind: 'tool', name: 'echo', description: null })
    await api('PUT', url, { kind: 'prompt', name: 'greet', enabled: true })
    await api('PUT', url, { kind: 'resource', name: resourceUri, enabled: true })
    t.equal((await client.listTools()).tools.find((tool) => tool.name === 'echo')?.description, before.tools.find((tool: { name: string }) => tool.name === 'echo').description, 'restored')
  })

  t.test('sessions: 256-bit ids, owned by their user and endpoint, ended by DELETE', async (t) => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: caller.headers } })
    const client = new Client({ name: 'test', version: '1.0.0' })
    await client.connect(transport)
    const sessionId = transport.sessionId!
    t.match(sessionId, /^[\w-]{43}$/, '32 random bytes')
    const list = { jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }
    const post = (who: SignedIn, path: string, id = sessionId) => fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...who.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify(list)
    })
    t.equal((await post(caller, '/mcp')).status, 200, 'its owner may use it')
    t.equal((await post(viewer, '/mcp')).status, 404, 'another user may not')
    t.equal((await post(caller, `/mcp/servers/${alpha.key}`)).status, 404, 'nor on another endpoint')
    t.equal((await post(caller, '/mcp', 'made-up-session-id')).status, 404)
    await transport.terminateSession()
    t.equal((await post(caller, '/mcp')).status, 404, 'a closed session is gone')
    await client.close()
  })

  t.test('bad requests in a session get clear JSON-RPC errors and change nothing', async (t) => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: caller.headers } })
    const client = new Client({ name: 'test', version: '1.0.0' })
    await client.connect(transport)
    t.teardown(() => client.close())
    const headers = { ...caller.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-06-18' }
    const send = async (body: unknown, extra: Record<string, string> = {}, method = 'POST') => {
      const res = await fetch(`${base}/mcp`, { method, headers: { ...headers, ...extra }, ...(method === 'POST' ? { body: JSON.stringify(body) } : {}) })
      const text = await res.text()
      return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
    }
    t.match(await send({ hello: 'world' }), { status: 400, body: { jsonrpc: '2.0', error: { code: -32600 } } }, 'not a JSON-RPC message')
    t.match(await send([{ jsonrpc: '2.0', id: 1, method: 'ping' }]), { status: 400, body: { error: { code: -32600 } } }, 'batches are not part of 2025-06-18')
    t.match(await send({ jsonrpc: '2.0', id: 2, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }), { status: 400, body: { error: { message: /already initialized/ } } })
    t.match(await send({ jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-protocol-version': '1999-01-01' }), { status: 400, body: { error: { message: /Unsupported protocol version/ } } })
    t.match(await send({ jsonrpc: '2.0', id: 4, method: 'tools/list' }, { accept: 'application/json' }), { status: 406 })
    t.match(await send(undefined, { accept: 'application/json' }, 'GET'), { status: 406 }, 'the event stream needs text/event-stream')
    t.match(await send({ jsonrpc: '2.0', id: 5, method: 'no/such/method' }), { status: 200, body: { id: 5, error: { code: -32601 } } }, 'unknown methods are JSON-RPC errors')
    t.match(await send({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'nope__nothing', arguments: {} } }), { status: 200, body: { id: 6, error: { code: -32602, message: /Unknown tool/ } } })
    t.same((await client.listTools()).tools.map((tool) => tool.name).sort(), FIXTURE_TOOLS.map((tool) => `alpha-files__${tool}`).sort(), 'the session still works')
  })

  t.test('open sessions hear list_changed when a server starts, stops or changes its tools', async (t) => {
    const client = await connect(admin, '/mcp')
    let changes = 0
    client.setNotificationHandler('notifications/tools/list_changed', () => { changes++ })
    await client.listTools()
    const waitForChange = async (before: number) => {
      const heard = () => changes > before
      for (let i = 0; i < 50 && !heard(); i++) await new Promise((resolve) => setTimeout(resolve, 50))
      return heard()
    }
    let before = changes
    await api('POST', `/api/servers/${beta.id}/stop`, { graceful: false })
    t.ok(await waitForChange(before), 'on stop')
    t.notOk((await client.listTools()).tools.some((tool) => tool.name.startsWith(beta.key)), 'and the list no longer has its tools')
    before = changes
    await api('POST', `/api/servers/${beta.id}/start`)
    t.ok(await waitForChange(before), 'on start')
    before = changes
    await client.callTool({ name: `${beta.key}__add_tool`, arguments: {} })
    t.ok(await waitForChange(before), 'when the server changes its own list')
    t.ok((await client.listTools()).tools.some((tool) => tool.name === `${beta.key}__extra_1`))
  })

  t.test('a cancelled call is cancelled upstream and recorded as such', async (t) => {
    const client = await connect(admin, `/mcp/servers/${alpha.key}`)
    const abort = new AbortController()
    const started = Date.now()
    const call = client.callTool({ name: 'slow', arguments: { ms: 5000 } }, { signal: abort.signal })
    setTimeout(() => abort.abort(), 200)
    await t.rejects(call)
    t.ok(Date.now() - started < 2000, 'the caller is not kept waiting')
    let row: typeof toolCalls.$inferSelect | undefined
    for (let i = 0; i < 40 && row === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      row = (await app.db.select().from(toolCalls).where(eq(toolCalls.userId, admin.userId))).find((candidate) => candidate.tool === 'slow')
    }
    t.equal(row?.ok, false)
    t.ok((row?.durationMs ?? 99_999) < 2000, 'the hub stopped waiting for the server too')
    t.same((await client.callTool({ name: 'echo', arguments: { text: 'still fine' } })).content, [{ type: 'text', text: 'still fine' }])
  })

  t.test('every call has the server\'s timeout: a JSON-RPC error, and the call cancelled upstream', async (t) => {
    await api('PUT', `/api/servers/${alpha.id}`, { callTimeout: 1000 })
    const client = await connect(admin, `/mcp/servers/${alpha.key}`)
    const started = Date.now()
    await t.rejects(client.callTool({ name: 'slow', arguments: { ms: 4000 } }), /timed out|timeout/i)
    const took = Date.now() - started
    t.ok(took >= 900 && took < 2500, `answered after ${took} ms`)
    t.equal((await app.inject({ method: 'PUT', url: `/api/servers/${alpha.id}`, headers: admin.headers, payload: { callTimeout: 10 } })).statusCode, 422)
    await api('PUT', `/api/servers/${alpha.id}`, { callTimeout: 60_000 })
  })

  t.test('a 2026-07-28 client works on the same URLs, statelessly', async (t) => {
    const client = new Client({ name: 'modern', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: caller.headers } })
    await client.connect(transport)
    t.teardown(() => client.close())
    t.equal(transport.sessionId, undefined, 'no session')
    t.same((await client.listTools()).tools.map((tool) => tool.name).sort(), FIXTURE_TOOLS.map((name) => `alpha-files__${name}`).sort())
    t.same((await client.callTool({ name: 'alpha-files__add', arguments: { a: 20, b: 22 } })).content, [{ type: 'text', text: '42' }])
    const asViewer = new Client({ name: 'modern', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
    await asViewer.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: viewer.headers } }))
    t.teardown(() => asViewer.close())
    await t.rejects(asViewer.callTool({ name: 'alpha-files__add', arguments: { a: 1, b: 1 } }), /not allowed/, 'permissions apply the same way')
  })

  t.test('the older HTTP+SSE transport: /sse and its message endpoint', async (t) => {
    const withAuth = (who: SignedIn) => (url: string | URL, init?: RequestInit) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), ...who.headers } })
    const transport = new SSEClientTransport(new URL(`${base}/sse`), { fetch: withAuth(caller), eventSourceInit: { fetch: withAuth(caller) } })
    const client = new Client({ name: 'sse', version: '1.0.0' })
    await client.connect(transport)
    t.teardown(() => client.close())
    t.same((await client.listTools()).tools.map((tool) => tool.name).sort(), FIXTURE_TOOLS.map((name) => `alpha-files__${name}`).sort())
    t.same((await client.callTool({ name: 'alpha-files__add', arguments: { a: 1, b: 2 } })).content, [{ type: 'text', text: '3' }])
    const single = new Client({ name: 'sse', version: '1.0.0' })
    await single.connect(new SSEClientTransport(new URL(`${base}/sse/${alpha.key}`), { fetch: withAuth(caller), eventSourceInit: { fetch: withAuth(caller) } }))
    t.teardown(() => single.close())
    t.same((await single.listTools()).tools.map((tool) => tool.name).sort(), [...FIXTURE_TOOLS].sort(), '/sse/{key}: the server\'s own names')

    const sessionId = new URL((transport as unknown as { _endpoint: URL })._endpoint).searchParams.get('sessionId')!
    const stolen = await fetch(`${base}/messages?sessionId=${sessionId}`, { method: 'POST', headers: { ...viewer.headers, 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }) })
    t.equal(stolen.status, 404, 'another user\'s session is not found')
    const garbled = await fetch(`${base}/messages?sessionId=${sessionId}`, { method: 'POST', headers: { ...caller.headers, 'content-type': 'application/json' }, body: JSON.stringify({ hello: 'world' }) })
    t.equal(garbled.status, 400, 'a body that is not one JSON-RPC message is refused')
    t.match(await garbled.json(), { jsonrpc: '2.0', id: null, error: { code: -32600 } })
    t.same((await client.callTool({ name: 'alpha-files__add', arguments: { a: 2, b: 2 } })).content, [{ type: 'text', text: '4' }], 'and the session still works')
    t.equal((await fetch(`${base}/sse`)).status, 401, 'the stream needs credentials too')
    t.equal((await fetch(`${base}/sse/${beta.key}`, { headers: caller.headers })).status, 404)
  })

  t.test('HTTP rules: credentials required, foreign origins refused, credentials not forwarded', async (t) => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }
    const post = (headers: Record<string, string>) => fetch(`${base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(init) })
    const anonymous = await post({})
    t.equal(anonymous.status, 401)
    t.match(anonymous.headers.get('www-authenticate'), /^Bearer/)
    t.equal((await post({ authorization: 'Bearer nonsense' })).status, 401)
    t.equal((await post({ ...admin.headers, origin: 'https://evil.example' })).status, 403)
    t.equal((await post({ ...admin.headers, origin: base })).status, 200, 'same origin is fine')
    const rebound = await app.inject({ method: 'POST', url: '/mcp', headers: { ...admin.headers, host: 'attacker.example:3000', 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, payload: init })
    t.equal(rebound.statusCode, 403, 'a Host name the hub does not answer to (DNS rebinding)')
    t.equal((await post({ ...admin.headers, accept: 'application/json' })).status, 406, 'a client must take both JSON and event streams')
    const huge = await fetch(`${base}/mcp/servers/${alpha.key}`, { method: 'POST', headers: { ...admin.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ ...init, params: { ...init.params, padding: 'x'.repeat(5 * 1024 * 1024) } }) })
    t.equal(huge.status, 400, 'bodies over 4 MiB are refused (INVALID_REQUEST, as on the REST API)')
    t.match(await huge.json(), { jsonrpc: '2.0', error: { code: -32000, message: /too large/, data: { code: 'INVALID_REQUEST' } } })
    const env = await (await connect(admin, `/mcp/servers/${alpha.key}`)).callTool({ name: 'env', arguments: {} })
    t.notMatch(JSON.stringify(env), /authorization|x-api-key/i)
  })
})

t.test('MCP traffic has its own per-user budget, answered with a JSON-RPC error and 429', async (t) => {
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 0, user: 0, admin: 0, mcp: 3 } } })
  const admin = await signIn(app)
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }
  const post = () => app.inject({ method: 'POST', url: '/mcp', headers: { ...admin.headers, accept: 'application/json, text/event-stream' }, payload: init })
  for (let i = 0; i < 3; i++) t.equal((await post()).statusCode, 200)
  const over = await post()
  t.equal(over.statusCode, 429)
  t.match(over.json(), { jsonrpc: '2.0', error: { code: -32000, message: 'MCP rate limit exceeded' } })
  t.ok(Number(over.headers['retry-after']) > 0)
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: admin.headers })).statusCode, 200, 'the REST API is a separate budget')
})

t.test('a browser Origin must be the hub\'s own: scheme, host and port', async (t) => {
  const app = await build(t, 'pglite')
  const admin = await signIn(app)
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }
  const post = async (origin: string, host = '127.0.0.1:3000', url = '/mcp') => (await app.inject({ method: 'POST', url, headers: { ...admin.headers, host, origin, accept: 'application/json, text/event-stream' }, payload: init })).statusCode
  t.equal(await post('http://127.0.0.1:3000'), 200, 'the hub\'s own origin')
  t.equal(await post('http://localhost', 'localhost:80'), 200, 'a default port counts as given')
  t.equal(await post('https://127.0.0.1:3000'), 403, 'https is another origin than this plain-HTTP hub')
  t.equal(await post('http://127.0.0.1:3001'), 403, 'another port')
  t.equal(await post('http://localhost:3000'), 403, 'another host')
  t.equal(await post('null'), 403, 'an opaque origin')
  // As a stream, so that a stream opened by mistake fails the test instead of holding it.
  const stream = await app.inject({ method: 'GET', url: '/sse', headers: { ...admin.headers, host: '127.0.0.1:3000', origin: 'https://127.0.0.1:3000' }, payloadAsStream: true })
  stream.stream().destroy()
  t.equal(stream.statusCode, 403, 'the same rule on every MCP endpoint')
})

t.test('DELETE and GET without a body are accepted whatever content type they name (the Python client\'s DELETE)', async (t) => {
  const app = await build(t, 'pglite')
  const admin = await signIn(app)
  const created = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name: 'idle', command: process.execPath, args: [FIXTURE], enabled: false } })
  const { key } = created.json().data as { key: string }
  t.equal((await app.inject({ method: 'POST', url: '/api/groups', headers: admin.headers, payload: { name: 'team' } })).statusCode, 201)
  const rpc = { ...admin.headers, host: '127.0.0.1', accept: 'application/json, text/event-stream' }
  const open = async (url: string) => {
    const res = await app.inject({ method: 'POST', url, headers: rpc, payload: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'python-like', version: '1' } } } })
    t.equal(res.statusCode, 200, `initialize on ${url}`)
    return { ...rpc, 'mcp-session-id': String(res.headers['mcp-session-id']), 'mcp-protocol-version': '2025-06-18' }
  }
  for (const url of ['/mcp', `/mcp/servers/${key}`, '/mcp/groups/team', `/mcp/${key}`, '/mcp/team']) {
    for (const type of ['application/json', 'application/x-unheard-of']) {
      const session = await open(url)
      // As a stream: the GET opens the session's event stream.
      const stream = await app.inject({ method: 'GET', url, headers: { ...session, 'content-type': type }, payloadAsStream: true })
      stream.stream().destroy()
      t.equal(stream.statusCode, 200, `GET ${url} with ${type} and no body opens the stream`)
      const deleted = await app.inject({ method: 'DELETE', url, headers: { ...session, 'content-type': type } })
      t.equal(deleted.statusCode, 200, `DELETE ${url} with ${type} and no body: ${deleted.body}`)
      const after = await app.inject({ method: 'POST', url, headers: session, payload: { jsonrpc: '2.0', id: 2, method: 'tools/list' } })
      t.equal(after.statusCode, 404, 'the session is closed')
    }
  }
  const sse = await app.inject({ method: 'GET', url: '/sse', headers: { ...admin.headers, host: '127.0.0.1', 'content-type': 'application/json' }, payloadAsStream: true })
  sse.stream().destroy()
  t.equal(sse.statusCode, 200, 'GET /sse with a content type and no body')
})
