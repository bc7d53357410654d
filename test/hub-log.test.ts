import { desc, eq, sql } from 'drizzle-orm'
import t from 'tap'
import type { App } from '../app.ts'
import { hubLogs } from '../db/schema.ts'
import type { Config } from '../lib/config.ts'
import type { HubLogEntry } from '../logs/store.ts'
import { pruneHubLogs } from '../logs/store.ts'
import { build, captureLogs, createUser, DRIVERS, signIn, testDatabase, type BuildOptions, type Driver, type SignedIn } from './helper.ts'
import { until } from './helpers/wait.ts'

// The hub's own log: what pino writes (redacted) is also stored, by source, and listed to admins
// newest first with a cursor; access lines are not stored; old entries and floods are pruned.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const DAY_MS = 24 * 60 * 60_000
type Tap = { teardown(fn: () => unknown): void }

interface Hub {
  app: App
  admin: SignedIn
  lines: string[]
  clock: { offset: number }
  /** GET /api/monitoring/logs with `query`, as the admin unless told. */
  list(query?: string, who?: SignedIn): Promise<{ status: number, body: any }>
}

async function hub (t: Tap, driver: Driver, config: Partial<Config> = {}, options: BuildOptions = {}): Promise<Hub> {
  const logs = captureLogs()
  const clock = { offset: 0 }
  const app = await build(t, driver, { config: { logLevel: 'info', ...config }, logStream: logs.stream, now: () => Date.now() + clock.offset, ...options })
  const admin = await signIn(app)
  const list = async (query = '', who = admin) => {
    const res = await app.inject({ method: 'GET', url: `/api/monitoring/logs${query}`, headers: who.headers })
    return { status: res.statusCode, body: res.json() }
  }
  return { app, admin, lines: logs.lines, clock, list }
}

/** Every stored entry the admin may list with `query` (all pages). */
async function everything (f: Hub, query = ''): Promise<HubLogEntry[]> {
  const entries: HubLogEntry[] = []
  let cursor: string | null = null
  do {
    const { status, body } = await f.list(`?limit=1000${query}${cursor === null ? '' : `&cursor=${cursor}`}`)
    if (status !== 200) throw new Error(`listing failed: ${status} ${JSON.stringify(body)}`)
    entries.push(...body.data.items)
    cursor = body.data.pagination.nextCursor
  } while (cursor !== null)
  return entries
}

for (const driver of DRIVERS) {
  t.test(`${driver}: real actions are stored with their source, access lines are not`, async (t) => {
    const f = await hub(t, driver, { logStoreLevel: 'debug' })
    const failed = await f.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'nobody-here', password: 'a-wrong-password' } })
    t.equal(failed.statusCode, 401)
    const missing = await f.app.inject({ method: 'GET', url: '/api/servers/00000000-0000-4000-8000-000000000000', headers: f.admin.headers })
    t.equal(missing.statusCode, 404)
    const created = await f.app.inject({ method: 'POST', url: '/api/servers', headers: f.admin.headers, payload: { name: 'hub-log-fixture', command: process.execPath, args: [FIXTURE], enabled: false } })
    const serverId = created.json().data.id as string
    t.teardown(() => f.app.supervisor.get(serverId)?.stop({ graceful: false }))
    const started = await f.app.inject({ method: 'POST', url: `/api/servers/${serverId}/start`, headers: f.admin.headers })
    t.equal(started.json().data.status, 'running')

    const entries = await everything(f)
    const find = (message: string | RegExp, fields: Record<string, unknown> = {}) => entries.find((entry) => (typeof message === 'string' ? entry.message === message : message.test(entry.message)) && Object.entries(fields).every(([key, value]) => entry.fields?.[key] === value))

    t.match(find('sign-in failed', { username: 'nobody-here' }), { source: 'auth', level: 'info', fields: { reqId: String } }, 'a failed sign-in: auth')
    t.match(find(/^request refused/, { code: 'RESOURCE_NOT_FOUND' }), { source: 'http', level: 'info', fields: { reqId: String } }, 'a refused request: http')
    t.match(find('server state', { serverId, state: 'running' }), { source: 'supervisor', level: 'debug' }, 'a server starting: supervisor')
    t.match(find(/^database (schema up to date|migrations applied)/), { source: 'database', fields: { total: Number } }, 'logged before the database was open, stored once it was')
    t.match(find('first admin created'), { source: 'hub' }, 'the rest: hub')

    t.notOk(entries.some((entry) => entry.message === 'incoming request' || entry.message === 'request completed'), 'no access line is stored')
    t.ok(f.lines.some((line) => line.includes('"msg":"request completed"')), 'while stdout has them')
    for (const entry of entries) {
      for (const key of ['pid', 'hostname', 'time', 'level', 'msg', 'source']) t.notOk(entry.fields !== null && key in entry.fields, `fields hold no ${key}`)
    }
    t.same(entries.map((entry) => entry.time), entries.map((entry) => entry.time).sort().reverse(), 'newest first')
  })

  t.test(`${driver}: pages with a cursor, filters by level, source, since and until`, async (t) => {
    const f = await hub(t, driver)
    const paging = f.app.log.child({ source: 'ws' })
    for (let n = 1; n <= 25; n++) paging.warn({ n }, `paged entry ${n}`)
    paging.info('an info entry of the same source')

    const first = await f.list('?source=ws&level=warn&limit=10')
    t.equal(first.status, 200)
    t.same(first.body.data.items.map((entry: HubLogEntry) => entry.fields?.n), [25, 24, 23, 22, 21, 20, 19, 18, 17, 16], 'the newest ten first')
    t.match(first.body.data.pagination, { limit: 10, hasNext: true, nextCursor: String })
    const second = await f.list(`?source=ws&level=warn&limit=10&cursor=${first.body.data.pagination.nextCursor}`)
    t.same(second.body.data.items.map((entry: HubLogEntry) => entry.fields?.n), [15, 14, 13, 12, 11, 10, 9, 8, 7, 6])
    const third = await f.list(`?source=ws&level=warn&limit=10&cursor=${second.body.data.pagination.nextCursor}`)
    t.same(third.body.data.items.map((entry: HubLogEntry) => entry.fields?.n), [5, 4, 3, 2, 1], 'the last page')
    t.same(third.body.data.pagination, { limit: 10, hasNext: false, nextCursor: null })

    const ws = await everything(f, '&source=ws')
    t.equal(ws.length, 26, 'without level: every level')
    t.ok(ws.every((entry) => entry.source === 'ws'))
    t.equal((await everything(f, '&level=warn&source=ws')).length, 25, 'level: that level and above')
    t.equal((await everything(f, '&level=error&source=ws')).length, 0)
    t.ok((await everything(f)).some((entry) => entry.source === 'auth'), 'without source: every source')

    const times = ws.filter((entry) => entry.level === 'warn').map((entry) => entry.time)
    const middle = times[12]!
    const since = await everything(f, `&source=ws&level=warn&since=${middle}`)
    t.same(since.map((entry) => entry.time), times.filter((time) => time >= middle), 'since: at or after')
    const before = await everything(f, `&source=ws&level=warn&until=${middle}`)
    t.same(before.map((entry) => entry.time), times.filter((time) => time < middle), 'until: before')
    t.equal((await everything(f, '&source=ws&until=2000-01-01')).length, 0, 'a date means its midnight')
  })

  t.test(`${driver}: source=server:<key> lists that server's captured lines`, async (t) => {
    const f = await hub(t, driver)
    const created = await f.app.inject({ method: 'POST', url: '/api/servers', headers: f.admin.headers, payload: { name: 'Lines Of Mine', command: process.execPath, args: [FIXTURE], enabled: false } })
    const { id, key } = created.json().data as { id: string, key: string }
    t.teardown(() => f.app.supervisor.get(id)?.stop({ graceful: false }))
    await f.app.inject({ method: 'POST', url: `/api/servers/${id}/start`, headers: f.admin.headers })
    const client = f.app.supervisor.get(id)!.client!
    await client.callTool({ name: 'log', arguments: { level: 'notice', message: 'a notice of the server' } })
    await client.callTool({ name: 'log', arguments: { level: 'critical', message: 'a critical line' } })
    await client.callTool({ name: 'log', arguments: { level: 'debug', message: 'a debug line' } })

    const lines = await until('the server\'s lines are stored', async () => {
      const found = await everything(f, `&source=server:${key}`)
      return found.some((entry) => entry.message === 'a debug line') && found
    })
    t.match(lines.find((entry) => entry.message === 'a notice of the server'), { source: `server:${key}`, level: 'info', fields: { serverId: id, level: 'notice', source: 'mcp' } })
    t.same((await everything(f, `&source=server:${key}&level=warn`)).map((entry) => entry.message), ['a critical line'], 'levels are mapped: critical is fatal')
    t.same((await everything(f, `&source=server:${key}&level=fatal`)).map((entry) => entry.fields?.level), ['critical'])
    const page = await f.list(`?source=server:${key}&limit=1`)
    const next = await f.list(`?source=server:${key}&limit=1&cursor=${page.body.data.pagination.nextCursor}`)
    t.equal(next.body.data.items[0].message, lines[1]!.message, 'paged with the cursor too')
    t.notOk((await everything(f)).some((entry) => entry.message === 'a notice of the server'), 'without source: the hub\'s entries only')

    const unknown = await f.list('?source=server:no-such-server')
    t.equal(unknown.status, 404)
    t.equal(unknown.body.error.code, 'RESOURCE_NOT_FOUND')
  })

  t.test(`${driver}: prunes past the retention period and down to the cap, by the app's clock`, async (t) => {
    const f = await hub(t, driver, { logRetentionDays: 14 })
    for (let n = 1; n <= 5; n++) f.app.log.warn({ n }, 'an entry to prune')
    await f.app.hubLog.flush()
    const stored = async () => await f.app.db.$count(hubLogs)
    const before = await stored()
    t.ok(before >= 5)

    // (The admin's session expires with these days: the rows are read from the table.)
    f.clock.offset = 13 * DAY_MS
    t.equal(await f.app.hubLog.prune(), 0, 'nothing is 14 days old yet')
    await pruneHubLogs(f.app.db, { before: new Date(0), keep: 3 }, 2)
    t.equal(await stored(), 3, 'the cap keeps the newest, deleted a slice at a time')
    const kept = await f.app.db.select({ fields: hubLogs.fields }).from(hubLogs).orderBy(desc(hubLogs.id))
    t.same(kept.map((row) => row.fields?.n), [5, 4, 3])

    f.clock.offset = 15 * DAY_MS
    t.equal(await f.app.hubLog.prune(), 3, 'older than 14 days: gone')
    t.equal(await stored(), 0)
  })

  t.test(`${driver}: what is logged while the hub closes is stored`, async (t) => {
    const database = await testDatabase(t, driver)
    t.teardown(() => database.close())
    const app = await build(t, driver, {
      database: { ...database, close: async () => {} },
      config: { logLevel: 'info' },
      logStream: captureLogs().stream,
      // Registered after the hub log: its onClose runs before the log's last flush.
      extend: (app) => { app.addHook('onClose', async () => { app.log.warn('said while closing') }) }
    })
    await app.close()
    t.equal(await database.db.$count(hubLogs, eq(hubLogs.message, 'said while closing')), 1)
  })
}

t.test('refusals by the rate limiter are not stored, other refusals are', async (t) => {
  const f = await hub(t, 'pglite', { rateLimits: { anonymous: 3, user: 0, admin: 0, mcp: 0 } })
  const statuses = []
  for (let i = 0; i < 6; i++) statuses.push((await f.app.inject({ method: 'GET', url: '/api/auth/verify', remoteAddress: '10.1.2.3' })).statusCode)
  t.same(statuses, [401, 401, 401, 429, 429, 429])
  t.equal(f.lines.filter((line) => line.includes('RATE_LIMIT_EXCEEDED')).length, 3, 'stdout has the three 429s')
  const refused = (await everything(f)).filter((entry) => entry.message === 'request refused')
  t.same(refused.map((entry) => entry.fields?.code), ['AUTHENTICATION_FAILED', 'AUTHENTICATION_FAILED', 'AUTHENTICATION_FAILED'], 'the store has the 401s only')
})

t.test('secrets are redacted in stored entries as on stdout, in both formats', async (t) => {
  for (const logFormat of ['json', 'pretty'] as const) {
    const f = await hub(t, 'pglite', { logFormat }, {
      extend: (app) => {
        app.post('/fixture/log', { config: { access: 'public' } }, async (request) => {
          request.log.warn({ headers: request.headers, password: 'canary-password-1', user: { token: 'canary-token-2' } }, 'logging credentials')
          return {}
        })
      }
    })
    await f.app.inject({ method: 'POST', url: '/fixture/log', headers: { authorization: 'Bearer canary-bearer-3', 'x-api-key': 'canary-key-4' }, payload: {} })
    const [entry] = await everything(f, '&level=warn&source=http')
    t.match(entry, { message: 'logging credentials', fields: { password: '[redacted]', user: { token: '[redacted]' }, headers: { authorization: '[redacted]', 'x-api-key': '[redacted]' } } }, `${logFormat}: stored structured and redacted`)
    const stored = JSON.stringify(await everything(f))
    const stdout = f.lines.join('\n')
    t.match(stdout, /logging credentials/)
    for (const canary of ['canary-password-1', 'canary-token-2', 'canary-bearer-3', 'canary-key-4']) {
      t.notOk(stored.includes(canary), `${logFormat}: ${canary} is not stored`)
      t.notOk(stdout.includes(canary), `${logFormat}: nor written`)
    }
  }
})

t.test('entries below the store level are not stored; long messages and fields are cut, bad characters replaced', async (t) => {
  const f = await hub(t, 'pglite', { logLevel: 'debug', logStoreLevel: 'warn' })
  f.app.log.info('an info entry')
  f.app.log.warn({ big: 'x'.repeat(100_000), small: 'kept', nul: 'a\u0000b' }, 'y'.repeat(20_000))
  f.app.log.debug('a debug entry')
  f.app.log.error({ lone: 'x\uD800y' }, 'a lone \uDC00 surrogate')
  const entries = await everything(f)
  t.match(entries.find((entry) => entry.level === 'error'), { message: 'a lone \uFFFD surrogate', fields: { lone: 'x\uFFFDy' } }, 'lone surrogates, which PostgreSQL refuses, are replaced')
  t.notOk(entries.some((entry) => entry.message === 'an info entry' || entry.message === 'a debug entry'), 'below the store level')
  t.ok(f.lines.some((line) => line.includes('a debug entry')), 'but on stdout')
  const big = entries.find((entry) => entry.message.startsWith('yyy'))!
  t.ok(big.message.length < 8300 && big.message.endsWith('…[cut, 20000 characters]'), 'the message is cut and says so')
  t.equal(big.fields?.small, 'kept')
  t.equal(big.fields?.nul, 'a\uFFFDb', 'NUL, which PostgreSQL refuses, is replaced')
  t.ok(String(big.fields?.big).length < 4200, 'a big field is cut')
  t.ok(JSON.stringify(big.fields).length < 17 * 1024, 'fields are bounded')
})

t.test('a failed write is told on stdout only, and the entries are written once it works', async (t) => {
  const f = await hub(t, 'pglite')
  await f.app.db.execute(sql`alter table hub_logs rename to hub_logs_away`)
  f.app.log.warn('logged while the table is away')
  await until('a failed write is told', () => f.lines.some((line) => line.includes('could not store hub log entries')))
  await f.app.db.execute(sql`alter table hub_logs_away rename to hub_logs`)
  const entries = await until('the entry is stored', async () => {
    const found = await everything(f)
    return found.some((entry) => entry.message === 'logged while the table is away') && found
  })
  t.notOk(entries.some((entry) => entry.message === 'could not store hub log entries'), 'the store\'s own trouble is not stored (it would feed itself)')
  t.equal(f.app.hubLog.dropped, 0, 'nothing was lost')
})

t.test('admins only; bad queries get 422 in the envelope', async (t) => {
  const f = await hub(t, 'pglite')
  const user = await createUser(f.app, f.admin)
  const refused = await f.list('', user)
  t.equal(refused.status, 403)
  t.equal(refused.body.error.code, 'AUTHORIZATION_FAILED')
  const anonymous = await f.app.inject({ method: 'GET', url: '/api/monitoring/logs' })
  t.equal(anonymous.statusCode, 401)

  for (const [query, field] of [
    ['level=verbose', 'level'],
    ['level=silent', 'level'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['source=nowhere', 'source'],
    ['source=server:', 'source'],
    ['since=yesterday', 'since'],
    ['cursor=not%20base64', 'cursor'],
    [`cursor=${Buffer.from('no position').toString('base64url')}`, 'cursor'],
    ['since=2026-01-02&until=2026-01-01', 'until'],
    ['sort=time', 'sort']
  ] as const) {
    const res = await f.list(`?${query}`)
    t.equal(res.status, 422, query)
    t.equal(res.body.error.code, 'VALIDATION_ERROR', query)
    t.match(JSON.stringify(res.body.error), field, `${query}: names ${field}`)
  }
})
