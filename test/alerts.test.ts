import t, { type Test } from 'tap'
import { sql } from 'drizzle-orm'
import { Client as McpClient, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import type { App } from '../app.ts'
import type { SettingsPreset } from '../lib/config.ts'
import { DEFAULT_TIMINGS } from '../alerts/engine.ts'
import { DEFAULT_SETTINGS } from '../settings/schemas.ts'
import { build, createUser, DRIVERS, postgresAdmin, signIn, type Driver, type SignedIn } from './helper.ts'
import { until } from './helpers/wait.ts'
import { startHttpReceiver, startSmtpReceiver } from './helpers/receivers.ts'
import { authedClient, listen, subscribe, type Message } from './helpers/ws.ts'

// The alert engine on the real app: real child processes that crash, real sign-ins, real tool
// calls through the gateway. Its clock is the real one plus `clock.offset`, so a test can let
// the repeat interval, a window or the time a server must run to count as recovered pass
// without waiting for it.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000, backoffBaseMs: 50, backoffMaxMs: 100, backoffJitter: 0, maxFailures: 5 }
const MINUTE = 60_000
const WEBHOOK_SECRET = `whsec_${Buffer.from('alerts-test-webhook-secret-0123').toString('base64')}`

interface Alert {
  id: string
  fingerprint: string
  rule: string
  severity: string
  state: 'firing' | 'resolved'
  serverId: string | null
  message: string
  firedAt: string
  resolvedAt: string | null
  notifiedAt: string | null
}

/** Tests evaluate when they need to (`untilAlerts`); only the database's probes need the timer to be quick. */
async function setUp (t: Test, driver: Driver, preset?: SettingsPreset, evaluateMs = DEFAULT_TIMINGS.evaluateMs) {
  const clock = { offset: 0 }
  const app = await build(t, driver, {
    supervisorPolicy: POLICY,
    ...(preset === undefined ? {} : { config: { egressAllow: ['127.0.0.1'], settingsPreset: preset }, notificationRetry: { baseMs: 20, maxMs: 100 } }),
    alertTimings: { evaluateMs, probeTimeoutMs: 2000, now: () => Date.now() + clock.offset }
  })
  const url = await listen(app)
  const admin = await signIn(app)
  return { app, url, admin, clock }
}

async function api (app: App, who: SignedIn, method: string, url: string, payload?: object) {
  const res = await app.inject({ method: method as 'POST', url, headers: who.headers, ...(payload === undefined ? {} : { payload }) })
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
  return res.statusCode === 204 ? undefined : res.json().data
}

async function alertsOf (app: App, who: SignedIn, query = ''): Promise<Alert[]> {
  return (await api(app, who, 'GET', `/api/monitoring/alerts?limit=100${query}`)).items as Alert[]
}

/** The alerts of one rule once `match` holds for them (evaluating meanwhile). */
async function untilAlerts (app: App, who: SignedIn, what: string, rule: string, match: (alerts: Alert[]) => boolean): Promise<Alert[]> {
  return await until(what, async () => {
    await app.alerts.evaluate()
    const found = (await alertsOf(app, who)).filter((alert) => alert.rule === rule)
    return match(found) ? found : undefined
  })
}

const alertEvent = (rule: string, state: string) => (message: Message) =>
  message.type === 'event' && message.channel === 'alerts' && (message.data as Alert).rule === rule && (message.data as Alert).state === state

async function crasher (app: App, admin: SignedIn, name: string, enabled: boolean) {
  return await api(app, admin, 'POST', '/api/servers', {
    name,
    command: process.execPath,
    args: [FIXTURE],
    env: { FIXTURE_MODE: 'crash-after-init', FIXTURE_CRASH_MS: '300' },
    enabled
  }) as { id: string, key: string }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: a crash loop raises one alert, repeated only after the interval, resolved when the server recovers`, async (t) => {
    const webhook = await startHttpReceiver(t)
    const slack = await startHttpReceiver(t)
    const smtp = await startSmtpReceiver(t, { disabledCommands: ['STARTTLS'] })
    const { app, url, admin, clock } = await setUp(t, driver, {
      smtp: { host: '127.0.0.1', port: smtp.port, secure: false, from: 'hub@example.com' },
      notifications: { email: true, emailTo: ['ops@example.com'], slack: true, slackWebhookUrl: `${slack.url}/services/T0/B0/alerts-test`, webhook: webhook.url, webhookSecret: WEBHOOK_SECRET }
    })
    await api(app, admin, 'PUT', '/api/config', { alerts: { ...DEFAULT_SETTINGS.alerts, serverError: { enabled: true, restarts: 3, withinMinutes: 10 } } })
    const socket = await authedClient(t, url, { token: admin.token })
    await subscribe(socket, { channel: 'alerts' })
    /** What the webhook received about one alert: `alert.firing`, `alert.resolved`… */
    const noticesOf = (id: string) => webhook.requests
      .map((request) => JSON.parse(request.body) as { type: string, data: { id: string } })
      .filter((notice) => notice.data.id === id)
      .map((notice) => notice.type)

    const server = await crasher(app, admin, 'crasher', true)
    const [alert] = await untilAlerts(app, admin, 'the crash-loop alert', 'serverError', (found) => found.length > 0)
    t.match(alert, { fingerprint: `serverError:${server.id}`, severity: 'critical', state: 'firing', serverId: server.id, resolvedAt: null, message: 'crasher is crash-looping: 3 restarts in 10 min' })
    t.match((await socket.waitFor(alertEvent('serverError', 'firing'))).data, { id: alert!.id, serverId: server.id, state: 'firing' }, 'pushed on /ws')
    await until('the supervisor gives up', () => app.supervisor.get(server.id)?.state === 'error')

    await app.alerts.evaluate()
    const firing = (await alertsOf(app, admin, '&state=firing')).filter((one) => one.rule === 'serverError')
    t.equal(firing.length, 1, 'one alert for the whole loop, listed with state=firing')
    t.equal(firing[0]!.notifiedAt, alert!.notifiedAt, 'not notified again yet')
    t.same((await alertsOf(app, admin, '&state=resolved')).filter((one) => one.rule === 'serverError'), [], 'nothing resolved yet')

    clock.offset += 59 * MINUTE
    await app.alerts.evaluate()
    t.equal((await alertsOf(app, admin)).find((one) => one.id === alert!.id)!.notifiedAt, alert!.notifiedAt, 'not repeated within the repeat interval (60 min)')
    await app.notifications.drain()
    t.same(noticesOf(alert!.id), ['alert.firing'], 'the webhook heard of it once')
    clock.offset += 2 * MINUTE
    await app.alerts.evaluate()
    const repeated = (await alertsOf(app, admin)).find((one) => one.id === alert!.id)!
    t.ok(Date.parse(repeated.notifiedAt!) - Date.parse(alert!.notifiedAt!) >= 60 * MINUTE, 'notified again once the interval has passed')
    t.equal(repeated.state, 'firing', 'still the same firing alert')

    // The fix: the server no longer crashes, and runs again.
    await api(app, admin, 'PUT', `/api/servers/${server.id}`, { env: {} })
    await api(app, admin, 'POST', `/api/servers/${server.id}/start`)
    await until('the server runs', () => app.supervisor.get(server.id)?.state === 'running')
    await app.alerts.evaluate()
    t.equal((await alertsOf(app, admin)).find((one) => one.id === alert!.id)!.state, 'firing', 'not resolved before it has run for a while')
    clock.offset += DEFAULT_TIMINGS.stableMs
    const [resolved] = await untilAlerts(app, admin, 'the alert resolved', 'serverError', (found) => found[0]?.state === 'resolved')
    t.match(resolved, { id: alert!.id, state: 'resolved', resolvedAt: String })
    t.match((await socket.waitFor(alertEvent('serverError', 'resolved'))).data, { id: alert!.id }, 'the resolution pushed on /ws')
    const stopped = (await alertsOf(app, admin)).filter((one) => one.rule === 'serverStopped')
    t.equal(stopped.length, 1, 'its unexpected exit: one alert as well')
    t.equal(stopped[0]!.state, 'resolved', 'resolved with it')

    await until('the resolved notice delivered', async () => {
      await app.notifications.drain()
      return noticesOf(alert!.id).length === 3
    })
    t.same(noticesOf(alert!.id), ['alert.firing', 'alert.firing', 'alert.resolved'], 'fired, repeated once, resolved')
    const aboutTheLoop = (text: string) => text.includes('crasher is crash-looping')
    await until('the email and Slack notices delivered', () => smtp.mails.filter((mail) => aboutTheLoop(mail.subject)).length >= 3 && slack.requests.filter((request) => aboutTheLoop(request.body)).length >= 3)
    const subjects = smtp.mails.filter((mail) => aboutTheLoop(mail.subject)).map((mail) => mail.subject)
    t.same(subjects, [
      'MCPHub: [CRITICAL] crasher is crash-looping: 3 restarts in 10 min',
      'MCPHub: [CRITICAL] crasher is crash-looping: 3 restarts in 10 min',
      'MCPHub: [RESOLVED] crasher is crash-looping: 3 restarts in 10 min'
    ], 'the same three notices by email')
    t.same(smtp.mails[0]!.to, ['ops@example.com'], 'to the configured address')
    const slackTexts = slack.requests.map((request) => (JSON.parse(request.body) as { text: string }).text).filter(aboutTheLoop)
    t.equal(slackTexts.length, 3, 'and the same three in Slack')
    t.match(slackTexts[2], /RESOLVED/)
    const detail = await api(app, admin, 'GET', `/api/monitoring/alerts/${alert!.id}`)
    t.match(detail, { id: alert!.id, state: 'resolved' })
    t.same(detail.deliveries.map((delivery: { channel: string, kind: string, status: string }) => [delivery.channel, delivery.kind, delivery.status]),
      ['firing', 'firing', 'resolved'].flatMap((kind) => ['email', 'slack', 'webhook'].map((channel) => [channel, kind, 'delivered'])), 'its deliveries: every channel, each notice once')
    t.match(detail.deliveries[0].attempts, [{ attempt: 1, outcome: 'delivered', error: null, durationMs: Number }], 'each with its attempts')
    t.notOk(JSON.stringify(detail).includes(WEBHOOK_SECRET), 'no secret in the answer')
  })

  t.test(`${driver}: a server stopped by an admin is recovered; a stop is not an unexpected exit`, async (t) => {
    const { app, admin } = await setUp(t, driver)
    const server = await crasher(app, admin, 'crasher', false)
    await api(app, admin, 'POST', `/api/servers/${server.id}/start`)
    const fired = await untilAlerts(app, admin, 'the error alert', 'serverError', (found) => found.length === 1)
    t.match(fired[0], { state: 'firing', message: 'crasher has failed and is not restarted (error)' })
    t.match((await alertsOf(app, admin)).find((one) => one.rule === 'serverStopped'), { state: 'firing', message: /crasher stopped unexpectedly \(exit code 1\)/ })

    await api(app, admin, 'POST', `/api/servers/${server.id}/stop`)
    await untilAlerts(app, admin, 'resolved by the stop', 'serverError', (found) => found[0]?.state === 'resolved')
    t.equal((await alertsOf(app, admin, '&state=firing')).length, 0, 'nothing fires')

    await api(app, admin, 'PUT', `/api/servers/${server.id}`, { env: {} })
    await api(app, admin, 'POST', `/api/servers/${server.id}/start`)
    await until('the server runs', () => app.supervisor.get(server.id)?.state === 'running')
    await api(app, admin, 'POST', `/api/servers/${server.id}/stop`)
    await until('the server stops', () => app.supervisor.get(server.id)?.state === 'stopped')
    await app.alerts.evaluate()
    t.equal((await alertsOf(app, admin, '&state=firing')).length, 0, 'an asked-for stop raises nothing')
  })

  t.test(`${driver}: a burst of failed sign-ins raises the hub-wide and the per-account alerts, which resolve`, async (t) => {
    const { app, url, admin, clock } = await setUp(t, driver)
    const socket = await authedClient(t, url, { token: admin.token })
    await subscribe(socket, { channel: 'alerts' })
    const victim = await createUser(app, admin)
    // 31 failures hub-wide (threshold 30), 11 of them on one account (threshold 10).
    for (let i = 0; i < 31; i++) {
      const username = i < 11 ? victim.username : `nobody-${i}`
      const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password: 'wrong-password' } })
      t.equal(res.statusCode, 401)
    }
    const fired = await untilAlerts(app, admin, 'two sign-in alerts', 'signInFailures', (found) => found.length === 2)
    const byFingerprint = new Map(fired.map((alert) => [alert.fingerprint, alert]))
    t.match(byFingerprint.get('signInFailures'), { state: 'firing', serverId: null, severity: 'warning', message: '31 failed sign-ins in the last minute (threshold 30)' })
    t.match(byFingerprint.get(`signInFailures:account:${victim.username.toLowerCase()}`), { state: 'firing', message: `11 failed sign-ins for ${victim.username.toLowerCase()} in the last minute (threshold 10)` })
    await socket.waitFor(alertEvent('signInFailures', 'firing'))
    await socket.waitFor(alertEvent('signInFailures', 'firing'))

    t.same((await api(app, victim, 'GET', '/api/monitoring/alerts')).items, [], 'hub-wide alerts are for admins only')
    const hubWide = byFingerprint.get('signInFailures')!
    const hidden = await app.inject({ method: 'GET', url: `/api/monitoring/alerts/${hubWide.id}`, headers: victim.headers })
    t.equal(hidden.statusCode, 404)
    t.equal(hidden.json().error.code, 'RESOURCE_NOT_FOUND')

    clock.offset += MINUTE + 1000
    const resolved = await untilAlerts(app, admin, 'both resolved', 'signInFailures', (found) => found.every((alert) => alert.state === 'resolved'))
    t.equal(resolved.length, 2, 'the same two, resolved')
    await socket.waitFor(alertEvent('signInFailures', 'resolved'))
  })

  t.test(`${driver}: a spent refresh token used again raises one alert`, async (t) => {
    const { app, admin, clock } = await setUp(t, driver)
    const user = await createUser(app, admin)
    const first = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: user.refreshToken } })
    t.equal(first.statusCode, 200)
    for (let i = 0; i < 2; i++) {
      const reused = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: user.refreshToken } })
      t.equal(reused.statusCode, 401)
    }
    const [alert] = await untilAlerts(app, admin, 'the reuse alert', 'refreshTokenReuse', (found) => found.length > 0)
    t.match(alert, { fingerprint: `refreshTokenReuse:${user.userId}`, severity: 'critical', state: 'firing', message: `A spent refresh token of ${user.username} was used again; its session was revoked` })
    t.equal((await alertsOf(app, admin)).filter((one) => one.rule === 'refreshTokenReuse').length, 1, 'one alert for both reuses')

    clock.offset += 11 * MINUTE
    await untilAlerts(app, admin, 'resolved after a quiet while', 'refreshTokenReuse', (found) => found[0]?.state === 'resolved')
  })

  t.test(`${driver}: tool calls that fail too often raise the error-rate alert`, async (t) => {
    const { app, url, admin, clock } = await setUp(t, driver)
    const server = await api(app, admin, 'POST', '/api/servers', { name: 'echo', command: process.execPath, args: [FIXTURE], enabled: false }) as { id: string }
    await api(app, admin, 'POST', `/api/servers/${server.id}/start`)
    const client = new McpClient({ name: 'alerts-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(url.replace('ws://', 'http://').replace(/\/ws$/, '/mcp')), { requestInit: { headers: admin.headers } }))
    t.teardown(() => client.close())
    for (let i = 0; i < 15; i++) await client.callTool({ name: 'echo__echo', arguments: { text: 'fine' } })
    for (let i = 0; i < 5; i++) await t.rejects(client.callTool({ name: 'echo__echo', arguments: {} }))

    const [alert] = await untilAlerts(app, admin, 'the error-rate alert', 'toolErrorRate', (found) => found.length > 0)
    t.match(alert, { fingerprint: `toolErrorRate:${server.id}`, serverId: server.id, state: 'firing', message: 'echo: 25.0% of tool calls failed over 5 minutes (5 of 20; threshold 20%)' })

    clock.offset += 5 * MINUTE + 1000
    await untilAlerts(app, admin, 'resolved once the calls are older than 5 minutes', 'toolErrorRate', (found) => found[0]?.state === 'resolved')
  })

  t.test(`${driver}: users see the alerts of the servers they may read; bad queries are 422`, async (t) => {
    const { app, admin } = await setUp(t, driver)
    const ours = await crasher(app, admin, 'ours', false)
    const theirs = await crasher(app, admin, 'theirs', false)
    const user = await createUser(app, admin)
    await api(app, admin, 'POST', '/api/groups', { name: 'team', permissions: { servers: ['read'], tools: [] } })
    await api(app, admin, 'POST', '/api/groups/team/members', { userId: user.userId, role: 'member' })
    await api(app, admin, 'POST', '/api/groups/team/servers', { serverId: ours.id, permissions: ['read'] })
    for (const server of [ours, theirs]) await api(app, admin, 'POST', `/api/servers/${server.id}/start`)
    await untilAlerts(app, admin, 'both servers in error', 'serverError', (found) => found.length === 2)

    const seen = await alertsOf(app, user)
    t.ok(seen.length > 0 && seen.every((alert) => alert.serverId === ours.id), 'the user: alerts about its server only')
    t.equal((await alertsOf(app, admin)).length, 4, 'the admin: all (an error and an exit per server)')
    t.equal((await alertsOf(app, admin, `&serverId=${theirs.id}&severity=critical`)).length, 1, 'filtered by server and severity')

    const theirAlert = (await alertsOf(app, admin, `&serverId=${theirs.id}`))[0]!
    const hidden = await app.inject({ method: 'GET', url: `/api/monitoring/alerts/${theirAlert.id}`, headers: user.headers })
    t.equal(hidden.statusCode, 404, 'another server\'s alert is not found')
    const own = await api(app, user, 'GET', `/api/monitoring/alerts/${seen[0]!.id}`)
    t.match(own, { id: seen[0]!.id, serverId: ours.id, deliveries: Array })

    const bad = await app.inject({ method: 'GET', url: '/api/monitoring/alerts?state=burning', headers: admin.headers })
    t.equal(bad.statusCode, 422)
    t.equal(bad.json().error.code, 'VALIDATION_ERROR')
    t.match(bad.json().error.message, /state/)
    const unknown = await app.inject({ method: 'GET', url: '/api/monitoring/alerts/5d0c3f0e-8a4b-4c47-9c1e-2a9c6f3b7d10', headers: admin.headers })
    t.equal(unknown.statusCode, 404)
  })
}

t.test('pg: an unreachable database is pushed and logged at once, and stored once it answers', { skip: !DRIVERS.includes('pg') && 'needs PostgreSQL' }, async (t) => {
  const { app, url, admin } = await setUp(t, 'pg', undefined, 100)
  const socket = await authedClient(t, url, { token: admin.token })
  await subscribe(socket, { channel: 'alerts' })
  const result = await app.db.execute(sql`select current_database() as name`) as unknown as { rows: Array<{ name: string }> }
  const name = result.rows[0]!.name
  const reopen = () => postgresAdmin(`alter database ${name} with allow_connections true`)
  t.teardown(reopen)
  await postgresAdmin(`alter database ${name} with allow_connections false`)
  await postgresAdmin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}'`)

  const firing = await socket.waitFor(alertEvent('databaseUnreachable', 'firing'))
  t.match(firing.data, { rule: 'databaseUnreachable', severity: 'critical', serverId: null, message: /The database does not answer \(2 probes failed in a row/ })

  await reopen()
  const resolved = await socket.waitFor(alertEvent('databaseUnreachable', 'resolved'))
  t.equal((resolved.data as Alert).id, (firing.data as Alert).id, 'the same alert resolves')
  const stored = await until('the alert stored', async () => (await alertsOf(app, admin)).find((alert) => alert.rule === 'databaseUnreachable'))
  t.match(stored, { id: (firing.data as Alert).id, state: 'resolved', resolvedAt: String })
  t.ok(Date.parse(stored.firedAt) <= Date.parse(stored.resolvedAt!), 'fired when it was pushed, resolved after')
})
