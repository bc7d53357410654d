import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Writable } from 'node:stream'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import tap from 'tap'
import { buildApp, type App, type AppOptions } from '../app.ts'
import { MIGRATIONS_FOLDER, openPostgres, wrapPglite, type DatabaseHandle } from '../db/client.ts'
import { childBaseEnv, type Config } from '../lib/config.ts'
import type { SupervisorPolicy } from '../supervisor/managed-server.ts'
import type { WsLimits } from '../ws/index.ts'
// Whatever a test file started ends with it, even when tap's timeout kills it.
import './helpers/processes.ts'

export type Driver = 'pglite' | 'pg'

/** The PostgreSQL server the suite may create throw-away databases on, if any. */
const POSTGRES_URL = process.env.DATABASE_URL

/** Every database test runs on PGlite, and on PostgreSQL too when a URL is given. */
export const DRIVERS: Driver[] = POSTGRES_URL === undefined ? ['pglite'] : ['pglite', 'pg']

export const TEST_ADMIN = { username: 'admin', password: 'test-admin-password' }

interface Tap {
  teardown(fn: () => unknown): void
}

const silentLog = { warn () {} }

export function testConfig (t: Tap, overrides: Partial<Config> = {}): Config {
  const dataDir = mkdtempSync(join(tmpdir(), 'mcphub-test-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  return {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: undefined,
    dataDir,
    jwtSecret: 'test-only-jwt-secret-0123456789abcdef0123456789',
    adminUsername: TEST_ADMIN.username,
    adminPassword: TEST_ADMIN.password,
    logLevel: 'silent',
    rateLimits: { anonymous: 0, user: 0, admin: 0, mcp: 0 },
    redisUrl: undefined,
    redisKeyPrefix: `mcphub-test-${process.pid}:`,
    settingsFile: undefined,
    allowedHosts: ['localhost', '127.0.0.1', '[::1]'],
    childBaseEnv: childBaseEnv(process.env),
    activityRetentionDays: 90,
    requestTimeoutMs: 30_000,
    statementTimeoutMs: 5000,
    ...overrides
  }
}

/**
 * The migrated in-memory PGlite every test file starts from, as a data dir archive. Creating a
 * cluster and migrating it takes seconds of WebAssembly; so the first test file of a run builds
 * it and leaves it in the temporary directory, named after PGlite's version and the migrations
 * it holds, for every later file (and run) to load.
 */
let pgliteTemplate: Promise<Blob> | undefined

/** The installed PGlite's version: what it writes in a data dir may change with it. */
function pgliteVersion (): string {
  const main = createRequire(import.meta.url).resolve('@electric-sql/pglite')
  return (JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string }).version
}

/** A short digest of the migrations: what a migrated template holds, and so part of its name. */
function migrationsHash (): string {
  const hash = createHash('sha256')
  for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(MIGRATIONS_FOLDER, file)
    if (statSync(path).isFile()) hash.update(file).update(readFileSync(path))
  }
  return hash.digest('hex').slice(0, 16)
}

/** Names the archive after everything that makes its contents: PGlite and the migrations. */
function pgliteTemplateFile (): string {
  return join(tmpdir(), `mcphub-test-pglite-${pgliteVersion()}-${migrationsHash()}.tar`)
}

async function loadPgliteTemplate (): Promise<Blob> {
  const file = pgliteTemplateFile()
  if (existsSync(file)) return new Blob([readFileSync(file)])
  const template = await PGlite.create()
  await wrapPglite(template).migrate()
  const archive = await template.dumpDataDir('none')
  await template.close()
  // Written whole, then renamed: a file running meanwhile sees no archive or a complete one.
  const partial = `${file}.${process.pid}.partial`
  writeFileSync(partial, Buffer.from(await archive.arrayBuffer()))
  renameSync(partial, file)
  return archive
}

/**
 * A data dir whose embedded database a hub has yet to migrate, as on its first start, but
 * already created: creating the cluster takes seconds of WebAssembly, so the first test of a
 * run creates one in the temporary directory, named after PGlite's version, and every hub a
 * test starts gets a copy. Tests of the very first start take a `testConfig` data dir instead.
 */
export async function embeddedDataDir (t: Tap): Promise<string> {
  const template = join(tmpdir(), `mcphub-test-pglite-${pgliteVersion()}-cluster`)
  if (!existsSync(template)) {
    // Created aside, then renamed: a file running meanwhile sees no template or a complete one.
    const partial = `${template}.${process.pid}.partial`
    await (await PGlite.create(partial)).close()
    try {
      renameSync(partial, template)
    } catch {
      rmSync(partial, { recursive: true, force: true }) // another file made it first
    }
  }
  const dataDir = testConfig(t).dataDir
  cpSync(template, join(dataDir, 'pglite'), { recursive: true })
  return dataDir
}

/**
 * A migrated in-memory PGlite, loaded from the template for each test: isolated and fast. It
 * runs on the test's thread: a thread of its own per test made the suite's tap time about a
 * tenth longer on two cores (1,255 s against 1,133 s). The hub's own (threaded) embedded
 * database is tested by pglite-thread.test.ts and by every test that opens a data dir
 * (openPglite).
 */
async function pgliteDatabase (): Promise<DatabaseHandle> {
  pgliteTemplate ??= loadPgliteTemplate()
  return wrapPglite(await PGlite.create({ loadDataDir: await pgliteTemplate }))
}

let adminPool: pg.Pool | undefined
let databaseCounter = 0

/** A URL of the test PostgreSQL server with another database name. */
export function postgresUrl (database: string): string {
  const url = new URL(POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
  url.pathname = `/${database}`
  return url.toString()
}

async function adminQuery (statement: string, values: unknown[] = []): Promise<pg.QueryResult> {
  if (adminPool === undefined) {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 })
    tap.teardown(() => pool.end())
    adminPool = pool
  }
  return await adminPool.query(statement, values)
}

/** Runs one statement as the test server's admin (creating and dropping databases). */
export async function postgresAdmin (statement: string): Promise<void> {
  await adminQuery(statement)
}

/** A new, empty PostgreSQL database dropped when the test ends; returns its URL. */
export async function emptyPostgresDatabase (t: Tap): Promise<string> {
  const name = `mcphub_test_${process.pid}_${++databaseCounter}`
  await postgresAdmin(`create database ${name}`)
  t.teardown(() => postgresAdmin(`drop database if exists ${name} with (force)`))
  return postgresUrl(name)
}

let postgresTemplate: Promise<string> | undefined

/**
 * The migrated PostgreSQL database every test's database is copied from: copying takes a
 * fraction of the time migrating takes. The first file of a run creates it under a name made of
 * the migrations it holds (migrated aside, then renamed: a copy needs nobody connected to it).
 */
async function loadPostgresTemplate (): Promise<string> {
  const name = `mcphub_template_${migrationsHash()}`
  const found = await adminQuery('select 1 from pg_database where datname = $1', [name])
  if (found.rowCount === 0) {
    const partial = `${name}_${process.pid}`
    await postgresAdmin(`create database ${partial}`)
    const handle = openPostgres(postgresUrl(partial), silentLog)
    try {
      await handle.migrate()
    } finally {
      await handle.close()
    }
    await adminQuery('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [partial])
    try {
      await postgresAdmin(`alter database ${partial} rename to ${name}`)
    } catch (error) {
      // Another file made it meanwhile: its copy serves, and ours goes.
      if ((error as { code?: string }).code !== '42P04') throw error
      await postgresAdmin(`drop database ${partial} with (force)`)
    }
  }
  return name
}

/** An isolated database for one test; closing it drops it (PostgreSQL) or frees it (PGlite). */
export async function testDatabase (t: Tap, driver: Driver): Promise<DatabaseHandle> {
  if (driver === 'pglite') return await pgliteDatabase()
  postgresTemplate ??= loadPostgresTemplate()
  const template = await postgresTemplate
  const name = `mcphub_test_${process.pid}_${++databaseCounter}`
  await postgresAdmin(`create database ${name} template ${template}`)
  const handle = openPostgres(postgresUrl(name), silentLog)
  return {
    ...handle,
    async close () {
      await handle.close()
      await postgresAdmin(`drop database if exists ${name} with (force)`)
    }
  }
}

/**
 * Every app built by a test file logs here (unless the test captures its own), and when the
 * file ends no secret the tests handled may appear in any line: passwords, tokens, keys.
 */
const suiteLogLines: string[] = []
const suiteSecrets = new Set<string>([TEST_ADMIN.password])

/** Marks a value that must never appear in a log line. */
export function rememberSecret (secret: string): void {
  suiteSecrets.add(secret)
}

tap.teardown(() => {
  for (const line of suiteLogLines) {
    for (const secret of suiteSecrets) {
      if (line.includes(secret)) throw new Error(`a secret appeared in a log line: ${line.slice(0, 300)}`)
    }
  }
})

export interface BuildOptions {
  config?: Partial<Config>
  database?: DatabaseHandle
  logStream?: Writable
  print?: (text: string) => void
  /** The app's clock (TOTP steps, login delays); real time by default. */
  now?: () => number
  /** Supervisor timings: tests shorten timeouts and backoff. */
  supervisorPolicy?: Partial<SupervisorPolicy>
  /** `/ws` bounds and timings. */
  wsLimits?: Partial<WsLimits>
  /** The alert engine's timings and clock. */
  alertTimings?: AppOptions['alertTimings']
  /** How notifications are retried. */
  notificationRetry?: AppOptions['notificationRetry']
  /** The built dashboard served at `/`. */
  dashboardDir?: string
  /** Registers extra routes (test fixtures) on the real app before it is ready. */
  extend?: (app: App) => void | Promise<void>
}

/** The real app on an isolated database, closed when the test ends. */
export async function build (t: Tap, driver: Driver, options: BuildOptions = {}): Promise<App> {
  const database = options.database ?? await testDatabase(t, driver)
  const suiteLog = options.logStream === undefined ? captureLogs(suiteLogLines) : undefined
  const app = await buildApp({
    config: testConfig(t, { ...(suiteLog === undefined ? {} : { logLevel: 'info' as const }), ...options.config }),
    database,
    logStream: options.logStream ?? suiteLog!.stream,
    print: options.print ?? (() => {}),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.supervisorPolicy === undefined ? {} : { supervisorPolicy: options.supervisorPolicy }),
    ...(options.wsLimits === undefined ? {} : { wsLimits: options.wsLimits }),
    ...(options.alertTimings === undefined ? {} : { alertTimings: options.alertTimings }),
    ...(options.notificationRetry === undefined ? {} : { notificationRetry: options.notificationRetry }),
    ...(options.dashboardDir === undefined ? {} : { dashboardDir: options.dashboardDir })
  })
  t.teardown(() => app.close())
  await options.extend?.(app)
  await app.ready()
  return app
}

/** A log destination that keeps every line, for asserting on what was (not) logged. */
export function captureLogs (lines: string[] = []): { stream: Writable, lines: string[] } {
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      done()
    }
  })
  return { stream, lines }
}

export interface SignedIn {
  token: string
  refreshToken: string
  userId: string
  headers: { authorization: string }
}

/** Signs in through the real login route. */
export async function signIn (app: App, username = TEST_ADMIN.username, password = TEST_ADMIN.password, mfaCode?: string): Promise<SignedIn> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password, ...(mfaCode === undefined ? {} : { mfaCode }) } })
  if (res.statusCode !== 200) throw new Error(`sign-in as ${username} failed: ${res.statusCode} ${res.body}`)
  const { token, refreshToken, user } = res.json().data
  for (const secret of [password, token, refreshToken]) rememberSecret(secret)
  return { token, refreshToken, userId: user.id, headers: { authorization: `Bearer ${token}` } }
}

let userCounter = 0

/** Creates a user through the admin API and signs them in. */
export async function createUser (app: App, admin: SignedIn, fields: Record<string, unknown> = {}): Promise<SignedIn & { username: string, password: string }> {
  const username = `user${++userCounter}_${process.pid}`
  const password = `password-of-${username}`
  const res = await app.inject({ method: 'POST', url: '/api/users', headers: admin.headers, payload: { username, password, ...fields } })
  if (res.statusCode !== 201) throw new Error(`creating ${username} failed: ${res.statusCode} ${res.body}`)
  return { ...await signIn(app, username, password), username, password }
}

/** Whether a process (by pid) still exists. */
export function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
