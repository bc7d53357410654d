import { setTimeout as delay } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { App } from '../app.ts'
import type { ChannelData } from '../events/schemas.ts'
import { authedClient, listen, subscribe, type Client, type Message } from './helpers/ws.ts'
import { build, createUser, DRIVERS, signIn, type SignedIn } from './helper.ts'

// Each channel delivers what happens, to those who may see it, as the REST API decides.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 }

async function api (app: App, who: SignedIn, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) {
  const res = await app.inject({ method, url, headers: who.headers, ...(payload === undefined ? {} : { payload: payload as object }) })
  if (res.statusCode >= 400) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
  return res.statusCode === 204 ? undefined : res.json().data
}

async function fixtureServer (t: Test, app: App, admin: SignedIn, name: string): Promise<string> {
  const { id } = await api(app, admin, 'POST', '/api/servers', { name, command: process.execPath, args: [FIXTURE], enabled: false })
  t.teardown(() => app.supervisor.get(id)?.stop({ graceful: false }))
  return id as string
}

const isEvent = (channel: string, match: (data: Record<string, unknown>) => boolean = () => true) =>
  (message: Message) => message.type === 'event' && message.channel === channel && match(message.data as Record<string, unknown>)

function alert (serverId: string | null, severity: ChannelData['alerts']['severity'] = 'warning'): ChannelData['alerts'] {
  return { id: `al-${Math.random()}`, fingerprint: 'f', rule: 'r', severity, state: 'firing', serverId, message: 'm', at: new Date().toISOString() }
}

function activity (fields: Partial<ChannelData['user-activity']>): ChannelData['user-activity'] {
  return { id: `ac-${Math.random()}`, action: 'server.update', outcome: 'success', reason: null, actor: null, target: null, fields: null, related: null, ip: null, userAgent: null, at: new Date().toISOString(), ...fields }
}

let pings = 0

/** The messages that arrive before the answer to a ping: everything published before it was sent. */
async function untilPong (client: Client): Promise<Message[]> {
  const id = ++pings
  client.send({ type: 'ping', id })
  const before: Message[] = []
  await client.waitFor((message) => {
    if (message.type === 'pong' && message.id === id) return true
    before.push(message)
    return false
  })
  return before
}

// The tests of one driver share a hub: each uses users, servers and sockets of its own.
for (const driver of DRIVERS) {
  t.test(`${driver}: channels, on one hub`, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: POLICY })

    t.test(`${driver}: a real server's start and stop arrive on server-status and server-logs`, async (t) => {
      const admin = await signIn(app)
      const id = await fixtureServer(t, app, admin, 'watched')
      const client = await authedClient(t, await listen(app), { token: admin.token })
      await subscribe(client, { channel: 'server-status', filters: { serverId: id } })
      await subscribe(client, { channel: 'server-logs', filters: { serverId: [id], level: 'info' } })

      await api(app, admin, 'POST', `/api/servers/${id}/start`)
      const running = await client.waitFor(isEvent('server-status', (data) => data.to === 'running'))
      t.match(running.data, { serverId: id, name: 'watched', from: 'starting', to: 'running', pid: Number, reason: null })
      t.match(client.received.find(isEvent('server-logs', (data) => /^started pid \d+$/.test(String(data.message)))), {
        seq: Number, timestamp: String, data: { serverId: id, name: 'watched', level: 'info', source: 'supervisor' }
      }, 'the supervisor\'s line on server-logs')

      await api(app, admin, 'POST', `/api/servers/${id}/stop`)
      const stopped = await client.waitFor(isEvent('server-status', (data) => data.to === 'stopped'))
      t.match(stopped.data, { serverId: id, pid: null })
      const seqs = client.received.filter(isEvent('server-status')).map((message) => message.seq as number)
      t.same(seqs, [...seqs].sort((a, b) => a - b), 'in order')
    })

    t.test(`${driver}: a user sees the servers of their groups only, and stops seeing one when its assignment goes`, async (t) => {
      const admin = await signIn(app)
      const ours = await fixtureServer(t, app, admin, 'ours')
      const theirs = await fixtureServer(t, app, admin, 'theirs')
      const user = await createUser(app, admin)
      await api(app, admin, 'POST', '/api/groups', { name: 'team', permissions: { servers: ['read'], tools: [] } })
      await api(app, admin, 'POST', '/api/groups/team/members', { userId: user.userId, role: 'member' })
      await api(app, admin, 'POST', '/api/groups/team/servers', { serverId: ours, permissions: ['read'] })

      const client = await authedClient(t, await listen(app), { token: user.token })
      client.send({ type: 'subscribe', channel: 'server-status', filters: { serverId: theirs } })
      t.match(await client.next(), { type: 'error', code: 'RESOURCE_NOT_FOUND', message: `Server ${theirs} not found` }, 'another group\'s server, as REST hides it')
      client.send({ type: 'subscribe', channel: 'monitoring' })
      t.match(await client.next(), { type: 'error', code: 'AUTHORIZATION_FAILED' }, 'monitoring is for admins')
      await subscribe(client, { channel: 'server-status' })
      await subscribe(client, { channel: 'server-logs' })

      await api(app, admin, 'POST', `/api/servers/${theirs}/start`)
      await api(app, admin, 'POST', `/api/servers/${ours}/start`)
      await client.waitFor(isEvent('server-status', (data) => data.serverId === ours && data.to === 'running'))
      await untilPong(client)
      const serverIds = new Set(client.received.filter((message) => message.type === 'event' && message.channel !== 'user-activity').map((message) => (message.data as { serverId: string }).serverId))
      t.same([...serverIds], [ours], 'status and logs of its own server only')

      await api(app, admin, 'DELETE', `/api/groups/team/servers/${ours}`)
      // Within seconds the socket hears no more of the server: checked as each round trip goes.
      for (;;) {
        app.events.publish('server-status', { serverId: ours, name: 'ours', key: 'ours', from: 'running', to: 'running', pid: 1, reason: null, nextRetryAt: null, at: new Date().toISOString() })
        const before = await untilPong(client)
        if (before.length === 0) break
        await delay(50)
      }
      await api(app, admin, 'POST', `/api/servers/${ours}/stop`)
      t.same(await untilPong(client), [], 'the stop of a server it may no longer read is not sent')
      t.equal(client.socket.readyState, client.socket.OPEN, 'the socket stays open')
    })

    t.test(`${driver}: alerts go to admins, and to users for the servers they may read`, async (t) => {
      const admin = await signIn(app)
      const ours = await fixtureServer(t, app, admin, 'ours-alerted')
      const theirs = await fixtureServer(t, app, admin, 'theirs-alerted')
      const user = await createUser(app, admin)
      await api(app, admin, 'POST', '/api/groups', { name: 'alerted', permissions: { servers: ['read'], tools: [] } })
      await api(app, admin, 'POST', '/api/groups/alerted/members', { userId: user.userId, role: 'member' })
      await api(app, admin, 'POST', '/api/groups/alerted/servers', { serverId: ours, permissions: ['read'] })
      const url = await listen(app)
      const adminClient = await authedClient(t, url, { token: admin.token })
      const critical = await authedClient(t, url, { token: admin.token })
      const userClient = await authedClient(t, url, { token: user.token })
      await subscribe(adminClient, { channel: 'alerts' })
      await subscribe(critical, { channel: 'alerts', filters: { severity: 'critical' } })
      await subscribe(userClient, { channel: 'alerts' })

      const published = [alert(ours), alert(theirs, 'critical'), alert(null, 'info'), alert(ours, 'critical')].map((data) => app.events.publish('alerts', data))
      const seqsOf = async (client: Client, count: number) => {
        const seqs: number[] = []
        while (seqs.length < count) seqs.push((await client.waitFor(isEvent('alerts'))).seq as number)
        return seqs
      }
      t.same(await seqsOf(adminClient, 4), published.map((event) => event.seq), 'the admin: every alert')
      t.same(await seqsOf(critical, 2), [published[1]!.seq, published[3]!.seq], 'severity: critical and above')
      t.same(await seqsOf(userClient, 2), [published[0]!.seq, published[3]!.seq], 'the user: its server\'s alerts only')
      t.same(await untilPong(userClient), [], 'nothing else')
    })

    t.test(`${driver}: user-activity: admins see all (filtered by userId and action), users their own`, async (t) => {
      const admin = await signIn(app)
      const user = await createUser(app, admin)
      const other = await createUser(app, admin)
      const url = await listen(app)
      const adminClient = await authedClient(t, url, { token: admin.token })
      const filtered = await authedClient(t, url, { token: admin.token })
      const userClient = await authedClient(t, url, { token: user.token })
      await subscribe(adminClient, { channel: 'user-activity' })
      await subscribe(filtered, { channel: 'user-activity', filters: { userId: user.userId, action: 'auth.login' } })
      await subscribe(userClient, { channel: 'user-activity' })
      userClient.send({ type: 'subscribe', channel: 'user-activity', filters: { userId: other.userId } })
      t.match(await userClient.next(), { type: 'error', code: 'AUTHORIZATION_FAILED' }, 'a user may not ask for another user\'s activity')

      const byUser = app.events.publish('user-activity', activity({ action: 'auth.login', actor: { userId: user.userId, username: user.username } }))
      const byOther = app.events.publish('user-activity', activity({ action: 'auth.login', actor: { userId: other.userId, username: other.username } }))
      const onUser = app.events.publish('user-activity', activity({ action: 'user.update', actor: { userId: admin.userId, username: 'admin' }, target: { type: 'user', id: user.userId, name: user.username } }))
      const failed = app.events.publish('user-activity', activity({ action: 'auth.login', outcome: 'failure', actor: { userId: null, username: 'nobody' } }))
      const seqs = async (client: Client, count: number) => {
        const found: number[] = []
        while (found.length < count) found.push((await client.waitFor(isEvent('user-activity'))).seq as number)
        return found
      }
      t.same(await seqs(adminClient, 4), [byUser.seq, byOther.seq, onUser.seq, failed.seq], 'the admin: everything')
      t.same(await seqs(filtered, 1), [byUser.seq], 'filtered by userId and action')
      t.same(await seqs(userClient, 2), [byUser.seq, onUser.seq], 'the user: what it did and what was done to it')
      t.same(await untilPong(userClient), [], 'nothing else')
    })
  })
}

t.test('monitoring: admins get samples with the metrics they asked for, at their interval', async (t) => {
  const app = await build(t, 'pglite')
  const admin = await signIn(app)
  const client = await authedClient(t, await listen(app), { token: admin.token })
  // The reference's own example.
  await subscribe(client, { channel: 'monitoring', metrics: ['cpu', 'memory', 'requests'], filters: { interval: 2000 } })
  const first = await client.waitFor(isEvent('monitoring'))
  const metrics = (first.data as { metrics: Record<string, number> }).metrics
  t.same(Object.keys(metrics).sort(), ['cpu', 'memory', 'requests'], 'only the metrics asked for')
  t.ok(metrics.memory! > 0 && metrics.requests! >= 0, 'measured figures')
  const second = await client.waitFor(isEvent('monitoring'))
  const gap = Date.parse(second.timestamp as string) - Date.parse(first.timestamp as string)
  t.ok(gap >= 1800, `${gap} ms between samples`)

  await subscribe(client, { channel: 'monitoring' })
  const whole = await client.waitFor(isEvent('monitoring'))
  t.same(Object.keys((whole.data as { metrics: object }).metrics).sort(), ['cpu', 'eventLoopDelay', 'eventLoopUtilization', 'heapUsed', 'mcpSessions', 'memory', 'requests', 'uptime', 'wsConnections'], 'a second subscription without `metrics`: every metric, once')
  const next = await client.waitFor((message) => message.type === 'event')
  t.not(next.seq, whole.seq, 'each sample sent once')
})
