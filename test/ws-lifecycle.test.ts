import type { Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import WebSocket from 'ws'
import type { App } from '../app.ts'
import type { Channel, ChannelData } from '../events/schemas.ts'
import { createApiKey } from './helpers/auth.ts'
import { authedClient, connect, listen, subscribe, type Client, type Message } from './helpers/ws.ts'
import { build, createUser, DRIVERS, signIn } from './helper.ts'

// A socket's life: what ends it (logout, revocation, limits, a slow or dead peer, shutdown),
// resuming where it left off, and the errors that leave it open.
// Only what ends a credential (logout, revoking a key, deleting a user) goes through the
// database: that runs on every driver. The rest lives in the hub's memory (the event ring, the
// sockets' buffers and timers), so one driver suffices for it.

function alert (message = 'm'): ChannelData['alerts'] {
  return { id: `al-${Math.random()}`, fingerprint: 'f', rule: 'r', severity: 'warning', state: 'firing', serverId: null, message, at: new Date().toISOString() }
}

function logLine (message: string): ChannelData['server-logs'] {
  return { serverId: 'some-server', name: 'some', time: new Date().toISOString(), level: 'info', source: 'stderr', message }
}

const events = (client: Client) => client.received.filter((message) => message.type === 'event')
const seqs = (messages: Message[]) => messages.map((message) => message.seq)

/** Stops reading the socket: what the hub sends piles up in its buffers. */
const pause = (client: Client) => (client.socket as unknown as { _socket: Socket })._socket.pause()
const resume = (client: Client) => (client.socket as unknown as { _socket: Socket })._socket.resume()

/** Waits until no socket listens to the channel any more (the hub closed the last one). */
async function untilUnheard (app: App, channel: Channel): Promise<void> {
  while (app.events.hasListeners(channel)) await delay(20)
}

for (const driver of DRIVERS) {
  t.test(`${driver}: logout, a revoked key and a deleted user close their sockets with 4401`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const user = await createUser(app, admin)
    const other = await createUser(app, admin)
    const { id: keyId, key } = await createApiKey(app, user)
    const url = await listen(app)
    const byToken = await authedClient(t, url, { token: user.token })
    const byKey = await authedClient(t, url, { apiKey: key })
    const deleted = await authedClient(t, url, { token: other.token })

    t.equal((await app.inject({ method: 'POST', url: '/api/auth/logout', headers: user.headers })).statusCode, 204)
    t.same(await byToken.closed, { code: 4401, reason: 'Credential revoked or expired' }, 'logout')
    t.equal(byKey.socket.readyState, WebSocket.OPEN, 'the key is another credential')

    t.equal((await app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${keyId}`, headers: admin.headers })).statusCode, 204)
    t.equal((await byKey.closed).code, 4401, 'key revoked')

    t.equal((await app.inject({ method: 'DELETE', url: `/api/users/${other.userId}`, headers: admin.headers })).statusCode, 204)
    t.equal((await deleted.closed).code, 4401, 'user deleted')
  })
}

// These four share a hub (default limits): each uses sockets and subscriptions of its own.
t.test('on one hub', async (t) => {
  const app = await build(t, 'pglite')

  t.test('since resumes without gap or repeat; a socket with two subscriptions gets each event once', async (t) => {
    const admin = await signIn(app)
    const client = await authedClient(t, await listen(app), { token: admin.token })
    const [a1, a2, a3] = [alert(), alert(), alert()].map((data) => app.events.publish('alerts', data))
    const first = await subscribe(client, { channel: 'alerts', since: a1!.seq })
    const a4 = app.events.publish('alerts', alert())
    await client.waitFor((message) => message.seq === a4.seq)
    t.same(seqs(events(client)), [a2!.seq, a3!.seq, a4.seq], 'the missed events, then the live one')

    // A second subscription replaying what the first already sent sends none of it again.
    const second = await subscribe(client, { channel: 'alerts', since: a1!.seq })
    t.not(second, first)
    const a5 = app.events.publish('alerts', alert())
    await client.waitFor((message) => message.seq === a5.seq)
    t.same(seqs(events(client)), [a2!.seq, a3!.seq, a4.seq, a5.seq], 'each event once')
  })

  t.test('since beyond what the hub holds answers reset, then the live events', async (t) => {
    const admin = await signIn(app)
    const client = await authedClient(t, await listen(app), { token: admin.token })
    const lastSeq = app.events.lastSeq('alerts')
    client.send({ type: 'subscribe', channel: 'alerts', since: lastSeq + 10 })
    const { subscriptionId } = await client.next()
    t.same(await client.next(), { type: 'reset', channel: 'alerts', subscriptionId }, 'a sequence number from before a restart')

    for (let n = 0; n < 1001; n++) app.events.publish('alerts', alert())
    client.send({ type: 'subscribe', channel: 'alerts', since: lastSeq })
    const answer = await client.waitFor((message) => message.type === 'subscribed')
    t.same(await client.next(), { type: 'reset', channel: 'alerts', subscriptionId: answer.subscriptionId }, 'the ring no longer reaches back')
    const live = app.events.publish('alerts', alert())
    t.match(await client.waitFor((message) => message.seq === live.seq), { type: 'event', channel: 'alerts' }, 'then live')
  })

  t.test('every bad message is answered with the contract\'s error, and the socket goes on', async (t) => {
    const admin = await signIn(app)
    const client = await authedClient(t, await listen(app), { token: admin.token })
    const cases: Array<[string, unknown, string, string?]> = [
      ['malformed JSON', '{"type":', 'INVALID_REQUEST'],
      ['an array', '[1]', 'INVALID_REQUEST'],
      ['a string', '"subscribe"', 'INVALID_REQUEST'],
      ['no type', {}, 'INVALID_REQUEST'],
      ['an unknown type', { type: 'publish' }, 'INVALID_REQUEST'],
      ['an unknown channel', { type: 'subscribe', channel: 'secrets' }, 'VALIDATION_ERROR', 'channel'],
      ['no channel', { type: 'subscribe' }, 'VALIDATION_ERROR', 'channel'],
      ['an unknown field', { type: 'subscribe', channel: 'alerts', isAdmin: true }, 'VALIDATION_ERROR', 'isAdmin'],
      ['a bad level', { type: 'subscribe', channel: 'server-logs', filters: { level: 'loud' } }, 'VALIDATION_ERROR', 'filters.level'],
      ['an unknown filter', { type: 'subscribe', channel: 'server-logs', filters: { owner: 'x' } }, 'VALIDATION_ERROR', 'filters.owner'],
      ['a filter of another channel', { type: 'subscribe', channel: 'server-status', filters: { level: 'info' } }, 'VALIDATION_ERROR', 'filters.level'],
      ['metrics on another channel', { type: 'subscribe', channel: 'alerts', metrics: ['cpu'] }, 'VALIDATION_ERROR', 'metrics'],
      ['an unknown metric', { type: 'subscribe', channel: 'monitoring', metrics: ['temperature'] }, 'VALIDATION_ERROR', 'metrics.0'],
      ['a negative since', { type: 'subscribe', channel: 'alerts', since: -1 }, 'VALIDATION_ERROR', 'since'],
      ['an interval too short', { type: 'subscribe', channel: 'monitoring', filters: { interval: 10 } }, 'VALIDATION_ERROR', 'filters.interval'],
      ['no subscription id', { type: 'unsubscribe' }, 'VALIDATION_ERROR', 'subscriptionId'],
      ['an unknown subscription', { type: 'unsubscribe', subscriptionId: 's999' }, 'RESOURCE_NOT_FOUND'],
      ['a second auth', { type: 'auth', token: admin.token }, 'INVALID_REQUEST']
    ]
    for (const [name, message, code, field] of cases) {
      client.send(message)
      const answer = await client.next()
      t.match(answer, { type: 'error', code, message: String }, name)
      if (field !== undefined) t.match(answer.details, { field }, `${name}: names ${field}`)
    }
    client.socket.send(Buffer.from('{"type":"ping"}'), { binary: true })
    t.match(await client.next(), { type: 'error', code: 'INVALID_REQUEST' }, 'a binary frame')

    for (let n = 0; n < 64; n++) await subscribe(client, { channel: 'alerts' })
    client.send({ type: 'subscribe', channel: 'alerts' })
    t.match(await client.next(), { type: 'error', code: 'VALIDATION_ERROR', details: { field: 'subscriptions' } }, 'a 65th subscription')

    client.send({ type: 'ping', id: 'still-here' })
    t.same(await client.next(), { type: 'pong', id: 'still-here' }, 'the socket is still usable')
    const event = app.events.publish('alerts', alert())
    t.match(await client.next(), { type: 'event', seq: event.seq }, 'and hears its subscriptions')

    const big = await authedClient(t, await listen(app), { token: admin.token })
    big.send({ type: 'ping', id: 'x'.repeat(64 * 1024) })
    t.equal((await big.closed).code, 1009, 'a message over 64 KiB closes the socket (1009)')
  })

  t.test('a user\'s 17th socket is closed with 4429; once one closes, another may open', async (t) => {
    const admin = await signIn(app)
    const user = await createUser(app, admin)
    const url = await listen(app)
    const open: Client[] = []
    for (let n = 0; n < 16; n++) open.push(await authedClient(t, url, { token: user.token }))
    const extra = await connect(t, url)
    extra.send({ type: 'auth', token: user.token })
    t.match(await extra.next(), { type: 'error', code: 'RATE_LIMIT_EXCEEDED', message: /at most 16 per user/ })
    t.equal((await extra.closed).code, 4429)
    t.ok(await authedClient(t, url, { token: admin.token }), 'another user is not affected')

    open[0]!.socket.close()
    await open[0]!.closed
    // The hub sees the close a moment after the client does.
    for (;;) {
      const next = await connect(t, url, user.headers)
      const answer = await next.next()
      if (answer.type === 'authenticated') break
      await next.closed
    }
    t.pass('a socket of the user may open again')
  })
})

t.test('a consumer that does not read loses log lines, counted, and hears how many once it reads again', async (t) => {
  const app = await build(t, 'pglite', { wsLimits: { softBytes: 64 * 1024, hardBytes: 64 * 1024 * 1024, lagMs: 600_000 } })
  const admin = await signIn(app)
  const client = await authedClient(t, await listen(app), { token: admin.token })
  await subscribe(client, { channel: 'server-logs' })
  pause(client)
  const line = 'x'.repeat(8 * 1024)
  // Far more than the sockets' kernel buffers hold.
  const published = 8192
  for (let n = 0; n < published; n++) app.events.publish('server-logs', logLine(line))
  resume(client)
  t.match(await client.waitFor((message) => message.type === 'dropped'), { type: 'dropped', channel: 'server-logs', count: Number })
  const after = app.events.publish('server-logs', logLine('after'))
  await client.waitFor((message) => message.seq === after.seq)
  const received = events(client).length - 1
  const dropped = client.received.filter((message) => message.type === 'dropped').reduce((sum, message) => sum + (message.count as number), 0)
  t.ok(received < published / 2, `${received} lines of ${published} were sent`)
  t.equal(received + dropped, published, 'every line sent or counted, then live again')
})

t.test('log lines beyond the fan-out backlog are dropped and counted, for a consumer that keeps up too', async (t) => {
  const app = await build(t, 'pglite', { wsLimits: { maxPendingLines: 10 } })
  const admin = await signIn(app)
  const client = await authedClient(t, await listen(app), { token: admin.token })
  await subscribe(client, { channel: 'server-logs' })
  // Published in one go: faster than any fan-out.
  const lines = Array.from({ length: 100 }, (_, n) => app.events.publish('server-logs', logLine(`line ${n}`)))
  t.same(await client.waitFor((message) => message.type === 'dropped'), { type: 'dropped', channel: 'server-logs', count: 90 })
  t.same(seqs(events(client)), lines.slice(0, 10).map((line) => line.seq), 'the first ten, in order')
  t.same((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the hub answers')
})

t.test('a consumer past the hard bound is closed with 1013', async (t) => {
  const app = await build(t, 'pglite', { wsLimits: { softBytes: 64 * 1024, hardBytes: 1024 * 1024, lagMs: 600_000, closeTimeoutMs: 60_000 } })
  const admin = await signIn(app)
  const url = await listen(app)
  const client = await authedClient(t, url, { token: admin.token })
  await subscribe(client, { channel: 'alerts' })
  pause(client)
  const text = 'x'.repeat(8 * 1024)
  while (app.events.hasListeners('alerts')) app.events.publish('alerts', alert(text))
  resume(client)
  t.same(await client.closed, { code: 1013, reason: 'Consumer too slow' }, 'past the hard bound')
  t.ok(events(client).length > 0, 'what was queued before arrived')
})

t.test('a consumer past the soft bound for longer than the lag allowed is closed with 1013', async (t) => {
  const app = await build(t, 'pglite', { wsLimits: { softBytes: 64 * 1024, hardBytes: 1024 * 1024 * 1024, lagMs: 300, closeTimeoutMs: 60_000 } })
  const admin = await signIn(app)
  const client = await authedClient(t, await listen(app), { token: admin.token })
  await subscribe(client, { channel: 'alerts' })
  pause(client)
  const text = 'x'.repeat(8 * 1024)
  for (let n = 0; n < 4096; n++) app.events.publish('alerts', alert(text))
  await untilUnheard(app, 'alerts')
  resume(client)
  t.same(await client.closed, { code: 1013, reason: 'Consumer too slow' })
})

t.test('a peer that does not answer pings is cut off', async (t) => {
  const app = await build(t, 'pglite', { wsLimits: { heartbeatMs: 200 } })
  const admin = await signIn(app)
  const url = await listen(app)
  const silent = new WebSocket(url, { autoPong: false, headers: admin.headers })
  t.teardown(() => { silent.terminate() })
  const answering = await connect(t, url, admin.headers)
  const closed = await new Promise<number>((resolve) => silent.on('close', resolve))
  t.equal(closed, 1006, 'terminated without a close frame')
  t.equal(answering.socket.readyState, WebSocket.OPEN, 'a peer that answers stays')
})

t.test('shutdown closes every socket with 1001, authenticated or not', async (t) => {
  const app = await build(t, 'pglite')
  const admin = await signIn(app)
  const url = await listen(app)
  const authed = await authedClient(t, url, { token: admin.token })
  await subscribe(authed, { channel: 'server-status' })
  const waiting = await connect(t, url)
  await app.close()
  t.same(await authed.closed, { code: 1001, reason: 'Hub shutting down' })
  t.equal((await waiting.closed).code, 1001)
})
