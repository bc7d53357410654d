import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { InjectOptions } from 'light-my-request'
import type { App } from '../app.ts'
import { hubConfig } from '../db/schema.ts'
import type { Config } from '../lib/config.ts'
import { DEFAULT_SETTINGS, MASK, type Settings } from '../settings/schemas.ts'
import { build, captureLogs, createUser, DRIVERS, rememberSecret, signIn, type Driver, type SignedIn } from './helper.ts'
import { listActivity, trail } from './helpers/activity.ts'
import { until } from './helpers/wait.ts'

// `/api/config`: admins read the hub's settings (secrets masked) and replace whole sections,
// guarded by ETag / If-Match; every change is one activity entry naming the fields, never values.

type Tap = { teardown(fn: () => unknown): void }

/** A value that must never leave the hub: not in an answer, an activity entry or a log line. */
function canary (name: string): string {
  const secret = `canary-${name}-${randomUUID()}`
  rememberSecret(secret)
  return secret
}

/** A Standard Webhooks secret that is a canary too. */
function canaryWebhookSecret (): string {
  const secret = `whsec_${Buffer.from(randomUUID().replaceAll('-', '')).toString('base64')}`
  rememberSecret(secret)
  return secret
}

interface Hub {
  app: App
  admin: SignedIn
  /** Every answer's body, to look for canaries in. */
  answers: string[]
  send(who: SignedIn | null, request: InjectOptions): Promise<Awaited<ReturnType<App['inject']>>>
  get(who?: SignedIn | null): Promise<Awaited<ReturnType<App['inject']>>>
  put(body: unknown, ifMatch?: string, who?: SignedIn | null): Promise<Awaited<ReturnType<App['inject']>>>
}

async function hub (t: Tap, driver: Driver, config: Partial<Config> = {}, logLines?: string[]): Promise<Hub> {
  return await wrap(await build(t, driver, {
    config: { ...config, ...(logLines === undefined ? {} : { logLevel: 'trace' as const }) },
    ...(logLines === undefined ? {} : { logStream: captureLogs(logLines).stream })
  }))
}

const sharedApps = new Map<Driver, Promise<App>>()

/**
 * A hub shared by the tests of one driver that need no hub of their own (building one costs
 * seconds), as new: nothing stored, so version 0, once its cached read has expired too.
 */
async function sharedHub (driver: Driver): Promise<Hub> {
  if (!sharedApps.has(driver)) sharedApps.set(driver, build(t, driver))
  const app = await sharedApps.get(driver)!
  await app.db.delete(hubConfig)
  await until('the emptied settings read', async () => (await app.settings.read()).version === 0)
  return await wrap(app)
}

async function wrap (app: App): Promise<Hub> {
  const admin = await signIn(app)
  const answers: string[] = []
  const send = async (who: SignedIn | null, request: InjectOptions) => {
    const res = await app.inject({ ...request, headers: { ...request.headers, ...who?.headers } })
    answers.push(JSON.stringify(res.headers) + res.body)
    return res
  }
  return {
    app,
    admin,
    answers,
    send,
    get: async (who = admin) => await send(who, { method: 'GET', url: '/api/config' }),
    put: async (body, ifMatch, who = admin) => await send(who, { method: 'PUT', url: '/api/config', payload: body as object, headers: ifMatch === undefined ? {} : { 'if-match': ifMatch } })
  }
}

const smtp = (changes: Partial<Settings['smtp']> = {}): Settings['smtp'] => ({
  host: 'smtp.example.com', port: 587, secure: false, auth: { user: 'mcphub', pass: null }, from: 'hub@example.com', ...changes
})
const notifications = (changes: Partial<Settings['notifications']> = {}): Settings['notifications'] => ({ ...DEFAULT_SETTINGS.notifications, ...changes })

function assertNoCanary (t: Tap & { notOk(value: unknown, message: string): void }, texts: string[], secrets: string[], where: string) {
  for (const secret of secrets) {
    t.notOk(texts.some((text) => text.includes(secret)), `no secret in ${where}`)
  }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: a new hub shows the defaults at version 0`, async (t) => {
    const f = await sharedHub(driver)
    const res = await f.get()
    t.equal(res.statusCode, 200)
    t.equal(res.headers.etag, '"0"')
    t.same(res.json().data, DEFAULT_SETTINGS)
    t.equal(res.json().success, true)
  })

  t.test(`${driver}: the environment's preset shows, secrets masked, until an admin stores the section`, async (t) => {
    const pass = canary('preset-smtp-pass')
    const slackUrl = `https://hooks.slack.example.com/${canary('preset-slack')}`
    const webhookSecret = canary('preset-webhook-secret')
    const f = await hub(t, driver, {
      settingsPreset: {
        smtp: { host: 'preset.example.com', port: 2525, auth: { user: 'preset-user', pass } },
        notifications: { email: true, emailTo: ['ops@example.com'], slack: true, slackWebhookUrl: slackUrl, webhook: 'https://hooks.example.com/in', webhookSecret }
      }
    })
    const shown = (await f.get()).json().data
    t.same(shown.smtp, { ...DEFAULT_SETTINGS.smtp, host: 'preset.example.com', port: 2525, auth: { user: 'preset-user', pass: MASK } })
    t.same(shown.notifications, { email: true, emailTo: ['ops@example.com'], slack: true, slackWebhookUrl: MASK, webhook: 'https://hooks.example.com/in', webhookSecret: MASK })
    t.same(shown.alerts, DEFAULT_SETTINGS.alerts, 'no preset for the rules')

    // Stored: the section is the admin's; the secret sent back masked is the preset's.
    const put = await f.put({ smtp: { ...shown.smtp, host: 'admin.example.com' } })
    t.equal(put.statusCode, 200)
    t.equal(put.json().data.smtp.host, 'admin.example.com')
    t.equal(put.json().data.smtp.auth.pass, MASK)
    t.equal((await f.app.settings.read()).settings.smtp.auth.pass, pass, 'the preset password kept')
    t.same((await f.get()).json().data.notifications, shown.notifications, 'the other section still the preset')

    const off = await f.put({ notifications: { ...shown.notifications, slack: false, slackWebhookUrl: null } })
    t.equal(off.statusCode, 200)
    const { settings } = await f.app.settings.read()
    t.same([settings.notifications.slack, settings.notifications.slackWebhookUrl, settings.notifications.webhookSecret], [false, null, webhookSecret], 'the stored section wins over the preset; the masked secret kept')
    assertNoCanary(t, f.answers, [pass, slackUrl, webhookSecret], 'any answer')
  })

  t.test(`${driver}: PUT replaces the sections sent, masks secrets, and the mask keeps them`, async (t) => {
    const f = await sharedHub(driver)
    const pass = canary('smtp-pass')
    const slackUrl = `https://hooks.slack.example.com/${canary('slack')}`
    const alerts = { ...DEFAULT_SETTINGS.alerts, repeatIntervalMinutes: 15, toolLatency: { enabled: false, p95Ms: 2500 } }
    const res = await f.put({
      smtp: smtp({ auth: { user: 'mcphub', pass } }),
      notifications: notifications({ email: true, emailTo: ['ops@example.com'], slack: true, slackWebhookUrl: slackUrl, webhook: 'https://hooks.example.com/in' }),
      alerts
    })
    t.equal(res.statusCode, 200)
    const data = res.json().data
    t.same(data.smtp, smtp({ auth: { user: 'mcphub', pass: MASK } }))
    t.same(data.notifications, { email: true, emailTo: ['ops@example.com'], slack: true, slackWebhookUrl: MASK, webhook: 'https://hooks.example.com/in', webhookSecret: MASK }, 'a webhook secret was generated, masked')
    t.same(data.alerts, alerts)
    t.same((await f.get()).json().data, data, 'GET shows what PUT answered')

    const { settings } = await f.app.settings.read()
    t.equal(settings.smtp.auth.pass, pass, 'in clear for the hub')
    t.equal(settings.notifications.slackWebhookUrl, slackUrl)
    t.match(settings.notifications.webhookSecret, /^whsec_[A-Za-z0-9+/]{32}$/)
    rememberSecret(settings.notifications.webhookSecret!)

    const [row] = await f.app.db.select().from(hubConfig)
    const raw = JSON.stringify(row)
    for (const secret of [pass, slackUrl, settings.notifications.webhookSecret!]) t.notOk(raw.includes(secret), 'stored sealed, never in clear')

    // The mask sent back keeps each secret; only the alerts section is replaced.
    const kept = await f.put({ smtp: { ...data.smtp, port: 465, secure: true }, notifications: data.notifications })
    t.equal(kept.statusCode, 200)
    const after = (await f.app.settings.read()).settings
    t.same([after.smtp.auth.pass, after.notifications.slackWebhookUrl, after.notifications.webhookSecret], [pass, slackUrl, settings.notifications.webhookSecret])
    t.same(after.alerts, alerts, 'a section not sent is left as it was')

    const cleared = await f.put({ smtp: smtp({ auth: { user: null, pass: null } }) })
    t.equal(cleared.json().data.smtp.auth.pass, null, 'a secret set to null reads null')
    t.equal((await f.app.settings.read()).settings.smtp.auth.pass, null)
    assertNoCanary(t, f.answers, [pass, slackUrl, settings.notifications.webhookSecret!], 'any answer')
  })

  t.test(`${driver}: ETag and If-Match guard concurrent edits`, async (t) => {
    const f = await sharedHub(driver)
    t.equal((await f.get()).headers.etag, '"0"')
    const first = await f.put({ smtp: smtp() }, '"0"')
    t.equal(first.statusCode, 200)
    t.equal(first.headers.etag, '"1"', 'the new version')
    t.equal((await f.get()).headers.etag, '"1"')

    const stale = await f.put({ smtp: smtp({ port: 25 }) }, '"0"')
    t.equal(stale.statusCode, 409)
    t.equal(stale.json().error.code, 'RESOURCE_CONFLICT')
    t.match(stale.json().error.message, /changed since version 0 was read \(now version 1\)/)
    t.equal((await f.get()).json().data.smtp.port, 587, 'nothing changed')

    t.equal((await f.put({ smtp: smtp({ port: 2525 }) }, 'W/"1"')).statusCode, 200, 'a weak ETag matches too')
    t.equal((await f.put({ smtp: smtp({ port: 2526 }) }, '*')).headers.etag, '"3"', '* matches any version')
    t.equal((await f.put({ smtp: smtp({ port: 2527 }) })).headers.etag, '"4"', 'no If-Match: applied')

    const both = await Promise.all([25, 26].map((port) => f.put({ smtp: smtp({ port }) }, '"4"')))
    t.same(both.map((res) => res.statusCode).sort(), [200, 409], 'two changes to one version: one wins, one 409')
    const winner = both.find((res) => res.statusCode === 200)!
    t.equal((await f.get()).json().data.smtp.port, winner.json().data.smtp.port, 'the winner\'s change stands')
    t.equal((await f.get()).headers.etag, '"5"')

    const bad = await f.put({ smtp: smtp() }, 'version-five')
    t.equal(bad.statusCode, 422)
    t.equal(bad.json().error.details.field, 'if-match')
  })

  t.test(`${driver}: each bad input is a 422 naming the field, and nothing changes`, async (t) => {
    const f = await sharedHub(driver)
    const pass = canary('bad-input-pass')
    t.equal((await f.put({ smtp: smtp({ auth: { user: 'mcphub', pass } }) })).statusCode, 200)
    const before = await f.get()
    const rowBefore = await f.app.db.select().from(hubConfig)
    const { from: _from, ...withoutFrom } = smtp()
    const cases: Array<[unknown, string]> = [
      [{}, 'body'],
      [{ colour: 'blue' }, 'colour'],
      [{ smtp: withoutFrom }, 'smtp.from'],
      [{ smtp: { ...smtp(), tls: true } }, 'smtp.tls'],
      [{ smtp: smtp({ port: 0 }) }, 'smtp.port'],
      [{ smtp: smtp({ port: '587' as never }) }, 'smtp.port'],
      [{ smtp: smtp({ from: 'not an address' }) }, 'smtp.from'],
      [{ smtp: smtp({ auth: { user: 'mcphub', pass: `${pass}\u0000` } }) }, 'smtp.auth.pass'],
      [{ notifications: notifications({ emailTo: ['nobody'] }) }, 'notifications.emailTo.0'],
      [{ notifications: notifications({ webhook: 'ftp://example.com' }) }, 'notifications.webhook'],
      [{ notifications: notifications({ email: true }) }, 'notifications.emailTo'],
      [{ smtp: smtp({ host: null }), notifications: notifications({ email: true, emailTo: ['ops@example.com'] }) }, 'smtp.host'],
      [{ notifications: notifications({ slack: true }) }, 'notifications.slackWebhookUrl'],
      [{ notifications: notifications({ slackWebhookUrl: `http://hooks.slack.example.com/${pass}` }) }, 'notifications.slackWebhookUrl'],
      [{ notifications: notifications({ webhook: 'https://example.com/in', webhookSecret: pass }) }, 'notifications.webhookSecret'],
      [{ alerts: { ...DEFAULT_SETTINGS.alerts, toolErrorRate: { enabled: true, percent: 101, minCalls: 20 } } }, 'alerts.toolErrorRate.percent'],
      [{ alerts: { ...DEFAULT_SETTINGS.alerts, repeatIntervalMinutes: 0 } }, 'alerts.repeatIntervalMinutes'],
      [{ alerts: { ...DEFAULT_SETTINGS.alerts, serverStopped: {} } }, 'alerts.serverStopped.enabled']
    ]
    for (const [body, field] of cases) {
      const res = await f.put(body)
      t.equal(res.statusCode, 422, `${field}: 422`)
      t.equal(res.json().error.code, 'VALIDATION_ERROR')
      t.equal(res.json().error.details?.field, field, `names ${field}`)
    }
    const after = await f.get()
    t.same(after.json().data, before.json().data, 'the settings unchanged')
    t.equal(after.headers.etag, before.headers.etag, 'the version unchanged')
    t.same(await f.app.db.select().from(hubConfig), rowBefore, 'the stored row untouched')
    assertNoCanary(t, f.answers, [pass], 'any error')
  })

  t.test(`${driver}: admins only`, async (t) => {
    const f = await sharedHub(driver)
    const user = await createUser(f.app, f.admin)
    t.equal((await f.get(user)).statusCode, 403)
    t.equal((await f.put({ smtp: smtp() }, undefined, user)).statusCode, 403)
    t.equal((await f.get(null)).statusCode, 401)
    const anonymous = await f.put({ smtp: smtp() }, undefined, null)
    t.equal(anonymous.statusCode, 401)
    t.equal(anonymous.json().error.code, 'AUTHENTICATION_FAILED')
    t.equal((await f.get()).headers.etag, '"0"', 'nothing changed')
  })

  t.test(`${driver}: each change is one activity entry naming the fields that changed, never a value; no secret logged`, async (t) => {
    const lines: string[] = []
    const f = await hub(t, driver, {}, lines)
    const events = trail(t, f.app)
    const pass = canary('activity-pass')
    const webhookSecret = canaryWebhookSecret()
    const res = await f.put({
      smtp: smtp({ auth: { user: 'mcphub', pass } }),
      notifications: notifications({ webhook: 'https://hooks.example.com/in', webhookSecret })
    })
    t.equal(res.statusCode, 200)
    const entry = await events.next('config.update', (event) => event.action === 'config.update' && event.outcome === 'success')
    t.same([...entry.fields!].sort(), ['notifications.webhook', 'notifications.webhookSecret', 'smtp.auth.pass', 'smtp.auth.user', 'smtp.from', 'smtp.host'])
    t.same(entry.actor, { userId: f.admin.userId, username: 'admin' })

    const again = await f.put({ smtp: { ...res.json().data.smtp, port: 2525 } })
    t.equal(again.statusCode, 200)
    const second = await events.next('the second config.update', (event) => event.action === 'config.update' && event.id !== entry.id)
    t.same(second.fields, ['smtp.port'], 'the kept secret is not a change')
    t.equal(events.events.filter((event) => event.action === 'config.update').length, 2, 'one entry per change')

    const stored = await listActivity(f.app, f.admin, '?filter[action]=config.update')
    t.equal(stored.body.data.pagination.total, 2, 'stored')
    const texts = [JSON.stringify(events.events), JSON.stringify(stored.body), ...f.answers, ...lines]
    assertNoCanary(t, texts, [pass, webhookSecret], 'an answer, an activity entry or a log line')
    t.ok(lines.some((line) => line.includes('settings updated') && line.includes('smtp.port')), 'the change is logged, by field name')
  })
}
