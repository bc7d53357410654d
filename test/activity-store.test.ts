import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import t from 'tap'
import type { InjectOptions } from 'light-my-request'
import type { App } from '../app.ts'
import { openPglite, openPostgres, type DatabaseHandle } from '../db/client.ts'
import { activity } from '../db/schema.ts'
import { actionMatches, insertActivity, type ActivityEntry } from '../events/activity.ts'
import { parseEnv } from '../lib/config.ts'
import { build, captureLogs, DRIVERS, emptyPostgresDatabase, signIn, testConfig, type BuildOptions, type Driver, type SignedIn } from './helper.ts'
import { listActivity, syntheticEntries, trail } from './helpers/activity.ts'
import { startTcpProxy } from './tcp-proxy.ts'
import { until } from './helpers/wait.ts'

// How the activity trail is kept: paged and filtered, pruned after its retention, and not lost
// while the database is briefly away or when the hub shuts down.

type Tap = { teardown(fn: () => unknown): void }

/** The app with a clock the test moves, and its signed-in admin. */
async function hub (t: Tap, driver: Driver, options: BuildOptions = {}): Promise<{ app: App, admin: SignedIn, clock: { now: number }, send(who: SignedIn | null, options: InjectOptions): Promise<Awaited<ReturnType<App['inject']>>> }> {
  const clock = { now: Date.now() }
  const app = await build(t, driver, { now: () => clock.now, ...options })
  const admin = await signIn(app)
  const send = (who: SignedIn | null, request: InjectOptions) => app.inject({ ...request, headers: { ...request.headers, ...who?.headers } })
  return { app, admin, clock, send }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: pages newest first, filters, and 422 for bad queries`, async (t) => {
    const f = await hub(t, driver)
    const base = Date.parse('2026-01-01T00:00:00Z')
    const actors = [randomUUID(), randomUUID()]
    await insertActivity(f.app.db, syntheticEntries(30, base, actors))
    // The admin's own sign-in is today: every query below stops at February.
    const list = async (query: string) => await listActivity(f.app, f.admin, `?until=2026-02-01&${query}`)

    const first = await list('limit=10')
    t.same(first.body.data.pagination, { page: 1, limit: 10, total: 30, pages: 3, hasNext: true, hasPrev: false })
    const ats = first.body.data.items.map((entry: ActivityEntry) => entry.at)
    t.equal(ats[0], new Date(base + 29 * 60_000).toISOString(), 'the newest first')
    t.same(ats, [...ats].sort().reverse(), 'newest first throughout')
    const pages = [first, await list('limit=10&page=2'), await list('limit=10&page=3')]
    const ids = pages.flatMap((page) => page.body.data.items.map((entry: ActivityEntry) => entry.id))
    t.equal(new Set(ids).size, 30, 'three pages hold every entry once')
    t.same(pages[2]!.body.data.pagination, { page: 3, limit: 10, total: 30, pages: 3, hasNext: false, hasPrev: true })

    const count = async (query: string) => (await list(query)).body.data.pagination.total
    t.equal(await count('filter[action]=server.update'), 10, 'one action')
    t.equal(await count('filter[action]=group.'), 10, 'a prefix ending with a dot')
    t.equal(await count('filter[action]=group.member.'), 10, 'a longer prefix')
    t.equal(await count('filter[action]=group'), 0, 'without the dot: that exact action only')
    t.equal(await count(`filter[userId]=${actors[0]}`), 15, 'one actor')
    t.equal(await count(`filter[userId]=${actors[0]}&filter[action]=auth.`), 5, 'filters combine')
    const window = await listActivity(f.app, f.admin, `?since=${new Date(base + 10 * 60_000).toISOString()}&until=${new Date(base + 20 * 60_000).toISOString()}`)
    t.equal(window.body.data.pagination.total, 10, 'since inclusive, until exclusive')
    t.equal(await count('since=2026-01-01'), 30, 'a date means its midnight UTC')

    for (const [query, field] of [
      ['filter[action]=Server.Update', 'filter[action]'],
      ['filter[action]=%25', 'filter[action]'],
      ['filter[userId]=someone', 'filter[userId]'],
      ['since=yesterday', 'since'],
      ['until=2026-13-01', 'until'],
      ['limit=101', 'limit'],
      ['page=0', 'page'],
      ['sort=at', 'sort'],
      ['since=2026-01-02&until=2026-01-01', 'until']
    ] as const) {
      const res = await f.send(f.admin, { method: 'GET', url: `/api/monitoring/activity?${query}` })
      t.equal(res.statusCode, 422, `${query}: 422`)
      t.equal(res.json().error.code, 'VALIDATION_ERROR')
      t.equal(res.json().error.details?.field, field, `${query}: names ${field}`)
    }
    const anonymous = await f.send(null, { method: 'GET', url: '/api/monitoring/activity' })
    t.equal(anonymous.statusCode, 401, 'signed-in users only')
  })
}

for (const driver of DRIVERS) {
  t.test(`${driver}: entries older than the retention period are pruned`, async (t) => {
    const f = await hub(t, driver, { config: { activityRetentionDays: 30 } })
    const day = 24 * 60 * 60_000
    const [old, recent] = syntheticEntries(2, 0, [randomUUID(), randomUUID()])
    await insertActivity(f.app.db, [{ ...old!, at: new Date(f.clock.now - 31 * day).toISOString() }, { ...recent!, at: new Date(f.clock.now - 29 * day).toISOString() }])
    t.equal(await f.app.activity.prune(), 1, 'the entry of 31 days ago')
    const left = await f.app.db.select({ id: activity.id }).from(activity)
    t.ok(left.some((row) => row.id === recent!.id) && !left.some((row) => row.id === old!.id), 'the one of 29 days ago stays')
    f.clock.now += 2 * day
    t.equal(await f.app.activity.prune(), 1, 'two days later (the app\'s clock) it goes too')
  })
}

t.test('an action filter is the action itself, or a prefix ending in a dot (as the list and /ws use it)', async (t) => {
  t.ok(actionMatches('server.update', 'server.update'))
  t.notOk(actionMatches('server.update', 'server.update.more'))
  t.notOk(actionMatches('group', 'group.member.add'))
  t.ok(actionMatches('group.', 'group.member.add'))
  t.ok(actionMatches('group.member.', 'group.member.add'))
  t.notOk(actionMatches('group.server.', 'group.member.add'))
})

t.test('MCPHUB_ACTIVITY_RETENTION_DAYS: 90 days by default, at least one', async (t) => {
  t.equal(parseEnv({}).MCPHUB_ACTIVITY_RETENTION_DAYS, 90)
  t.equal(parseEnv({ MCPHUB_ACTIVITY_RETENTION_DAYS: '7' }).MCPHUB_ACTIVITY_RETENTION_DAYS, 7)
  t.throws(() => parseEnv({ MCPHUB_ACTIVITY_RETENTION_DAYS: '0' }), /MCPHUB_ACTIVITY_RETENTION_DAYS/)
})

for (const driver of DRIVERS) {
  t.test(`${driver}: entries recorded while the table is away are stored once it is back`, async (t) => {
    const hubLog = captureLogs()
    const app = await build(t, driver, { logStream: hubLog.stream, config: { logLevel: 'warn' } })
    const admin = await signIn(app)
    await app.activity.flush()
    await app.db.execute(sql`alter table activity rename to activity_away`)
    const published = trail(t, app)
    const changed = await app.inject({ method: 'PUT', url: `/api/users/${admin.userId}`, headers: admin.headers, payload: { profile: { department: 'Ops' } } })
    t.equal(changed.statusCode, 200, 'the action itself does not wait for the trail')
    const event = await published.next('the change', (entry) => entry.action === 'user.update')
    await app.activity.flush()
    t.ok(hubLog.lines.some((line) => line.includes('could not store activity entries')), 'the write failed')
    await app.db.execute(sql`alter table activity_away rename to activity`)
    const listed = await listActivity(app, admin, '?filter[action]=user.update')
    t.same(listed.body.data.items, [event], 'stored once the table is back')
    t.equal(app.activity.dropped, 0, 'nothing dropped')
  })
}

if (DRIVERS.includes('pg')) {
  t.test('pg: entries recorded while the database is unreachable are stored once it is back', async (t) => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 })
    t.teardown(() => proxy.close())
    const url = new URL(await emptyPostgresDatabase(t))
    url.port = String(proxy.port)
    const hubLog = captureLogs()
    const app = await build(t, 'pg', {
      database: openPostgres(url.toString(), { warn () {} }),
      logStream: hubLog.stream,
      config: { logLevel: 'warn' },
      // Something to record that needs no database: a fixture route.
      extend: (app) => {
        app.post('/fixture/audit', { config: { access: 'public', activity: { action: 'test.audit', manual: true } } }, async (request) => {
          app.activity.record(request, { action: 'test.audit', actor: null })
          return { recorded: true }
        })
      }
    })
    const admin = await signIn(app)
    await app.activity.flush()

    proxy.cut()
    for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'POST', url: '/fixture/audit' })).statusCode, 200)
    await until('a failed write', () => hubLog.lines.some((line) => line.includes('could not store activity entries')))
    proxy.restore()
    const stored = await until('the entries to be stored', async () => {
      const res = await listActivity(app, admin, '?filter[action]=test.audit')
      return res.status === 200 && res.body.data.pagination.total === 3 && res.body.data.items
    })
    t.equal(stored.length, 3, 'every entry')
    t.equal(app.activity.dropped, 0, 'nothing dropped')
  })
}

for (const driver of DRIVERS) {
  t.test(`${driver}: entries still waiting at shutdown are written before the database closes`, async (t) => {
    let reopen: () => Promise<DatabaseHandle>
    if (driver === 'pg') {
      const url = await emptyPostgresDatabase(t)
      reopen = async () => openPostgres(url, { warn () {} })
    } else {
      const dataDir = testConfig(t).dataDir
      reopen = async () => await openPglite(dataDir)
    }
    const app = await build(t, driver, { database: await reopen() })
    const admin = await signIn(app)
    const logout = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: admin.headers })
    t.equal(logout.statusCode, 204)
    await app.close()

    const database = await reopen()
    t.teardown(() => database.close())
    const rows = await database.db.select({ action: activity.action }).from(activity)
    t.same(rows.map((row) => row.action).sort(), ['auth.login', 'auth.logout'], 'the sign-in and the sign-out')
  })
}
