import t from 'tap'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { Callers, type Caller } from '../supervisor/callers.ts'
import { build, createUser, signIn, type SignedIn } from './helper.ts'

const FIXTURE = new URL('./fixtures/conformance-server.ts', import.meta.url).pathname
const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

t.test('server requests reach the client whose call they serve, through the hub', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: { startTimeoutMs: 15_000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const admin = await signIn(app)
  const api = async (url: string, payload?: object) => {
    const res = await app.inject({ method: 'POST', url, headers: admin.headers, ...(payload === undefined ? {} : { payload }) })
    if (res.statusCode >= 300) throw new Error(`POST ${url}: ${res.body}`)
    return res.body === '' ? undefined : res.json().data
  }
  const server = await api('/api/servers', { name: 'shared', command: process.execPath, args: [FIXTURE], enabled: false }) as { id: string, key: string }
  await api(`/api/servers/${server.id}/start`)
  await api('/api/groups', { name: 'samplers', permissions: { servers: ['read'], tools: ['read', 'execute'] } })
  await api('/api/groups/samplers/servers', { serverId: server.id, permissions: ['read'] })
  const other = await createUser(app, admin, { groups: ['samplers'] })

  /** A client of the shared server that answers sampling with its own name, after `delayMs`. */
  const connect = async (who: SignedIn, name: string, options: { sampling: boolean, delayMs?: number }) => {
    const client = new Client({ name, version: '1.0.0' }, { capabilities: options.sampling ? { sampling: {} } : {} })
    if (options.sampling) {
      client.setRequestHandler('sampling/createMessage', async () => {
        await sleep(options.delayMs ?? 0)
        return { role: 'assistant', model: name, content: { type: 'text', text: `from ${name}` } }
      })
    }
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: who.headers } }))
    t.teardown(() => client.close())
    return client
  }
  const sample = async (client: Client) => {
    try {
      const result = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'hello' } })
      return (result.content as Array<{ text: string }>)[0]!.text
    } catch (error) {
      return `refused: ${(error as Error).message}`
    }
  }

  const alice = await connect(admin, 'alice', { sampling: true, delayMs: 300 })
  const bob = await connect(other, 'bob', { sampling: true, delayMs: 300 })

  t.equal(await sample(alice), 'LLM response: from alice', 'a lone caller is asked')
  t.equal(await sample(bob), 'LLM response: from bob', 'so is another user, on the same server process')

  // Calls of both clients in flight at once: a request of the server is never given to the other client.
  const [first, second] = await Promise.all([sample(alice), sample(bob)])
  t.ok(first === 'LLM response: from alice' || first.includes('cannot be relayed'), `alice: ${first}`)
  t.ok(second === 'LLM response: from bob' || second.includes('cannot be relayed'), `bob: ${second}`)
  t.ok(app.supervisor.get(server.id)!.callers.takingTurns, 'the server asked while both were in flight: its callers now take turns')

  t.same(await Promise.all([sample(alice), sample(bob), sample(alice)]), ['LLM response: from alice', 'LLM response: from bob', 'LLM response: from alice'], 'taking turns, every answer comes from the right client')

  const rooted = new Client({ name: 'rooted', version: '1.0.0' }, { capabilities: { roots: {} } })
  rooted.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///home/rooted', name: 'home' }] }))
  await rooted.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: other.headers } }))
  t.teardown(() => rooted.close())
  t.same((await rooted.callTool({ name: 'list_roots', arguments: {} })).content, [{ type: 'text', text: 'file:///home/rooted' }], 'roots/list is relayed too')

  const plain = await connect(admin, 'plain', { sampling: false })
  t.match(await sample(plain), /does not support sampling/, 'a client without sampling is not asked, and the call says why')

  // A 2026-07-28 client has no channel for requests: the question comes back as input_required, and its retry resumes the call.
  const modern = new Client({ name: 'modern', version: '1.0.0' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } })
  modern.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 'modern', content: { type: 'text', text: 'from modern' } }))
  await modern.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: admin.headers } }))
  t.teardown(() => modern.close())
  t.equal(await sample(modern), 'LLM response: from modern', 'a 2026-07-28 client answers in rounds')
  const replayed = await fetch(`${base}/mcp/servers/${server.key}`, {
    method: 'POST',
    headers: { ...other.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'test_sampling' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'test_sampling', arguments: { prompt: 'x' }, requestState: 'forged', inputResponses: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { sampling: {} }, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } } } })
  })
  t.match(await replayed.text(), /Unknown or expired requestState/, 'a requestState the hub did not give this user resumes nothing')

  // Subscriptions: the server hears them once per resource, and again after it restarts.
  const updates: string[] = []
  alice.setNotificationHandler('notifications/resources/updated', (notification) => { updates.push(notification.params.uri) })
  await t.rejects(alice.subscribeResource({ uri: 'test://no-such-resource' }), /Unknown resource: test:\/\/no-such-resource/, 'a resource no server lists cannot be subscribed to')
  await alice.subscribeResource({ uri: 'test://watched-resource' })
  const until = async (done: () => boolean) => { for (let i = 0; i < 100 && !done(); i++) await sleep(50) }
  await until(() => updates.length >= 1)
  t.same(updates, ['test://watched-resource'], 'the server\'s update reaches the subscribed session')
  await api(`/api/servers/${server.id}/restart`)
  await until(() => updates.length >= 2)
  t.same(updates, ['test://watched-resource', 'test://watched-resource'], 'a restarted server is subscribed again')
  await alice.unsubscribeResource({ uri: 'test://watched-resource' })

  const progress: number[] = []
  const result = await alice.callTool({ name: 'test_tool_with_progress', arguments: {} }, { onprogress: (update) => { progress.push(update.progress) } })
  t.same(progress, [0, 50, 100], 'progress reaches the caller')
  t.same(result.content, [{ type: 'text', text: 'Tool with progress executed successfully' }])
})

t.test('Callers: one client at a time is asked; several in flight are refused, then take turns', async (t) => {
  const callers = new Callers()
  const asked: string[] = []
  const logged: string[] = []
  const caller = (key: string, capable = true): Caller => ({
    key,
    ask: (method) => {
      if (!capable) return undefined
      asked.push(`${key} ${method}`)
      return Promise.resolve({ from: key })
    },
    log: (params) => { logged.push(`${key} ${String(params.data)}`) }
  })
  const signal = new AbortController().signal
  await t.rejects(callers.ask('roots/list', undefined, signal), /only answered while/, 'nobody to ask outside a call')

  const a = caller('a')
  t.same(await callers.run(a, async () => await callers.ask('sampling/createMessage', {}, signal)), { from: 'a' })
  await callers.run(a, async () => { callers.log({ level: 'info', data: 'hi' }) })
  t.same(logged, ['a hi'], 'log messages go to the one caller')
  t.same(await callers.run(caller('n', false), async () => await callers.ask('sampling/createMessage', {}, signal).catch((error: Error) => error.message)), 'The calling client does not support sampling/createMessage')

  // Two clients in flight: refused, and from then on they take turns.
  let releaseA!: () => void
  const aRunning = callers.run(a, async () => { await new Promise<void>((resolve) => { releaseA = resolve }) })
  const b = caller('b')
  const bRunning = callers.run(b, async () => {
    callers.log({ level: 'info', data: 'whose?' })
    return await callers.ask('sampling/createMessage', {}, signal)
  })
  await t.rejects(bRunning, /cannot be relayed/)
  t.same(logged, ['a hi'], 'an ambiguous log message goes to nobody')
  t.ok(callers.takingTurns)
  const order: string[] = []
  const bTurn = callers.run(b, async () => { order.push('b') })
  await sleep(20)
  t.same(order, [], 'b waits while a is in flight')
  releaseA()
  await aRunning
  await bTurn
  t.same(order, ['b'], 'then b goes')
})

t.test('a paused call\'s requestState resumes only a retry of the same request on the same endpoint', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: { startTimeoutMs: 15_000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const admin = await signIn(app)
  const created = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name: 'asker', command: process.execPath, args: [FIXTURE], enabled: false } })
  const server = created.json().data as { id: string, key: string }
  t.equal((await app.inject({ method: 'POST', url: `/api/servers/${server.id}/start`, headers: admin.headers })).statusCode, 200)

  /** One stateless 2026-07-28 tools/call; its JSON-RPC answer. */
  let ids = 0
  const call = async (path: string, name: string, args: Record<string, unknown>, retry: Record<string, unknown> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...admin.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++ids, method: 'tools/call', params: { name, arguments: args, ...retry, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { sampling: {} }, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } } } })
    })
    const text = await res.text()
    return JSON.parse(res.headers.get('content-type')?.includes('text/event-stream') === true ? text.split('\n').filter((line) => line.startsWith('data: ')).at(-1)!.slice(6) : text)
  }
  const path = `/mcp/servers/${server.key}`
  const first = await call(path, 'test_sampling', { prompt: 'hello' })
  t.match(first, { result: { resultType: 'input_required', requestState: String } }, 'the server\'s question pauses the call')
  const [question] = Object.keys(first.result.inputRequests)
  const retry = { requestState: first.result.requestState, inputResponses: { [question!]: { role: 'assistant', model: 'raw', content: { type: 'text', text: 'from raw' } } } }

  const mismatch = /issued for another request/
  t.match(await call(path, 'test_simple_text', {}, retry), { error: { code: -32602, message: mismatch } }, 'another tool is refused')
  t.match(await call(path, 'test_sampling', { prompt: 'other' }, retry), { error: { code: -32602, message: mismatch } }, 'other arguments are refused')
  t.match(await call('/mcp', `${server.key}__test_sampling`, { prompt: 'hello' }, retry), { error: { code: -32602, message: mismatch } }, 'another endpoint is refused')
  t.match(await call(path, 'test_sampling', { prompt: 'hello' }, retry), { result: { content: [{ type: 'text', text: 'LLM response: from raw' }] } }, 'the refused retries did not use it up: the right one resumes the call')
  t.match(await call(path, 'test_sampling', { prompt: 'hello' }, retry), { error: { message: /Unknown or expired requestState/ } }, 'once')
})
