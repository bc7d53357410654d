import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { getTableName, sql } from 'drizzle-orm'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import pg from 'pg'
import { withTimeout } from '../lib/timeout.ts'
import * as schema from './schema.ts'

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

/** One interface over both drivers: the rest of the hub never knows which one it talks to. */
export interface DatabaseHandle {
  readonly driver: 'pg' | 'pglite'
  readonly db: Database
  /** Applies pending migrations under an advisory lock, so concurrent hubs never race. */
  migrate(): Promise<void>
  /** Resolves when the database answers, for the tables requests need, within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

interface Logger {
  warn(object: object, message: string): void
}

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url))
/** Arbitrary constant shared by every MCPHub instance: "mcphub migrate". */
const MIGRATION_LOCK_KEY = 0x6d637068
/** How long one statement may run on PostgreSQL (waiting for a lock included) before it is cancelled. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5000
const PING_TIMEOUT_MS = 2000

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
    connectionTimeoutMillis: 5000,
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
      const client = await pool.connect()
      try {
        // Waiting for another hub's migrations, and the migrations themselves, may take longer than a request.
        await client.query('set statement_timeout = 0')
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
        try {
          await migratePg(drizzlePg(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER })
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
    }
  }
}

export function wrapPglite (client: PGlite): DatabaseHandle {
  const db = drizzlePglite(client, { schema })
  return {
    driver: 'pglite',
    db: db as unknown as Database,
    async migrate () {
      await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`)
      try {
        await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER })
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
    }
  }
}

/** Embedded PostgreSQL (PGlite) persisted under the data dir. */
export async function openPglite (dataDir: string): Promise<DatabaseHandle> {
  return wrapPglite(await PGlite.create(join(dataDir, 'pglite')))
}

/** PostgreSQL when a URL is configured, the embedded database otherwise. */
export async function openDatabase (options: { databaseUrl: string | undefined, dataDir: string, log: Logger, statementTimeoutMs?: number }): Promise<DatabaseHandle> {
  return options.databaseUrl === undefined
    ? await openPglite(options.dataDir)
    : openPostgres(options.databaseUrl, options.log, { statementTimeoutMs: options.statementTimeoutMs })
}
