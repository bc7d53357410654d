import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { LiveAccess } from '../access/index.ts'
import type { App } from '../app.ts'
import { servers, users } from '../db/schema.ts'
import { build, createUser, DRIVERS, rememberSecret, signIn, testDatabase, type SignedIn } from './helper.ts'

/** Generous: streams are checked every second, and every change is seen at the next check. */
const ENDS_WITHIN_MS = 10_000

async function within<T> (what: string, promise: Promise<T>, ms = ENDS_WITHIN_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function call (app: App, who: SignedIn | undefined, method: string, url: string, payload?: object) {
  const res = await app.inject({ method: method as 'GET', url, ...(who === undefined ? {} : { headers: who.headers }), ...(payload === undefined ? {} : { payload }) })
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
}

/** Opens a streamed response (NDJSON or SSE); `done` settles when the hub ends it. */
async function openStream (t: Test, url: string, headers: Record<string, string>) {
  const controller = new AbortController()
  t.teardown(() => { controller.abort() })
  const res = await within('stream response', fetch(url, { headers, signal: controller.signal }))
  t.equal(res.status, 200, 'the stream is open')
  let ended = false
  const done = (async () => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      for await (const _chunk of res.body!);
    } catch (error) {
      // Aborted by the test's teardown: not an end the hub chose.
      if (!controller.signal.aborted) throw error
    }
    ended = true
  })()
  return { done, isOpen: () => !ended }
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    // One listening hub for the driver's tests: each makes groups, servers and users of its own.
    const app = await build(t, driver)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const admin = await signIn(app)

    t.test('a foreign group in the servers list filter answers exactly like a group that does not exist', async (t) => {
      const [shared, other] = await app.db.insert(servers).values([
        { name: 'shared', key: 'shared', command: 'true', enabled: false },
        { name: 'other', key: 'other', command: 'true', enabled: false }
      ]).returning()
      const mine = (await call(app, admin, 'POST', '/api/groups', { name: 'mine', permissions: { servers: ['read'] } })).body.data
      const foreign = (await call(app, admin, 'POST', '/api/groups', { name: 'foreign', permissions: { servers: ['read'] } })).body.data
      await call(app, admin, 'POST', `/api/groups/${mine.id}/servers`, { serverId: shared!.id, permissions: ['read'] })
      await call(app, admin, 'POST', `/api/groups/${foreign.id}/servers`, { serverId: shared!.id, permissions: ['read'] })
      await call(app, admin, 'POST', `/api/groups/${foreign.id}/servers`, { serverId: other!.id, permissions: ['read'] })
      const user = await createUser(app, admin)
      await call(app, admin, 'POST', `/api/groups/${mine.id}/members`, { userId: user.userId })

      const names = (res: { body: { data: { items: Array<{ name: string }> } } }) => res.body.data.items.map((server) => server.name)
      t.same(names(await call(app, user, 'GET', '/api/servers?group=mine')), ['shared'], 'a group the caller is in filters')
      t.same(names(await call(app, admin, 'GET', '/api/servers?group=foreign')), ['other', 'shared'], 'admins filter by any group')

      const missing = await call(app, user, 'GET', '/api/servers?group=no-such-group')
      const missingId = await call(app, user, 'GET', `/api/servers?group=${randomUUID()}`)
      for (const ref of [foreign.name, foreign.id]) {
        const res = await call(app, user, 'GET', `/api/servers?group=${ref}`)
        t.equal(res.status, missing.status, `${ref}: same status`)
        t.same(res.body.data, missing.body.data, `${ref}: same page as a group that does not exist`)
        t.same(res.body.data, missingId.body.data)
      }
      t.same(names(missing), [])
    })

    t.test('a group path with a NUL is a 404 for a member, checked before the database is asked', async (t) => {
      const group = (await call(app, admin, 'POST', '/api/groups', { name: 'team' })).body.data
      const user = await createUser(app, admin)
      await call(app, admin, 'POST', `/api/groups/${group.id}/members`, { userId: user.userId })
      t.equal((await call(app, user, 'GET', `/api/groups/${group.id}`)).status, 200, 'the member reads the group')
      for (const ref of ['%00', 'team%00']) {
        const res = await call(app, user, 'GET', `/api/groups/${ref}/members`)
        t.equal(res.status, 404, ref)
        t.match(res.body, { success: false, error: { code: 'RESOURCE_NOT_FOUND' } })
      }
    })

    t.test('a log follow stream ends when its caller loses access', async (t) => {
      const [server] = await app.db.insert(servers).values({ name: 'followed', key: 'followed', command: 'true', enabled: false }).returning()
      await call(app, admin, 'POST', '/api/groups', { name: 'readers', permissions: { servers: ['read'] } })
      await call(app, admin, 'POST', '/api/groups/readers/servers', { serverId: server!.id, permissions: ['read'] })
      const reader = async () => createUser(app, admin, { groups: ['readers'] })

      const follow = async (headers: Record<string, string>) => await openStream(t, `${base}/api/servers/${server!.id}/logs?follow=true`, headers)
      const kept = await follow(admin.headers)

      t.test('logout', async (t) => {
        const user = await reader()
        const stream = await follow(user.headers)
        t.equal((await call(app, user, 'POST', '/api/auth/logout')).status, 204)
        await within('stream end after logout', stream.done)
      })

      t.test('removal from the group that granted the server', async (t) => {
        const user = await reader()
        const stream = await follow(user.headers)
        t.equal((await call(app, admin, 'DELETE', `/api/groups/readers/members/${user.userId}`)).status, 204)
        await within('stream end after removal', stream.done)
      })

      t.test('the user deleted', async (t) => {
        const user = await reader()
        const stream = await follow(user.headers)
        t.equal((await call(app, admin, 'DELETE', `/api/users/${user.userId}`)).status, 204)
        await within('stream end after deletion', stream.done)
      })

      t.test('the API key revoked', async (t) => {
        const user = await reader()
        const created = (await call(app, user, 'POST', '/api/auth/api-keys', { name: 'follow' })).body.data
        rememberSecret(created.key)
        const stream = await follow({ 'x-api-key': created.key })
        t.equal((await call(app, user, 'DELETE', `/api/auth/api-keys/${created.id}`)).status, 204)
        await within('stream end after revocation', stream.done)
      })

      t.test('a caller who keeps access keeps the stream', async (t) => {
        t.ok(kept.isOpen(), 'the admin\'s stream is still open')
      })
    })

    t.test('MCP sessions and event streams end when their caller loses access', async (t) => {
      await call(app, admin, 'POST', '/api/groups', { name: 'mcp-users', permissions: { servers: ['read'], tools: ['read'] } })
      const member = async () => createUser(app, admin, { groups: ['mcp-users'] })
      const PROTOCOL = { 'mcp-protocol-version': '2025-06-18' }

      /** Opens a 2025 session on `path` and its GET event stream. */
      const session = async (headers: Record<string, string>, path: string) => {
        const init = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { ...headers, ...PROTOCOL, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })
        })
        t.equal(init.status, 200, 'session opened')
        await init.text()
        const id = init.headers.get('mcp-session-id')!
        const sessionHeaders = { ...headers, ...PROTOCOL, 'mcp-session-id': id }
        const events = await openStream(t, `${base}${path}`, { ...sessionHeaders, accept: 'text/event-stream' })
        const ping = async () => (await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { ...sessionHeaders, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' })
        })).status
        return { events, ping }
      }

      t.test('a 2025 session: logout ends its event stream and the session', async (t) => {
        const user = await member()
        const { events, ping } = await session(user.headers, '/mcp')
        t.equal(await ping(), 200)
        t.equal((await call(app, user, 'POST', '/api/auth/logout')).status, 204)
        await within('event stream end after logout', events.done)
        const again = await signIn(app, user.username, user.password)
        const { events: kept } = await session(again.headers, '/mcp')
        t.ok(kept.isOpen(), 'a new login opens a new session')
      })

      t.test('a 2025 session on a group endpoint: removal from the group ends it', async (t) => {
        const user = await member()
        const { events, ping } = await session(user.headers, '/mcp/groups/mcp-users')
        t.equal((await call(app, admin, 'DELETE', `/api/groups/mcp-users/members/${user.userId}`)).status, 204)
        await within('event stream end after removal', events.done)
        t.equal(await ping(), 404, 'the session is gone')
      })

      t.test('a 2025 session opened with an API key: revoking the key ends it', async (t) => {
        const user = await member()
        const created = (await call(app, user, 'POST', '/api/auth/api-keys', { name: 'mcp' })).body.data
        rememberSecret(created.key)
        const { events } = await session({ 'x-api-key': created.key }, '/mcp')
        t.equal((await call(app, user, 'DELETE', `/api/auth/api-keys/${created.id}`)).status, 204)
        await within('event stream end after revocation', events.done)
      })

      t.test('an SSE stream: deleting the user ends it', async (t) => {
        const user = await member()
        const stream = await openStream(t, `${base}/sse`, { ...user.headers, accept: 'text/event-stream' })
        t.equal((await call(app, admin, 'DELETE', `/api/users/${user.userId}`)).status, 204)
        await within('SSE stream end after deletion', stream.done)
      })

      t.test('an SSE stream on a group: removal from the group ends it', async (t) => {
        const user = await member()
        const stream = await openStream(t, `${base}/sse/mcp-users`, { ...user.headers, accept: 'text/event-stream' })
        const kept = await openStream(t, `${base}/sse/mcp-users`, { ...admin.headers, accept: 'text/event-stream' })
        t.equal((await call(app, admin, 'DELETE', `/api/groups/mcp-users/members/${user.userId}`)).status, 204)
        await within('SSE stream end after removal', stream.done)
        t.ok(kept.isOpen(), 'a caller who keeps access keeps the stream')
      })
    })
  })
}

t.test('a live stream ends when its token expires, without any change stored', async (t) => {
  const handle = await testDatabase(t, DRIVERS[0]!)
  t.teardown(() => handle.close())
  await handle.migrate()
  const [user] = await handle.db.insert(users).values({ username: 'expiring', passwordHash: 'x' }).returning()
  let clock = Date.now()
  const live = new LiveAccess({ db: () => handle.db, epoch: () => 0, now: () => clock, tickMs: 20, onError: (error) => { t.error(error) } })
  t.teardown(() => { live.close() })
  const principal = { userId: user!.id, username: user!.username, role: user!.role, readOnly: false }
  let ended = 0
  const ends = new Promise<void>((resolve) => {
    live.watch({ principal, expiresAt: clock + 60_000, allowed: async () => true, end: () => { ended++; resolve() } })
  })
  await live.check()
  t.equal(ended, 0, 'a live credential with access keeps its stream')
  clock += 60_000
  await within('stream end at expiry', ends)
  t.equal(live.size, 0)
  t.equal(ended, 1, 'ended once')
})
