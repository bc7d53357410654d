import t from 'tap'
import { Client, SSEClientTransport, StreamableHTTPClientTransport, type Transport } from '@modelcontextprotocol/client'
import { build, signIn, type SignedIn } from './helper.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

interface Tap {
  teardown(fn: () => unknown): void
}

/** A listening hub with one running fixture server; `closing` settles when the hub starts to close. */
async function hubWithServer (t: Tap) {
  let closingStarted!: () => void
  const closing = new Promise<void>((resolve) => { closingStarted = resolve })
  const app = await build(t, 'pglite', {
    supervisorPolicy: { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 },
    // A hook of the root runs before the gateway's.
    extend: (app) => { app.addHook('preClose', async () => { closingStarted() }) }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const admin = await signIn(app)
  const created = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name: 'sleeper', command: process.execPath, args: [FIXTURE], enabled: false } })
  const server = created.json().data as { id: string, key: string }
  await app.inject({ method: 'POST', url: `/api/servers/${server.id}/start`, headers: admin.headers })
  const managed = app.supervisor.get(server.id)!
  /** Settles once the server says `text` on stderr. */
  const serverSays = (text: string) => new Promise<void>((resolve) => {
    const stop = managed.logs.subscribe((entry) => {
      if (!entry.message.includes(text)) return
      stop()
      resolve()
    })
  })
  const slowCallStarted = () => serverSays('slow call for')
  return { app, base, admin, server, closing, slowCallStarted, serverSays }
}

const connect = async (t: Tap, transport: Transport) => {
  const client = new Client({ name: 'caller', version: '1.0.0' })
  await client.connect(transport)
  t.teardown(() => client.close())
  return client
}
const withAuth = (who: SignedIn) => (url: string | URL, init?: RequestInit) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), ...who.headers } })

/** Closes the hub while the client's slow call runs; the call must still get its real result. */
async function closeDuringSlowCall (t: Tap & { same: (found: unknown, wanted: unknown) => void }, app: { close: () => Promise<void> }, slowCallStarted: () => Promise<void>, client: Client) {
  const started = slowCallStarted()
  const call = client.callTool({ name: 'slow', arguments: { ms: 1000 } }, { timeout: 10_000 })
  await started
  const closed = app.close()
  t.same((await call).content, [{ type: 'text', text: 'slept 1000' }])
  await closed
}

t.test('on close, a call in flight on a 2025 session gets its real result; new requests get 503', async (t) => {
  const { app, base, admin, server, closing, slowCallStarted } = await hubWithServer(t)
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: admin.headers } })
  const client = await connect(t, transport)
  const started = slowCallStarted()
  const call = client.callTool({ name: 'slow', arguments: { ms: 1000 } }, { timeout: 10_000 })
  await started
  const closed = app.close()
  await closing
  const meanwhile = await fetch(`${base}/mcp/servers/${server.key}`, {
    method: 'POST',
    headers: { ...admin.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list' })
  })
  t.equal(meanwhile.status, 503, 'a new request while closing')
  t.match(await meanwhile.json(), { jsonrpc: '2.0', error: { message: 'The hub is shutting down' } }, 'as a JSON-RPC error')
  const rest = await fetch(`${base}/api/servers`, { headers: admin.headers })
  t.equal(rest.status, 503, 'a new API request while closing')
  t.match(await rest.json(), { success: false, error: { code: 'SERVER_ERROR', message: 'The hub is shutting down' } }, 'in the envelope')
  t.same((await call).content, [{ type: 'text', text: 'slept 1000' }], 'the call in flight finishes')
  await closed
})

t.test('on close, a call in flight on an HTTP+SSE session gets its real result', async (t) => {
  const { app, base, admin, server, slowCallStarted } = await hubWithServer(t)
  const client = await connect(t, new SSEClientTransport(new URL(`${base}/sse/${server.key}`), { fetch: withAuth(admin), eventSourceInit: { fetch: withAuth(admin) } }))
  await closeDuringSlowCall(t, app, slowCallStarted, client)
})

t.test('on close, a stateless (2026-07-28) call in flight gets its real result', async (t) => {
  const { app, base, admin, server, slowCallStarted } = await hubWithServer(t)
  const client = new Client({ name: 'modern', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: admin.headers } }))
  t.teardown(() => client.close())
  await closeDuringSlowCall(t, app, slowCallStarted, client)
})

t.test('close waits for session calls a bounded time: a longer call is ended with "Session closed"', async (t) => {
  const { app, base, admin, server, slowCallStarted } = await hubWithServer(t)
  const client = await connect(t, new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: admin.headers } }))
  const started = slowCallStarted()
  const call = client.callTool({ name: 'slow', arguments: { ms: 60_000 } }, { timeout: 90_000 })
  await started
  const closingAt = Date.now()
  const closed = app.close()
  await t.rejects(call, /Session closed/)
  await closed
  const took = Date.now() - closingAt
  t.ok(took >= 4500 && took < 9000, `closed after ${took} ms (5 s for the calls, then the servers' stop)`)
})

for (const kind of ['Streamable HTTP', 'HTTP+SSE']) {
  t.test(`a call cancelled on a session (${kind}) is not waited for at close`, async (t) => {
    const { app, base, admin, server, slowCallStarted, serverSays } = await hubWithServer(t)
    const client = await connect(t, kind === 'HTTP+SSE'
      ? new SSEClientTransport(new URL(`${base}/sse/${server.key}`), { fetch: withAuth(admin), eventSourceInit: { fetch: withAuth(admin) } })
      : new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: admin.headers } }))
    const abort = new AbortController()
    const started = slowCallStarted()
    const call = client.callTool({ name: 'slow', arguments: { ms: 60_000 } }, { signal: abort.signal })
    await started
    const cancelled = serverSays('slow call cancelled')
    abort.abort()
    await t.rejects(call)
    await cancelled
    const closingAt = Date.now()
    await app.close()
    const took = Date.now() - closingAt
    t.ok(took < 4000, `closed after ${took} ms, without waiting for an answer that never comes`)
  })
}
