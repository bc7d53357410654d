import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import argon2 from 'argon2'
import { eq, sql } from 'drizzle-orm'
import t from 'tap'
import { openPglite, openPostgres, MIGRATIONS_FOLDER, type DatabaseHandle } from '../db/client.ts'
import { users } from '../db/schema.ts'
import pg from 'pg'
import { build, captureLogs, DRIVERS, embeddedDataDir, emptyPostgresDatabase, signIn, type Driver } from './helper.ts'
import { startTcpProxy } from './tcp-proxy.ts'

const journal = JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: Array<{ when: number, tag: string }> }
const silentLog = { warn () {} }

t.test('migrations: journal timestamps strictly increase (drizzle skips older ones)', async (t) => {
  t.ok(journal.entries.length >= 1)
  for (let i = 1; i < journal.entries.length; i++) {
    t.ok(journal.entries[i]!.when > journal.entries[i - 1]!.when, journal.entries[i]!.tag)
  }
})

t.test('migrations: db/schema.ts has no change without its migration', async (t) => {
  const { stdout } = await promisify(execFile)('npx', ['drizzle-kit', 'generate'], { cwd: new URL('..', import.meta.url).pathname })
  t.match(stdout, /No schema changes/, 'drizzle-kit generate finds nothing to generate')
})

type Tap = { teardown(fn: () => unknown): void }

/** Opens the same database again, as a restarted hub would. */
async function reopenable (t: Tap, driver: Driver): Promise<() => Promise<DatabaseHandle>> {
  if (driver === 'pg') {
    const url = await emptyPostgresDatabase(t)
    return async () => openPostgres(url, silentLog)
  }
  // A cluster made already, not migrated: the hub's first start on it (entry-point.test.ts
  // starts one in an empty data dir).
  const dataDir = await embeddedDataDir(t)
  return () => openPglite(dataDir)
}

for (const driver of DRIVERS) {
  t.test(`${driver}: the first admin`, async (t) => {
    t.test('gets a random password, printed once and never logged', async (t) => {
      const open = await reopenable(t, driver)
      const printed: string[] = []
      const logs = captureLogs()
      const start = async () => {
        const app = await build(t, driver, {
          database: await open(),
          config: { adminPassword: undefined, adminUsername: 'root', logLevel: 'trace' },
          print: (text) => printed.push(text),
          logStream: logs.stream
        })
        const [admin] = await app.db.select().from(users).where(eq(users.username, 'root'))
        await app.close()
        return admin
      }
      const admin = await start()
      t.equal(printed.length, 1, 'printed on the first start')
      const password = /password: (\S+)/.exec(printed[0] ?? '')?.[1] ?? ''
      t.ok(password.length >= 20, 'long enough')
      t.ok(admin, 'the admin exists')
      t.equal(admin?.role, 'admin')
      t.ok(await argon2.verify(admin?.passwordHash ?? '', password), 'the printed password is the stored one')
      const [, algorithm, , parameters] = (admin?.passwordHash ?? '').split('$')
      t.equal(algorithm, 'argon2id')
      t.same(parameters?.split(',').sort(), ['m=19456', 'p=1', 't=2'], 'OWASP parameters')
      t.notOk(logs.lines.some((line) => line.includes(password)), 'the password is not in the logs')
      t.ok(logs.lines.some((line) => line.includes('first admin created')), 'its creation is logged')

      await start()
      t.equal(printed.length, 1, 'not printed again on the next start')
    })

    t.test('is different on every new hub', async (t) => {
      const passwords = new Set<string>()
      for (let i = 0; i < 3; i++) {
        let printed = ''
        await build(t, driver, { config: { adminPassword: undefined }, print: (text) => { printed = text } })
        passwords.add(/password: (\S+)/.exec(printed)?.[1] ?? '')
      }
      t.equal(passwords.size, 3)
      t.notOk(passwords.has(''))
    })

    t.test('uses MCPHUB_ADMIN_PASSWORD when given, and prints nothing', async (t) => {
      const printed: string[] = []
      const app = await build(t, driver, { config: { adminPassword: 'a-chosen-password' }, print: (text) => printed.push(text) })
      const [admin] = await app.db.select().from(users).where(eq(users.role, 'admin'))
      t.ok(await argon2.verify(admin?.passwordHash ?? '', 'a-chosen-password'))
      t.same(printed, [])
    })
  })
}

if (DRIVERS.includes('pg')) {
  t.test('pg: two hubs migrating one empty database at once', async (t) => {
    const url = await emptyPostgresDatabase(t)
    const printed: string[] = []
    const starts = [0, 1].map(() => build(t, 'pg', {
      database: openPostgres(url, silentLog),
      config: { adminPassword: undefined },
      print: (text) => printed.push(text)
    }))
    const [first] = await Promise.all(starts)
    const applied = await first!.db.execute(sql`select hash from drizzle.__drizzle_migrations`) as unknown as { rows: unknown[] }
    t.equal(applied.rows.length, journal.entries.length, 'each migration applied once')
    const admins = await first!.db.select().from(users)
    t.equal(admins.length, 1, 'one first admin')
    t.equal(printed.length, 1, 'its password printed by one hub only')
  })

  t.test('pg: /readyz is 503 while the database is cut off and recovers by itself', async (t) => {
    const url = await emptyPostgresDatabase(t)
    const target = new URL(url)
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    t.teardown(() => proxy.close())
    const proxied = new URL(url)
    proxied.port = String(proxy.port)
    const logs = captureLogs()
    const app = await build(t, 'pg', { database: openPostgres(proxied.toString(), { warn: () => {} }), logStream: logs.stream })
    const ready = async () => (await app.inject({ method: 'GET', url: '/readyz' }))

    t.equal((await ready()).statusCode, 200)
    t.same((await ready()).json(), { status: 'ready', database: 'pg' })

    proxy.cut()
    const down = await ready()
    t.equal(down.statusCode, 503)
    t.equal(down.json().error.code, 'SERVER_ERROR')
    t.equal(down.json().error.message, 'Database unreachable')
    t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'liveness does not depend on the database')

    proxy.restore()
    let status = 0
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await ready()).statusCode
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    t.equal(status, 200, 'ready again without a restart')
  })

  t.test('pg: with a table locked, requests fail with 503 within the statement timeout, /readyz is 503, and both recover', async (t) => {
    const STATEMENT_TIMEOUT = 1000
    const url = await emptyPostgresDatabase(t)
    const app = await build(t, 'pg', { database: openPostgres(url, silentLog, { statementTimeoutMs: STATEMENT_TIMEOUT }) })
    const admin = await signIn(app)
    const listUsers = () => app.inject({ method: 'GET', url: '/api/users', headers: admin.headers })
    t.equal((await listUsers()).statusCode, 200)

    const locker = new pg.Client({ connectionString: url })
    await locker.connect()
    t.teardown(() => locker.end())
    await locker.query('begin')
    await locker.query('lock table users in access exclusive mode')

    const started = Date.now()
    const blocked = await listUsers()
    const elapsed = Date.now() - started
    t.equal(blocked.statusCode, 503)
    t.match(blocked.json(), { success: false, error: { code: 'SERVER_ERROR', message: 'The database did not answer in time; try again' } })
    t.ok(elapsed >= STATEMENT_TIMEOUT && elapsed < STATEMENT_TIMEOUT * 3, `answered within the bound (${elapsed} ms)`)
    const ready = await app.inject({ method: 'GET', url: '/readyz' })
    t.equal(ready.statusCode, 503, '/readyz says the database does not answer')
    t.equal(ready.json().error.message, 'Database unreachable')

    await locker.query('rollback')
    t.equal((await listUsers()).statusCode, 200, 'requests recover once the lock is gone')
    t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'and so does /readyz')
  })
}
