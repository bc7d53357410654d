import t from 'tap'
import { createApiKey } from './helpers/auth.ts'
import { authedClient, connect, listen, refusedUpgrade, subscribe } from './helpers/ws.ts'
import { build, createUser, DRIVERS, signIn } from './helper.ts'

// Who may open /ws and how: the upgrade's Host and Origin, then a credential in the request's
// headers or in the first message; nothing else is taken before it.
// Looking credentials up (a token's session, an API key) runs on every driver; the rest (a
// malformed token, the address's budget, the auth timer, Host and Origin) queries no database
// of its own, so one driver suffices for it.

const activity = (userId: string, action = 'server.update') => ({
  id: `a-${Math.random()}`,
  action,
  outcome: 'success' as const,
  reason: null,
  actor: { userId, username: 'someone' },
  target: null,
  related: null,
  fields: null,
  ip: null,
  userAgent: null,
  at: new Date().toISOString()
})

// The tests of one group share a hub: each uses sockets and users of its own.
for (const driver of DRIVERS) {
  t.test(`${driver}: credentials, on one hub`, async (t) => {
    const app = await build(t, driver)
    const url = await listen(app)

    t.test(`${driver}: a socket authenticated by token hears the events it subscribed to`, async (t) => {
      const admin = await signIn(app)
      const client = await connect(t, url)
      client.send({ type: 'auth', token: admin.token })
      t.match(await client.next(), { type: 'authenticated', user: { id: admin.userId, username: 'admin', role: 'admin' } })
      const subscriptionId = await subscribe(client, { channel: 'user-activity' })
      const published = app.events.publish('user-activity', activity(admin.userId))
      t.same(await client.next(), { type: 'event', channel: 'user-activity', seq: published.seq, timestamp: published.timestamp, data: published.data })
      client.send({ type: 'unsubscribe', subscriptionId })
      t.same(await client.next(), { type: 'unsubscribed', subscriptionId })
      client.send({ type: 'ping', id: 7 })
      t.same(await client.next(), { type: 'pong', id: 7 }, 'nothing published after unsubscribing arrived before the pong')
    })

    t.test(`${driver}: an API key authenticates, in apiKey or in token; so do the upgrade's headers`, async (t) => {
      const admin = await signIn(app)
      const user = await createUser(app, admin)
      const { key } = await createApiKey(app, user)
      for (const [name, credential] of [['apiKey', { apiKey: key }], ['token', { token: key }]] as const) {
        const client = await authedClient(t, url, credential)
        t.match(client.received[0], { type: 'authenticated', user: { id: user.userId, role: 'user' } }, name)
      }
      const upgrades: Array<Record<string, string>> = [{ 'x-api-key': key }, { authorization: `Bearer ${user.token}` }]
      for (const headers of upgrades) {
        const client = await connect(t, url, headers)
        t.match(await client.next(), { type: 'authenticated', user: { id: user.userId } }, `${Object.keys(headers).join()} at the upgrade`)
        await subscribe(client, { channel: 'user-activity' })
      }
    })

    t.test(`${driver}: anything but an auth message first, or a bad credential, is refused and closed with 4401`, async (t) => {
      const attempts: Array<[string, unknown]> = [
        ['a subscribe before auth', { type: 'subscribe', channel: 'server-status' }],
        ['a ping before auth', { type: 'ping' }],
        ['malformed JSON', '{"type":'],
        ['an auth without a credential', { type: 'auth' }],
        ['a forged token', { type: 'auth', token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl' }],
        ['a made-up API key', { type: 'auth', apiKey: 'mcphub_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' }],
        ['a random token', { type: 'auth', token: 'not-a-credential' }]
      ]
      for (const [name, message] of attempts) {
        const client = await connect(t, url)
        client.send(message)
        t.match(await client.next(), { type: 'error', code: 'AUTHENTICATION_FAILED', message: String }, name)
        t.equal((await client.closed).code, 4401, `${name}: closed with 4401`)
      }
    })

    t.test(`${driver}: messages sent right after auth wait for it, in order`, async (t) => {
      const admin = await signIn(app)
      const client = await connect(t, url)
      client.send({ type: 'auth', token: admin.token })
      client.send({ type: 'subscribe', channel: 'alerts' })
      client.send({ type: 'ping', id: 1 })
      t.match(await client.next(), { type: 'authenticated' })
      t.match(await client.next(), { type: 'subscribed', channel: 'alerts' })
      t.same(await client.next(), { type: 'pong', id: 1 })
    })

    if (driver === 'pglite') {
      // Driver-independent: no credential is looked up.
      t.test('a bad credential in the upgrade\'s headers leaves the socket anonymous: it must still authenticate', async (t) => {
        const client = await connect(t, url, { authorization: 'Bearer forged' })
        client.send({ type: 'subscribe', channel: 'alerts' })
        t.match(await client.next(), { type: 'error', code: 'AUTHENTICATION_FAILED' })
        t.equal((await client.closed).code, 4401)
      })

      t.test('a plain GET /ws is answered in the envelope', async (t) => {
        const res = await app.inject({ method: 'GET', url: '/ws' })
        t.equal(res.statusCode, 400)
        t.match(res.json(), { success: false, error: { code: 'INVALID_REQUEST' } })
      })
    }
  })
}

t.test('failed credentials in auth messages spend the address\'s budget, as failed requests do', async (t) => {
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 2, user: 0, admin: 0, mcp: 0 } } })
  const admin = await signIn(app)
  const { key } = await createApiKey(app, admin)
  const url = await listen(app)
  // From an address of its own: signing in and creating the key (from 127.0.0.1) spent nothing of its budget.
  for (let n = 0; n < 2; n++) {
    const client = await connect(t, url, {}, '127.0.0.2')
    client.send({ type: 'auth', apiKey: 'mcphub_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' })
    t.match(await client.next(), { type: 'error', code: 'AUTHENTICATION_FAILED' })
    await client.closed
  }
  const refused = await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': key }, remoteAddress: '127.0.0.2' })
  t.equal(refused.statusCode, 429, 'the address\'s keys are refused without a lookup')
  const elsewhere = await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': key }, })
  t.equal(elsewhere.statusCode, 200, 'another address is not affected')
})

t.test('a socket that does not authenticate in time is closed with 4401', async (t) => {
  const app = await build(t, 'pglite', { wsLimits: { authTimeoutMs: 200 } })
  const client = await connect(t, await listen(app))
  t.same(await client.closed, { code: 4401, reason: 'Authentication timeout' })
})

t.test('a foreign Origin or a Host not allowed is refused at the upgrade (403, in the envelope)', async (t) => {
  const app = await build(t, 'pglite', { config: { wsAllowedOrigins: ['https://dash.example.com'] } })
  const url = await listen(app)
  const { port } = new URL(url)
  const refused: Array<Record<string, string>> = [{ origin: 'https://evil.example.com' }, { origin: 'null' }, { host: `evil.example.com:${port}` }]
  for (const headers of refused) {
    const { status, body } = await refusedUpgrade(url, headers)
    t.equal(status, 403, JSON.stringify(headers))
    t.match(body, { success: false, error: { code: 'AUTHORIZATION_FAILED' }, timestamp: String })
  }
  for (const origin of [`http://127.0.0.1:${port}`, 'https://dash.example.com']) {
    const client = await connect(t, url, { origin })
    client.send({ type: 'ping' })
    t.match(await client.next(), { type: 'error', code: 'AUTHENTICATION_FAILED' }, `${origin} may open a socket (then authenticate)`)
  }
})
