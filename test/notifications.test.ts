import { randomBytes, randomUUID } from 'node:crypto'
import { asc, eq, inArray } from 'drizzle-orm'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import type { App } from '../app.ts'
import { openPglite, openPostgres, type DatabaseHandle, type Queryable } from '../db/client.ts'
import { alerts, notificationAttempts, notifications, type AlertRow } from '../db/schema.ts'
import type { SettingsPreset } from '../lib/config.ts'
import { DEFAULT_RETRY, retryDelay } from '../notifications/outbox.ts'
import { DEFAULT_SETTINGS, MASK, type Settings } from '../settings/schemas.ts'
import { build, createUser, DRIVERS, embeddedDataDir, emptyPostgresDatabase, rememberSecret, signIn, type BuildOptions, type Driver } from './helper.ts'
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type ReceivedMail } from './helpers/receivers.ts'
import { until } from './helpers/wait.ts'

type Tap = { teardown(fn: () => unknown): void }

/** Canary secrets: none may appear in a response, an attempt's error or a log line. */
const SMTP_PASS = `smtp-canary-${randomBytes(6).toString('hex')}`
const SLACK_TOKEN = `slack-canary-${randomBytes(6).toString('hex')}`
const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`
for (const secret of [SMTP_PASS, SLACK_TOKEN, WEBHOOK_SECRET]) rememberSecret(secret)
const CANARIES = [SMTP_PASS, SLACK_TOKEN, WEBHOOK_SECRET]

const LOCAL = { egressAllow: ['127.0.0.1'] }
const FAST_RETRY = { baseMs: 20, maxMs: 200 }

function slackUrl (receiverUrl: string): string {
  return `${receiverUrl}/services/T000/B000/${SLACK_TOKEN}`
}

function withoutCanaries (t: Tap & { notOk: (value: unknown, message: string) => void }, text: string, where: string): void {
  for (const canary of CANARIES) t.notOk(text.includes(canary), `no secret in ${where}`)
}

let alertCounter = 0

/** An alert row as the alerts engine writes it (that engine is not part of these tests). */
async function insertAlert (db: Queryable, fields: Partial<typeof alerts.$inferInsert> = {}): Promise<AlertRow> {
  const [row] = await db.insert(alerts).values({
    fingerprint: `test:${++alertCounter}:${randomUUID()}`,
    rule: 'serverError',
    severity: 'critical',
    summary: `fixture restarted 5 times in 10 minutes (#${alertCounter})`,
    details: { restarts: 5, withinMinutes: 10 },
    ...fields
  }).returning()
  return row!
}

async function notificationsOf (app: App, alertIds: string[]) {
  return await app.db.select().from(notifications).where(inArray(notifications.alertId, alertIds)).orderBy(asc(notifications.channel))
}

async function attemptsOf (app: App, notificationId: string) {
  return await app.db.select().from(notificationAttempts).where(eq(notificationAttempts.notificationId, notificationId)).orderBy(asc(notificationAttempts.attempt))
}

async function hub (t: Tap, driver: Driver, preset: SettingsPreset, options: BuildOptions = {}): Promise<App> {
  return await build(t, driver, { notificationRetry: FAST_RETRY, ...options, config: { ...LOCAL, settingsPreset: preset, ...options.config } })
}

/** A hub with its receivers, shared by the tests of one driver that need no hub of their own (building one costs seconds). */
interface SharedHub {
  app: App
  smtp: { port: number, mails: ReceivedMail[] }
  slack: HttpReceiver
  webhook: HttpReceiver
}

const sharedHubs = new Map<Driver, Promise<SharedHub>>()

/**
 * The shared hub of `driver`, as new for the test: its receivers reset (answering `slack` and
 * `webhook`), the channels set to `channels` (Slack's URL, only settable by the preset since
 * it is http, kept by the mask) and SMTP to `smtp` (the shared receiver unless given), once
 * nothing is left pending from the test before.
 */
async function sharedHub (driver: Driver, channels: (hub: SharedHub) => Partial<Settings['notifications']>, options: { slack?: (n: number) => number | null, webhook?: (n: number) => number | null, smtp?: Settings['smtp'] } = {}): Promise<SharedHub> {
  if (!sharedHubs.has(driver)) {
    sharedHubs.set(driver, (async () => {
      const smtp = await startSmtpReceiver(t, { disabledCommands: ['STARTTLS'] })
      const slack = await startHttpReceiver(t)
      const webhook = await startHttpReceiver(t)
      const app = await hub(t, driver, { notifications: { slackWebhookUrl: slackUrl(slack.url) } }, { config: { publicUrl: 'https://hub.example.com' } })
      return { app, smtp, slack, webhook }
    })())
  }
  const shared = await sharedHubs.get(driver)!
  await until('nothing pending from the test before', async () => (await shared.app.db.select().from(notifications).where(eq(notifications.status, 'pending'))).length === 0)
  shared.smtp.mails.length = 0
  shared.slack.reset(options.slack)
  shared.webhook.reset(options.webhook)
  await shared.app.settings.update({
    smtp: options.smtp ?? { host: '127.0.0.1', port: shared.smtp.port, secure: false, auth: { user: null, pass: null }, from: 'hub@example.com' },
    notifications: { ...DEFAULT_SETTINGS.notifications, slackWebhookUrl: MASK, ...channels(shared) }
  }, {})
  return shared
}

for (const driver of DRIVERS) {
  t.test(`${driver}: an alert queued in its transaction is delivered once on every enabled channel`, async (t) => {
    const { app, smtp, slack, webhook } = await sharedHub(driver, ({ webhook }) => ({ email: true, emailTo: ['ops@example.com', 'oncall@example.com'], slack: true, webhook: `${webhook.url}/hooks/mcphub`, webhookSecret: WEBHOOK_SECRET }))

    const alert = await app.db.transaction(async (tx) => {
      const row = await insertAlert(tx)
      await app.notifications.enqueue(tx, row, 'firing')
      return row
    })
    await app.notifications.drain()
    await until('every channel to be delivered', async () => (await notificationsOf(app, [alert.id])).every((row) => row.status === 'delivered'))

    const queued = await notificationsOf(app, [alert.id])
    t.same(queued.map((row) => [row.channel, row.kind, row.status, row.attempts]), [['email', 'firing', 'delivered', 1], ['slack', 'firing', 'delivered', 1], ['webhook', 'firing', 'delivered', 1]])
    for (const row of queued) {
      const attempts = await attemptsOf(app, row.id)
      t.same(attempts.map((attempt) => [attempt.attempt, attempt.outcome, attempt.error]), [[1, 'delivered', null]], `${row.channel}: one attempt, delivered`)
      t.ok(attempts[0]!.durationMs >= 0)
    }

    t.equal(smtp.mails.length, 1, 'one email')
    const [mail] = smtp.mails
    t.equal(mail?.from, 'hub@example.com')
    t.same(mail?.to, ['ops@example.com', 'oncall@example.com'], 'to every recipient')
    t.equal(mail?.subject, `MCPHub: [CRITICAL] ${alert.summary}`)
    t.match(mail?.text, `An alert fired: ${alert.summary}`)
    t.match(mail?.text, 'Severity: critical')
    t.match(mail?.text, 'Open the hub: https://hub.example.com')

    t.equal(slack.requests.length, 1, 'one Slack message')
    t.equal(slack.requests[0]?.path, `/services/T000/B000/${SLACK_TOKEN}`)
    const message = JSON.parse(slack.requests[0]!.body) as { text: string, blocks: unknown[] }
    t.match(message.text, `[CRITICAL] ${alert.summary}`)
    t.match(JSON.stringify(message.blocks), '<https://hub.example.com|Open the hub>', 'links to the hub')

    t.equal(webhook.requests.length, 1, 'one webhook call')
    const call = webhook.requests[0]!
    t.equal(call.path, '/hooks/mcphub')
    t.equal(call.headers['webhook-id'], queued.find((row) => row.channel === 'webhook')?.id, 'webhook-id: the notification')
    const verified = new Webhook(WEBHOOK_SECRET).verify(call.body, call.headers as Record<string, string>) as { type: string, data: Record<string, unknown> }
    t.equal(verified.type, 'alert.firing', 'the signature verifies with a Standard Webhooks library')
    t.match(verified.data, { id: alert.id, fingerprint: alert.fingerprint, rule: 'serverError', severity: 'critical', state: 'firing', summary: alert.summary, details: { restarts: 5 }, server: null, url: 'https://hub.example.com' })
    t.throws(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(call.body, call.headers as Record<string, string>), 'another secret does not verify it')

    const resolved = (await app.db.update(alerts).set({ state: 'resolved', resolvedAt: new Date() }).where(eq(alerts.id, alert.id)).returning())[0]!
    await app.notifications.enqueue(app.db, resolved, 'resolved')
    await app.notifications.drain()
    await until('the resolved notices', () => webhook.requests.length === 2 && slack.requests.length === 2 && smtp.mails.length === 2)
    t.equal(smtp.mails[1]?.subject, `MCPHub: [RESOLVED] ${alert.summary}`)
    t.equal((JSON.parse(webhook.requests[1]!.body) as { type: string }).type, 'alert.resolved')
  })

  t.test(`${driver}: a delivery that fails three times then succeeds is attempted four times and delivered once`, async (t) => {
    const { app, webhook } = await sharedHub(driver, ({ webhook }) => ({ webhook: webhook.url, webhookSecret: WEBHOOK_SECRET }), { webhook: (n) => n <= 3 ? 500 : 200 })
    const alert = await insertAlert(app.db)
    await app.notifications.enqueue(app.db, alert, 'firing')

    const [row] = await until('the delivery', async () => {
      const rows = await notificationsOf(app, [alert.id])
      return rows[0]?.status === 'delivered' && rows
    })
    t.equal(row!.attempts, 4)
    t.equal(row!.lastError, null)
    t.ok(row!.deliveredAt)
    const attempts = await attemptsOf(app, row!.id)
    t.same(attempts.map((attempt) => [attempt.attempt, attempt.outcome]), [[1, 'failed'], [2, 'failed'], [3, 'failed'], [4, 'delivered']])
    t.same(attempts.slice(0, 3).map((attempt) => attempt.error), Array(3).fill(`webhook: 127.0.0.1:${webhook.port} answered HTTP 500`), 'the status, in plain words')
    t.equal(webhook.requests.length, 4, 'the receiver saw four calls')
    t.same(new Set(webhook.requests.map((request) => request.headers['webhook-id'])), new Set([row!.id]), 'one webhook-id on every retry')
    for (const request of webhook.requests) new Webhook(WEBHOOK_SECRET).verify(request.body, request.headers as Record<string, string>)
    await app.notifications.drain()
    t.equal(webhook.requests.length, 4, 'nothing more once delivered')
  })

  t.test(`${driver}: a delivery that keeps failing gives up after its attempts`, async (t) => {
    const { app, slack } = await sharedHub(driver, () => ({ slack: true }), { slack: () => 503 })
    const alert = await insertAlert(app.db)
    await app.notifications.enqueue(app.db, alert, 'firing')
    const [row] = await until('it to fail', async () => {
      const rows = await notificationsOf(app, [alert.id])
      return rows[0]?.status === 'failed' && rows
    })
    t.equal(row!.attempts, DEFAULT_RETRY.maxAttempts)
    t.equal(row!.lastError, `Slack: 127.0.0.1:${slack.port} answered HTTP 503`)
    t.equal((await attemptsOf(app, row!.id)).length, DEFAULT_RETRY.maxAttempts)
    t.equal(slack.requests.length, DEFAULT_RETRY.maxAttempts)
  })

  t.test(`${driver}: a restart with deliveries pending loses none`, async (t) => {
    const open = await reopenable(t, driver)
    let down = true
    const slack = await startHttpReceiver(t, () => down ? 503 : 200)
    const preset = { notifications: { slack: true, slackWebhookUrl: slackUrl(slack.url) } }
    const first = await hub(t, driver, preset, { database: await open(), notificationRetry: { baseMs: 500, maxMs: 500 } })
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const alert = await insertAlert(first.db)
      ids.push(alert.id)
      await first.notifications.enqueue(first.db, alert, 'firing')
    }
    await first.notifications.drain()
    const before = await notificationsOf(first, ids)
    t.same(before.map((row) => row.status), ['pending', 'pending', 'pending'], 'pending while Slack is down')
    t.ok(before.every((row) => row.attempts >= 1 && row.lastError === `Slack: 127.0.0.1:${slack.port} answered HTTP 503`))
    await first.close()

    down = false
    const second = await hub(t, driver, preset, { database: await open() })
    const after = await until('every delivery after the restart', async () => {
      const rows = await notificationsOf(second, ids)
      return rows.every((row) => row.status === 'delivered') && rows
    })
    t.equal(after.length, 3, 'none lost')
    const delivered = slack.requests.filter((_request, index) => index >= slack.requests.length - 3)
    t.same(new Set(delivered.map((request) => JSON.parse(request.body).text.match(/#\d+/)?.[0])).size, 3, 'each alert delivered once after the restart')
  })

  t.test(`${driver}: where a notification goes is read when it is sent`, async (t) => {
    let down = true
    const { app, webhook } = await sharedHub(driver, () => ({}), { webhook: () => down ? 500 : 200 })
    const notificationsOn = (fields: Partial<Settings['notifications']>) => app.settings.update({ notifications: { ...DEFAULT_SETTINGS.notifications, slackWebhookUrl: MASK, ...fields } }, {})
    await notificationsOn({ webhook: webhook.url, webhookSecret: WEBHOOK_SECRET })

    const first = await insertAlert(app.db)
    await app.notifications.enqueue(app.db, first, 'firing')
    await app.notifications.drain()
    const newSecret = `whsec_${randomBytes(32).toString('base64')}`
    rememberSecret(newSecret)
    await notificationsOn({ webhook: webhook.url, webhookSecret: newSecret })
    await app.notifications.drain() // a retry under way, signed before the change, still meets a receiver that is down
    down = false
    await until('the retry', async () => (await notificationsOf(app, [first.id]))[0]?.status === 'delivered')
    const last = webhook.requests.at(-1)!
    t.ok(new Webhook(newSecret).verify(last.body, last.headers as Record<string, string>), 'signed with the secret in effect when it was sent')

    down = true
    const second = await insertAlert(app.db)
    await app.notifications.enqueue(app.db, second, 'firing')
    await app.notifications.drain()
    await notificationsOn({ webhook: null, webhookSecret: null })
    const [row] = await until('it to fail', async () => {
      const rows = await notificationsOf(app, [second.id])
      return rows[0]?.status === 'failed' && rows
    })
    t.equal(row!.lastError, 'the webhook channel is turned off', 'a channel turned off meanwhile is not retried')

    const third = await insertAlert(app.db)
    await app.notifications.enqueue(app.db, third, 'firing')
    t.same(await notificationsOf(app, [third.id]), [], 'nothing is queued on a channel turned off')
  })

  t.test(`${driver}: closing waits a bounded time for an attempt, whose claim expires and is taken up again`, async (t) => {
    const open = await reopenable(t, driver)
    const webhook = await startHttpReceiver(t, (n) => n === 1 ? null : 200)
    const preset = { notifications: { webhook: webhook.url, webhookSecret: WEBHOOK_SECRET } }
    const first = await hub(t, driver, preset, { database: await open(), notificationRetry: { ...FAST_RETRY, leaseMs: 500, closeWaitMs: 200 } })
    const alert = await insertAlert(first.db)
    await first.notifications.enqueue(first.db, alert, 'firing')
    await until('the attempt to be under way', () => webhook.requests.length === 1)
    const closing = Date.now()
    await first.close()
    t.ok(Date.now() - closing < 10_000, 'closed without waiting for the receiver')

    const second = await hub(t, driver, preset, { database: await open() })
    const [row] = await until('the delivery by the next hub', async () => {
      const rows = await notificationsOf(second, [alert.id])
      return rows[0]?.status === 'delivered' && rows
    })
    t.equal(row!.attempts, 2, 'the abandoned attempt counts')
    t.same((await attemptsOf(second, row!.id)).map((attempt) => [attempt.attempt, attempt.outcome]), [[2, 'delivered']])
    t.equal(webhook.requests.length, 2)
    t.equal(webhook.requests[1]?.headers['webhook-id'], row!.id)
  })
}

/** Opens the same database again, as a restarted hub would. */
async function reopenable (t: Tap, driver: Driver): Promise<() => Promise<DatabaseHandle>> {
  if (driver === 'pg') {
    const url = await emptyPostgresDatabase(t)
    return async () => openPostgres(url, { warn () {} })
  }
  const dataDir = await embeddedDataDir(t)
  return () => openPglite(dataDir)
}

t.test('without the allow-list a loopback target is refused, in plain words', async (t) => {
  const slack = await startHttpReceiver(t)
  const app = await hub(t, 'pglite', { notifications: { slack: true, slackWebhookUrl: slackUrl(slack.url) } }, { config: { egressAllow: [] } })
  const alert = await insertAlert(app.db)
  await app.notifications.enqueue(app.db, alert, 'firing')
  await app.notifications.drain()
  const [row] = await notificationsOf(app, [alert.id])
  t.equal(row?.status, 'pending', 'retried later')
  t.equal(row?.lastError, 'Slack: 127.0.0.1 is refused: 127.0.0.1 is a loopback address; MCPHUB_EGRESS_ALLOW can admit it')

  const admin = await signIn(app)
  const res = await app.inject({ method: 'POST', url: '/api/config/notifications/test', headers: admin.headers, payload: {} })
  t.equal(res.statusCode, 200)
  t.same(res.json().data, [{ channel: 'slack', delivered: false, error: 'Slack: 127.0.0.1 is refused: 127.0.0.1 is a loopback address; MCPHUB_EGRESS_ALLOW can admit it' }])
  t.equal(slack.requests.length, 0, 'nothing reached the receiver')
  withoutCanaries(t, res.body, 'the response')
})

t.test('POST /api/config/notifications/test', async (t) => {
  const { app, smtp, slack, webhook } = await sharedHub('pglite', ({ webhook }) => ({ email: true, emailTo: ['ops@example.com'], slack: true, webhook: webhook.url, webhookSecret: WEBHOOK_SECRET }), { slack: () => 404 })
  const admin = await signIn(app)
  const test = async (payload?: object, headers: Record<string, string> = admin.headers) => {
    const res = await app.inject({ method: 'POST', url: '/api/config/notifications/test', headers, ...(payload === undefined ? {} : { payload }) })
    withoutCanaries(t, res.body, 'the response')
    return res
  }

  t.test('answers per enabled channel, sent at once and not queued', async (t) => {
    const queued = (await app.db.select().from(notifications)).length
    const res = await test()
    t.equal(res.statusCode, 200)
    t.same(res.json().data, [
      { channel: 'email', delivered: true, error: null },
      { channel: 'slack', delivered: false, error: `Slack: 127.0.0.1:${slack.port} answered HTTP 404` },
      { channel: 'webhook', delivered: true, error: null }
    ])
    t.equal(smtp.mails.at(-1)?.subject, 'MCPHub: test notification')
    t.same(smtp.mails.at(-1)?.to, ['ops@example.com'])
    const verified = new Webhook(WEBHOOK_SECRET).verify(webhook.requests.at(-1)!.body, webhook.requests.at(-1)!.headers as Record<string, string>) as { type: string }
    t.equal(verified.type, 'test')
    t.equal((await app.db.select().from(notifications)).length, queued, 'nothing in the outbox')
  })

  t.test('one named channel', async (t) => {
    const before = smtp.mails.length
    const res = await test({ channel: 'webhook' })
    t.same(res.json().data, [{ channel: 'webhook', delivered: true, error: null }])
    t.equal(smtp.mails.length, before, 'no email')
  })

  t.test('refuses what it cannot do', async (t) => {
    const unknown = await test({ channel: 'pager' })
    t.equal(unknown.statusCode, 422)
    t.equal(unknown.json().error.details.field, 'channel')
    t.equal((await test({ channel: 'email', cc: 'x' })).statusCode, 422)
    const user = await createUser(app, admin)
    t.equal((await test({}, user.headers)).statusCode, 403, 'admins only')
    t.equal((await test({}, {})).statusCode, 401)
  })
})

t.test('with no channel enabled the test is refused with a clear message', async (t) => {
  const { app } = await sharedHub('pglite', () => ({}))
  const admin = await signIn(app)
  const res = await app.inject({ method: 'POST', url: '/api/config/notifications/test', headers: admin.headers })
  t.equal(res.statusCode, 422)
  t.match(res.json().error.message, /no channel is enabled/)
  const named = await app.inject({ method: 'POST', url: '/api/config/notifications/test', headers: admin.headers, payload: { channel: 'slack' } })
  t.equal(named.statusCode, 422)
  t.match(named.json().error, { message: 'Invalid channel: the slack channel is not enabled', details: { field: 'channel' } })
})

t.test('email failures are told in plain words, without the password', async (t) => {
  const EMAIL_ONLY = { email: true, emailTo: ['ops@example.com'] }
  t.test('a self-signed certificate on STARTTLS', async (t) => {
    const smtp = await startSmtpReceiver(t)
    const { app } = await sharedHub('pglite', () => EMAIL_ONLY, { smtp: { host: '127.0.0.1', port: smtp.port, secure: false, from: 'hub@example.com', auth: { user: 'hub', pass: SMTP_PASS } } })
    const res = await app.inject({ method: 'POST', url: '/api/config/notifications/test', headers: (await signIn(app)).headers })
    const [result] = res.json().data as Array<{ delivered: boolean, error: string }>
    t.equal(result?.delivered, false)
    t.match(result?.error, /^email: TLS with 127\.0\.0\.1 failed: .*certificate/)
    withoutCanaries(t, res.body, 'the response')
    t.equal(smtp.mails.length, 0)
  })

  t.test('TLS from the first byte against a self-signed certificate', async (t) => {
    const smtp = await startSmtpReceiver(t, { secure: true })
    const { app } = await sharedHub('pglite', () => EMAIL_ONLY, { smtp: { host: '127.0.0.1', port: smtp.port, secure: true, from: 'hub@example.com', auth: { user: null, pass: null } } })
    const res = await app.inject({ method: 'POST', url: '/api/config/notifications/test', headers: (await signIn(app)).headers })
    t.match(res.json().data[0].error, /^email: TLS with 127\.0\.0\.1 failed: .*certificate/)
  })

  t.test('authentication refused', async (t) => {
    const smtp = await startSmtpReceiver(t, {
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authOptional: false,
      onAuth: (_auth, _session, callback) => callback(new Error('Invalid username or password'))
    })
    const { app } = await sharedHub('pglite', () => EMAIL_ONLY, { smtp: { host: '127.0.0.1', port: smtp.port, secure: false, from: 'hub@example.com', auth: { user: 'hub', pass: SMTP_PASS } } })
    const alert = await insertAlert(app.db)
    await app.notifications.enqueue(app.db, alert, 'firing')
    await app.notifications.drain()
    const [row] = await notificationsOf(app, [alert.id])
    t.match(row?.lastError, /^email: authentication with 127\.0\.0\.1 failed: the server said "535 Invalid username or password"$/)
    const attempts = await attemptsOf(app, row!.id)
    withoutCanaries(t, JSON.stringify(attempts), 'the attempts')
  })
})

if (DRIVERS.includes('pg')) {
  t.test('pg: two hubs on one database deliver each notification once', async (t) => {
    const url = await emptyPostgresDatabase(t)
    const webhook = await startHttpReceiver(t)
    const preset = { notifications: { webhook: webhook.url, webhookSecret: WEBHOOK_SECRET } }
    const [one, two] = await Promise.all([0, 1].map(async () => await hub(t, 'pg', preset, { database: openPostgres(url, { warn () {} }) })))
    const ids: string[] = []
    for (let i = 0; i < 20; i++) {
      const alert = await insertAlert(one!.db)
      ids.push(alert.id)
      await (i % 2 === 0 ? one! : two!).notifications.enqueue(one!.db, alert, 'firing')
    }
    await Promise.all([one!.notifications.drain(), two!.notifications.drain()])
    const rows = await until('every delivery', async () => {
      const found = await notificationsOf(one!, ids)
      return found.every((row) => row.status === 'delivered') && found
    })
    t.equal(rows.length, 20)
    t.ok(rows.every((row) => row.attempts === 1), 'each attempted once')
    t.equal(webhook.requests.length, 20, 'twenty calls')
    t.equal(new Set(webhook.requests.map((request) => request.headers['webhook-id'])).size, 20, 'each notification once')
  })
}

t.test('retries wait longer each time, with jitter, up to the cap', async (t) => {
  const policy = { ...DEFAULT_RETRY, baseMs: 1000, maxMs: 10_000 }
  t.same([1, 2, 3, 4, 5, 6].map((attempts) => retryDelay(policy, attempts, () => 0.5)), [1000, 2000, 4000, 8000, 10_000, 10_000], 'doubling, capped')
  t.equal(retryDelay(policy, 1, () => 0), 800, '20% earlier at most')
  t.equal(retryDelay(policy, 1, () => 1), 1200, '20% later at most')
})

t.test('a notification past its age is not retried', async (t) => {
  const { app, slack } = await sharedHub('pglite', () => ({ slack: true }), { slack: () => 500 })
  const alert = await app.db.transaction(async (tx) => {
    const row = await insertAlert(tx)
    await app.notifications.enqueue(tx, row, 'firing')
    await tx.update(notifications).set({ createdAt: new Date(Date.now() - DEFAULT_RETRY.maxAgeMs) }).where(eq(notifications.alertId, row.id))
    return row
  })
  await app.notifications.drain()
  const [row] = await notificationsOf(app, [alert.id])
  t.equal(row?.status, 'failed')
  t.equal(row?.attempts, 1)
  t.equal(slack.requests.length, 1)
})
