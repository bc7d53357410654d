import t from 'tap'
import { eq } from 'drizzle-orm'
import { toolCalls } from '../db/schema.ts'
import { withClientId } from '../gateway/pass-through.ts'
import { build, createUser, signIn, type SignedIn } from './helper.ts'
import { until } from './helpers/wait.ts'
import { apiAs, startFixture } from './helpers/live-hub.ts'

const CONFORMANCE_FIXTURE = new URL('./fixtures/conformance-server.ts', import.meta.url).pathname

t.test('the child\'s answer line keeps its bytes; only the id is put back', async (t) => {
  const line = '{"jsonrpc":"2.0", "id": "mcphub-7" ,"result":{"content":[{"type":"text","text":"\\"mcphub-7\\" é"}]}}'
  const answer = JSON.parse(line)
  t.equal(withClientId(line, 'mcphub-7', 'abc', answer), '{"jsonrpc":"2.0", "id": "abc" ,"result":{"content":[{"type":"text","text":"\\"mcphub-7\\" é"}]}}', 'a string id')
  t.equal(withClientId(line, 'mcphub-7', 12, answer), line.replace('"mcphub-7" ', '12 '), 'a number id')
  t.notOk(withClientId(line, 'mcphub-70', 1, answer).includes('mcphub-70'), 'another id of ours is not mistaken for it')
  const echoed = '{"jsonrpc":"2.0","id":"mcphub-7","result":{"structuredContent":{"id":"mcphub-7"}}}'
  t.same(JSON.parse(withClientId(echoed, 'mcphub-7', 3, JSON.parse(echoed))), { jsonrpc: '2.0', id: 3, result: { structuredContent: { id: 'mcphub-7' } } }, 'a line quoting our id elsewhere is written again')
  const crlf = '{"jsonrpc":"2.0",\r"id":"mcphub-7","result":{}}'
  t.equal(withClientId(crlf, 'mcphub-7', 3, JSON.parse(crlf)), '{"jsonrpc":"2.0","id":3,"result":{}}', 'so is one with a carriage return (it would break an event stream)')
})

t.test('calls on a session pass through to the child and back', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: { startTimeoutMs: 10_000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const admin = await signIn(app)
  const api = apiAs(app, admin)
  const fixture = await startFixture(api, 'Fixture')
  const mortal = await startFixture(api, 'Mortal', { FIXTURE_EXIT_ON: 'tools/call' })
  const reporter = await api('POST', '/api/servers', { name: 'Reporter', command: process.execPath, args: [CONFORMANCE_FIXTURE], enabled: false }) as { id: string, key: string }
  await api('POST', `/api/servers/${reporter.id}/start`)
  const group = await api('POST', '/api/groups', { name: 'callers', permissions: { servers: ['read'], tools: ['read', 'execute'] } }) as { id: string }
  await api('POST', '/api/groups/callers/servers', { serverId: fixture.id, permissions: ['read'] })
  const caller = await createUser(app, admin, { groups: ['callers'] })

  /** A raw 2025-11-25 session: every POST gets back its status, content type and body as bytes. */
  const open = async (who: SignedIn, path: string) => {
    const headers: Record<string, string> = { ...who.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    const post = async (message: object) => {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(message) })
      return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
    }
    const init = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) })
    t.equal(init.status, 200)
    await init.text()
    headers['mcp-session-id'] = init.headers.get('mcp-session-id')!
    headers['mcp-protocol-version'] = '2025-11-25'
    t.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202)
    return post
  }
  const call = (id: string | number, name: string, args: object, meta?: object) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) } })

  t.test('the answer is the child\'s line, with the client\'s id', async (t) => {
    const post = await open(admin, '/mcp')
    const answer = await post(call('first', 'fixture__echo', { text: 'hi ✓' }))
    t.equal(answer.status, 200)
    t.match(answer.type, /^application\/json/)
    // The fixture writes {"jsonrpc":"2.0",...message}; the SDK would have written result first.
    t.equal(answer.body, '{"jsonrpc":"2.0","id":"first","result":{"content":[{"type":"text","text":"hi ✓"}]}}')
    t.equal((await post(call(7, 'fixture__add', { a: 2, b: 3 }))).body, '{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"5"}]}}', 'a number id')
    t.equal((await post({ jsonrpc: '2.0', id: 8, method: 'prompts/get', params: { name: 'fixture__greet', arguments: { name: 'Ada' } } })).body,
      '{"jsonrpc":"2.0","id":8,"result":{"description":"Greets someone","messages":[{"role":"user","content":{"type":"text","text":"Hello, Ada!"}}]}}', 'prompts/get, by its exposed name')
    t.equal((await post({ jsonrpc: '2.0', id: 9, method: 'resources/read', params: { uri: 'fixture://hello' } })).body,
      '{"jsonrpc":"2.0","id":9,"result":{"contents":[{"uri":"fixture://hello","mimeType":"text/plain","text":"Hello from the fixture"}]}}', 'resources/read')
    t.equal((await post(call(10, 'fixture__add', { a: 'x', b: 3 }))).body, '{"jsonrpc":"2.0","id":10,"error":{"code":-32602,"message":"argument a must be a number"}}', 'the child\'s error, as it wrote it')
    t.same(JSON.parse((await post(call(11, 'fixture__nothing', {}))).body), { jsonrpc: '2.0', id: 11, error: { code: -32602, message: 'Unknown tool: fixture__nothing' } }, 'an unknown tool is the SDK path\'s error')
    const row = await until('the call recorded', async () => (await app.db.select().from(toolCalls).where(eq(toolCalls.userId, admin.userId))).find((candidate) => candidate.tool === 'echo'))
    t.match(row, { serverId: fixture.id, ok: true, error: null }, 'calls are recorded')
  })

  t.test('concurrent calls on one session each get their own answer', async (t) => {
    const post = await open(admin, `/mcp/servers/${fixture.key}`)
    const answers = await Promise.all(Array.from({ length: 24 }, async (_, n) => await post(call(`c${n}`, 'slow', { ms: (n * 37) % 200 }))))
    t.same(answers.map((answer) => JSON.parse(answer.body)), Array.from({ length: 24 }, (_, n) => ({ jsonrpc: '2.0', id: `c${n}`, result: { content: [{ type: 'text', text: `slept ${(n * 37) % 200}` }] } })))
    t.equal((await post(call('c1', 'echo', { text: 'again' }))).status, 200, 'an id is free again once answered')
  })

  t.test('a permission removed mid-session refuses the next call', async (t) => {
    const post = await open(caller, '/mcp')
    t.equal(JSON.parse((await post(call(1, 'fixture__echo', { text: 'x' }))).body).result.content[0].text, 'x')
    await api('PUT', `/api/groups/${group.id}`, { permissions: { servers: ['read'], tools: ['read'] } })
    t.teardown(async () => { await api('PUT', `/api/groups/${group.id}`, { permissions: { servers: ['read'], tools: ['read', 'execute'] } }) })
    t.match(JSON.parse((await post(call(2, 'fixture__echo', { text: 'x' }))).body), { id: 2, error: { code: -32600, message: /not allowed/ } })
    await api('DELETE', `/api/groups/callers/servers/${fixture.id}`)
    t.teardown(async () => { await api('POST', '/api/groups/callers/servers', { serverId: fixture.id, permissions: ['read'] }) })
    t.match(JSON.parse((await post(call(3, 'fixture__echo', { text: 'x' }))).body), { id: 3, error: { message: /Unknown tool/ } })
  })

  t.test('progress comes first, on an event stream, with the client\'s token', async (t) => {
    const post = await open(admin, `/mcp/servers/${reporter.key}`)
    const answer = await post(call('p', 'test_tool_with_progress', {}, { progressToken: 'mine' }))
    t.match(answer.type, /^text\/event-stream/)
    const events = answer.body.split('\n\n').filter((event) => event !== '').map((event) => JSON.parse(event.replace(/^event: message\ndata: /, '')))
    t.same(events, [
      ...[0, 50, 100].map((progress) => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progress, total: 100, progressToken: 'mine' } })),
      { jsonrpc: '2.0', id: 'p', result: { content: [{ type: 'text', text: 'Tool with progress executed successfully' }] } }
    ])
    const quiet = await post(call('q', 'test_tool_with_progress', {}))
    t.match(quiet.type, /^application\/json/, 'without a token, no progress: the answer is plain JSON')
  })

  t.test('the server\'s log messages go to the caller, on the call\'s stream, as the session\'s level allows', async (t) => {
    const post = await open(admin, `/mcp/servers/${reporter.key}`)
    const logged = await post(call('l', 'test_tool_with_logging', {}))
    t.match(logged.type, /^text\/event-stream/)
    const events = logged.body.split('\n\n').filter((event) => event !== '').map((event) => JSON.parse(event.replace(/^event: message\ndata: /, '')))
    t.same(events.map((event) => event.method ?? event.id), ['notifications/message', 'notifications/message', 'notifications/message', 'l'])
    t.equal((await post({ jsonrpc: '2.0', id: 'level', method: 'logging/setLevel', params: { level: 'error' } })).status, 200)
    const quiet = await post(call('m', 'test_tool_with_logging', {}))
    t.match(quiet, { type: /^application\/json/, body: /"id":"m"/ }, 'below the level: none, and the answer is plain JSON')
  })

  t.test('a call whose child dies is answered with an error', async (t) => {
    const post = await open(admin, `/mcp/servers/${mortal.key}`)
    const answer = await post(call('d', 'echo', { text: 'x' }))
    t.equal(answer.status, 200)
    t.same(JSON.parse(answer.body), { jsonrpc: '2.0', id: 'd', error: { code: -32603, message: 'Connection closed' } })
    const row = await until('the failed call recorded', async () => (await app.db.select().from(toolCalls).where(eq(toolCalls.serverId, mortal.id)))[0])
    t.match(row, { ok: false, error: 'Connection closed' })
  })

  t.test('the server\'s timeout answers an error and cancels the call upstream', async (t) => {
    await api('PUT', `/api/servers/${fixture.id}`, { callTimeout: 1000 })
    t.teardown(async () => { await api('PUT', `/api/servers/${fixture.id}`, { callTimeout: 60_000 }) })
    const post = await open(admin, `/mcp/servers/${fixture.key}`)
    const answer = await post(call('t', 'slow', { ms: 5000 }))
    t.same(JSON.parse(answer.body), { jsonrpc: '2.0', id: 't', error: { code: -32603, message: 'Request timed out', data: { timeout: 1000 } } })
    await until('the fixture heard the cancellation', () => app.supervisor.get(fixture.id)!.logs.entries().some((entry) => entry.message.includes('slow call cancelled')), 5000)
  })

  t.test('a cancelled call ends its exchange without an answer, and is cancelled upstream', async (t) => {
    const post = await open(admin, `/mcp/servers/${fixture.key}`)
    const before = app.supervisor.get(fixture.id)!.logs.entries().filter((entry) => entry.message.includes('slow call cancelled')).length
    const pending = post(call('x', 'slow', { ms: 4999 }))
    await until('the call reached the fixture', () => app.supervisor.get(fixture.id)!.logs.entries().some((entry) => entry.message.includes('slow call for 4999')), 5000)
    t.equal((await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'x', reason: 'changed my mind' } })).status, 202)
    const answer = await pending
    t.match(answer, { status: 200, type: /^text\/event-stream/, body: '' }, 'no answer')
    await until('the fixture heard the cancellation', () => app.supervisor.get(fixture.id)!.logs.entries().filter((entry) => entry.message.includes('slow call cancelled')).length > before, 5000)
    const row = await until('the cancelled call recorded', async () => (await app.db.select().from(toolCalls).where(eq(toolCalls.userId, admin.userId))).find((candidate) => candidate.error?.includes('changed my mind')))
    t.equal(row.ok, false)
  })
})
