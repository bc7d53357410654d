import t from 'tap'
import type { Database } from '../db/client.ts'
import { hubConfig } from '../db/schema.ts'
import { HubError } from '../lib/errors.ts'
import { SecretBox } from '../lib/crypto.ts'
import { DEFAULT_SETTINGS, MASK, type Settings } from '../settings/schemas.ts'
import { SettingsStore } from '../settings/store.ts'
import { DRIVERS, testDatabase, type Driver } from './helper.ts'

// The settings store on its own: what it reads before and after an admin stores a section,
// secrets sealed at rest, versions that guard concurrent changes.

const PASS = 'canary-smtp-pass-7f3a9c'
const box = new SecretBox('store-test-hub-secret-0123456789abcdef')

/** One database per driver for the whole file (opening one costs seconds); each test starts with nothing stored. */
const databases = new Map<Driver, Promise<Database>>()

async function storeOn (driver: Driver, preset = {}) {
  if (!databases.has(driver)) {
    databases.set(driver, testDatabase(t, driver).then((handle) => {
      t.teardown(() => handle.close())
      return handle.db
    }))
  }
  const db = await databases.get(driver)!
  await db.delete(hubConfig)
  return { db, store: new SettingsStore({ db, secrets: box, preset, cacheMs: 0 }) }
}

const smtp = (changes: Partial<Settings['smtp']> = {}): Settings['smtp'] => ({ ...DEFAULT_SETTINGS.smtp, host: 'mail.example.com', auth: { user: 'hub', pass: PASS }, ...changes })

for (const driver of DRIVERS) {
  t.test(`${driver}: defaults, then the preset, until a section is stored`, async (t) => {
    const { store } = await storeOn(driver, { smtp: { host: 'preset.example.com', auth: { pass: 'preset-pass' } } })
    const first = await store.read()
    t.equal(first.version, 0, 'nothing stored: version 0')
    t.same(first.settings.alerts, DEFAULT_SETTINGS.alerts)
    t.same(first.settings.smtp, { ...DEFAULT_SETTINGS.smtp, host: 'preset.example.com', auth: { user: null, pass: 'preset-pass' } }, 'the preset on the defaults')

    const updated = await store.update({ smtp: smtp({ auth: { user: 'hub', pass: MASK } }) })
    t.equal(updated.version, 1)
    t.equal(updated.settings.smtp.auth.pass, 'preset-pass', 'the mask keeps the preset secret')
    t.same(updated.changed.sort(), ['smtp.auth.user', 'smtp.host'])
    t.same((await store.read()).settings.smtp, updated.settings.smtp, 'the stored section replaces the preset')
  })

  t.test(`${driver}: secrets sealed at rest, in clear when read`, async (t) => {
    const { db, store } = await storeOn(driver)
    await store.update({ smtp: smtp(), notifications: { ...DEFAULT_SETTINGS.notifications, webhook: 'https://hooks.example.com/in' } })
    const [row] = await db.select().from(hubConfig)
    t.notOk(JSON.stringify(row).includes(PASS), 'no clear secret in the row')
    const { settings } = await store.read()
    t.equal(settings.smtp.auth.pass, PASS)
    t.match(settings.notifications.webhookSecret, /^whsec_[A-Za-z0-9+/]{32}$/, 'a webhook secret generated')
    t.notOk(JSON.stringify(row).includes(settings.notifications.webhookSecret!), 'the generated one sealed too')
    t.same(Object.keys(row!.value).sort(), ['notifications', 'smtp'], 'only the sections stored')

    const again = await store.update({ smtp: smtp({ auth: { user: 'hub', pass: MASK }, port: 465, secure: true }) })
    t.equal(again.settings.smtp.auth.pass, PASS, 'the mask keeps the stored secret')
    t.same(again.changed.sort(), ['smtp.port', 'smtp.secure'], 'only what changed, the kept secret not among it')
    const changedPass = await store.update({ smtp: smtp({ auth: { user: 'hub', pass: 'another' } }) })
    t.same(changedPass.changed.sort(), ['smtp.auth.pass', 'smtp.port', 'smtp.secure'])
  })

  t.test(`${driver}: a stale version is refused, and of two concurrent updates one wins`, async (t) => {
    const { store } = await storeOn(driver)
    await store.update({ smtp: smtp() })
    await t.rejects(store.update({ smtp: smtp({ port: 25 }) }, { ifVersion: 0 }), { code: 'RESOURCE_CONFLICT' })
    const outcomes = await Promise.allSettled([25, 2525].map((port) => store.update({ smtp: smtp({ port }) }, { ifVersion: 1 })))
    t.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1, 'one wins')
    const refused = outcomes.find((outcome) => outcome.status === 'rejected')
    t.ok(refused?.reason instanceof HubError && refused.reason.code === 'RESOURCE_CONFLICT', 'the other: 409')
    t.equal((await store.read()).version, 2)
    const unguarded = await Promise.all([25, 2525].map((port) => store.update({ smtp: smtp({ port }) })))
    t.same(unguarded.map((result) => result.version).sort(), [3, 4], 'without a version both apply, one after the other')
  })

  t.test(`${driver}: rules across fields refuse the update and change nothing`, async (t) => {
    const { db, store } = await storeOn(driver)
    await store.update({ smtp: smtp() })
    const before = await db.select().from(hubConfig)
    const notifications = DEFAULT_SETTINGS.notifications
    const cases: Array<[Partial<Settings>, string]> = [
      [{ notifications: { ...notifications, email: true, emailTo: [] } }, 'notifications.emailTo'],
      [{ smtp: smtp({ host: null }), notifications: { ...notifications, email: true, emailTo: ['ops@example.com'] } }, 'smtp.host'],
      [{ notifications: { ...notifications, slack: true } }, 'notifications.slackWebhookUrl'],
      [{ notifications: { ...notifications, slackWebhookUrl: 'http://hooks.slack.com/x' } }, 'notifications.slackWebhookUrl'],
      [{ notifications: { ...notifications, webhook: 'https://' } }, 'notifications.webhook'],
      [{ notifications: { ...notifications, webhook: 'https://example.com', webhookSecret: 'not-a-standard-secret' } }, 'notifications.webhookSecret']
    ]
    for (const [sections, field] of cases) {
      await t.rejects(store.update(sections), { code: 'VALIDATION_ERROR', details: { field } }, field)
    }
    t.equal(before.length, 1)
    t.same(await db.select().from(hubConfig), before, 'the row unchanged')
  })

  t.test(`${driver}: a refused first update leaves no row`, async (t) => {
    const { db, store } = await storeOn(driver)
    await t.rejects(store.update({ notifications: { ...DEFAULT_SETTINGS.notifications, slack: true } }), { code: 'VALIDATION_ERROR' })
    t.same(await db.select().from(hubConfig), [])
  })

  t.test(`${driver}: reads are cached briefly; an update is seen at once here, within the cache time by another hub`, async (t) => {
    const { db } = await storeOn(driver)
    const clock = { now: 0 }
    const here = new SettingsStore({ db, secrets: box, cacheMs: 1000, now: () => clock.now })
    const elsewhere = new SettingsStore({ db, secrets: box, cacheMs: 1000, now: () => clock.now })
    t.equal((await here.read()).version, 0)
    t.equal((await elsewhere.read()).version, 0)
    await here.update({ smtp: smtp() })
    t.equal((await here.read()).version, 1, 'this store\'s own update drops its cached read')
    t.equal((await elsewhere.read()).version, 0, 'another hub reuses its read for a while')
    clock.now += 1000
    t.equal((await elsewhere.read()).version, 1, 'and reads again once it is older than cacheMs')
    const read = await here.read()
    read.settings.smtp.port = 1
    t.equal((await here.read()).settings.smtp.port, 587, 'what a caller does to its copy is not cached')
  })

  t.test(`${driver}: a secret sealed under another hub secret reads as unset`, async (t) => {
    const { db, store } = await storeOn(driver)
    await store.update({ smtp: smtp() })
    const warnings: object[] = []
    const other = new SettingsStore({ db, secrets: new SecretBox('another-hub-secret-0123456789abcdefgh'), log: { warn: (object) => warnings.push(object) } })
    t.equal((await other.read()).settings.smtp.auth.pass, null)
    t.same(warnings, [{ field: 'smtp.auth.pass' }])
  })
}
