import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { getTableName, sql } from 'drizzle-orm'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import pg from 'pg'
import { withTimeout } from '../lib/timeout.ts'
import { PgliteThread, type PgliteThreadOptions } from './pglite-thread.ts'
import * as schema from './schema.ts'

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>
/** A transaction of `Database`: what `db.transaction(async (tx) => …)` hands its callback. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0]
/** The database or a transaction on it: for writes that must commit together with the caller's. */
export type Queryable = Database | Transaction

/** One interface over both drivers: the rest of the hub never knows which one it talks to. */
export interface DatabaseHandle {
  readonly driver: 'pg' | 'pglite'
  readonly db: Database
  /** Applies pending migrations under an advisory lock, so concurrent hubs never race. */
  migrate(): Promise<MigrationResult>
  /** Resolves when the database answers, for the tables requests need, within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>
  close(): Promise<void>
  /** PostgreSQL's pool: its connections and the queries waiting for one (0 and 0 on PGlite). */
  poolStats(): { size: number, waiting: number }
  /** Hears how long each query took (ms), from when it was sent to its answer. */
  onQuery(listener: (ms: number) => void): void
}

/**
 * Times each call of `target.query` that returns a promise (the way drizzle queries) for the
 * listener set last (an app built again on the same handle replaces the previous one).
 */
function timeQueries (target: { query: (...args: never[]) => unknown }): (listener: (ms: number) => void) => void {
  let heard: ((ms: number) => void) | undefined
  return (listener) => {
    if (heard === undefined) {
      const query = target.query
      target.query = function (this: unknown, ...args: never[]) {
        const startedAt = performance.now()
        const result = query.apply(this, args)
        if (result instanceof Promise) {
          const done = () => { heard!(performance.now() - startedAt) }
          result.then(done, done)
        }
        return result
      }
    }
    heard = listener
  }
}

interface Logger {
  warn(object: object, message: string): void
}

export interface MigrationResult {
  /** Migrations this call applied (0: the schema was up to date). */
  applied: number
  /** Migrations the hub ships. */
  total: number
}

/**
 * The database named by DATABASE_URL cannot be used: the message is one line naming the setting,
 * the cause and what to do, without the URL's password.
 */
export class DatabaseUnavailableError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'DatabaseUnavailableError'
  }
}

/** Where a PostgreSQL URL points, for messages: never its password. */
export function describeTarget (url: string): { host: string, port: string, database: string, user: string } {
  const parsed = new URL(url)
  const user = decodeURIComponent(parsed.username) || 'postgres'
  return {
    host: parsed.hostname || 'localhost',
    port: parsed.port || '5432',
    database: decodeURIComponent(parsed.pathname.slice(1)) || user,
    user
  }
}

/** One line saying why connecting to the database of `url` failed, and what to do about it. */
export function describeConnectionError (error: unknown, url: string): string {
  const { host, port, database, user } = describeTarget(url)
  const at = `${host}:${port}`
  const { code, message } = error as { code?: unknown, message?: unknown }
  const text = typeof message === 'string' ? message : String(error)
  switch (code) {
    case 'ECONNREFUSED':
      return `DATABASE_URL: cannot connect to ${at} (connection refused): is PostgreSQL running there? Start it, or correct the host and port in DATABASE_URL`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `DATABASE_URL: unknown host "${host}": correct the host name in DATABASE_URL`
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `DATABASE_URL: cannot reach ${at} (${String(code)}): check the host, the port and the firewall`
    case '3D000':
      return `DATABASE_URL: database "${database}" does not exist on ${at}: create it (createdb -h ${host} -p ${port} -U ${user} ${database}) or correct the database name in DATABASE_URL`
    case '28P01':
      return `DATABASE_URL: password authentication failed for user "${user}" on ${at}: correct the user name and password in DATABASE_URL`
    case '28000':
      return `DATABASE_URL: ${at} refused user "${user}" (${text}): correct the user in DATABASE_URL, or allow it in PostgreSQL (pg_hba.conf)`
  }
  if (/timeout/i.test(text)) {
    return `DATABASE_URL: no answer from ${at} within ${CONNECTION_TIMEOUT_MS / 1000} s: check the host, the port and the firewall`
  }
  return `DATABASE_URL: cannot use the database "${database}" on ${at}: ${text}`
}

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url))
/** Arbitrary constant shared by every MCPHub instance: "mcphub migrate". */
const MIGRATION_LOCK_KEY = 0x6d637068
/** How long one statement may run on PostgreSQL (waiting for a lock included) before it is cancelled. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5000
const PING_TIMEOUT_MS = 2000
const CONNECTION_TIMEOUT_MS = 5000
/** drizzle's record of the migrations applied (the same for both drivers). */
const APPLIED_MIGRATIONS_SQL = 'select count(*)::int as applied from drizzle.__drizzle_migrations'

function shippedMigrations (): number {
  return readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).length
}

/** How many migrations the database has recorded; 0 before the first (no table yet). */
async function appliedMigrations (query: (text: string) => Promise<{ rows: unknown[] }>): Promise<number> {
  try {
    const { rows } = await query(APPLIED_MIGRATIONS_SQL)
    return (rows[0] as { applied: number } | undefined)?.applied ?? 0
  } catch {
    return 0
  }
}

/**
 * The readiness query: it opens every table a request reads (accounts, groups, servers), so a
 * lock on any of them makes it wait like requests do, where `select 1` would still answer.
 */
const PING_SQL = 'select ' + [schema.users, schema.sessions, schema.apiKeys, schema.groups, schema.groupMembers, schema.servers, schema.groupServers]
  .map((table) => `(select 1 from "${getTableName(table)}" limit 0)`).join(', ')

export interface PostgresOptions {
  /** ms a statement may take; default DEFAULT_STATEMENT_TIMEOUT_MS. */
  statementTimeoutMs?: number
}

export function openPostgres (url: string, log: Logger, options: PostgresOptions = {}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    // Server-side: a statement waiting on a locked table is cancelled (57014) and answered 503.
    statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS
  })
  // An idle client whose connection drops emits here; unhandled, it would crash the hub.
  pool.on('error', (error) => log.warn({ err: { message: error.message } }, 'database connection lost'))
  const db = drizzlePg(pool, { schema }) as unknown as Database
  return {
    driver: 'pg',
    db,
    async migrate () {
      // The first connection of the hub: a wrong DATABASE_URL shows here, said in one line.
      const client = await pool.connect().catch((error: unknown) => {
        throw new DatabaseUnavailableError(describeConnectionError(error, url), { cause: error })
      })
      try {
        // Waiting for another hub's migrations, and the migrations themselves, may take longer than a request.
        await client.query('set statement_timeout = 0')
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
        try {
          const before = await appliedMigrations((text) => client.query(text))
          await migratePg(drizzlePg(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER })
          return { applied: await appliedMigrations((text) => client.query(text)) - before, total: shippedMigrations() }
        } finally {
          await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
        }
      } finally {
        await client.query('reset statement_timeout').catch(() => {})
        client.release()
      }
    },
    async ping (timeoutMs = PING_TIMEOUT_MS) {
      // One implicit transaction: the short timeout applies to the ping only.
      const ping = pool.query(`set local statement_timeout = ${Math.round(timeoutMs)}; ${PING_SQL}`)
      await withTimeout(ping, timeoutMs, `database ping timed out after ${timeoutMs} ms`)
    },
    async close () {
      await pool.end()
    },
    poolStats: () => ({ size: pool.totalCount, waiting: pool.waitingCount }),
    onQuery: timeQueries(pool as unknown as { query: (...args: never[]) => unknown })
  }
}

/** A DatabaseHandle on PGlite: in this thread, or on a thread of its own (what the hub runs). */
export function wrapPglite (client: PGlite | PgliteThread): DatabaseHandle {
  const db = drizzlePglite(client as PGlite, { schema })
  return {
    driver: 'pglite',
    db: db as unknown as Database,
    async migrate () {
      await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`)
      try {
        const before = await appliedMigrations((text) => client.query(text))
        await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER })
        return { applied: await appliedMigrations((text) => client.query(text)) - before, total: shippedMigrations() }
      } finally {
        await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`)
      }
    },
    // PGlite cannot time statements out (no timers inside WebAssembly); the ping is bounded from outside.
    async ping (timeoutMs = PING_TIMEOUT_MS) {
      await withTimeout(client.query(PING_SQL), timeoutMs, `database ping timed out after ${timeoutMs} ms`)
    },
    async close () {
      if (!client.closed) await client.close()
    },
    poolStats: () => ({ size: 0, waiting: 0 }),
    onQuery: timeQueries(client as unknown as { query: (...args: never[]) => unknown })
  }
}

/** Embedded PostgreSQL (PGlite) on a thread of its own; in memory without a `dataDir`. */
export async function openPgliteThread (options: PgliteThreadOptions = {}): Promise<DatabaseHandle> {
  return wrapPglite(await PgliteThread.open(options))
}

/** Embedded PostgreSQL (PGlite) persisted under the data dir, on a thread of its own. */
export async function openPglite (dataDir: string): Promise<DatabaseHandle> {
  return await openPgliteThread({ dataDir: join(dataDir, 'pglite') })
}

/** PostgreSQL when a URL is configured, the embedded database otherwise; says which on the log. */
export async function openDatabase (options: { databaseUrl: string | undefined, dataDir: string, log: Logger & { info(object: object, message: string): void }, statementTimeoutMs?: number }): Promise<DatabaseHandle> {
  const { databaseUrl, dataDir, log } = options
  if (databaseUrl === undefined) {
    const path = join(dataDir, 'pglite')
    log.info({ path }, `opening the embedded database at ${path}`)
    return await openPglite(dataDir)
  }
  const { host, port, database } = describeTarget(databaseUrl)
  log.info({ host, port, database }, `connecting to PostgreSQL at ${host}:${port}, database ${database}`)
  return openPostgres(databaseUrl, log, { statementTimeoutMs: options.statementTimeoutMs })
}
