import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'drizzle-orm'
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
  /** Resolves when the database answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

interface Logger {
  warn(object: object, message: string): void
}

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url))
/** Arbitrary constant shared by every MCPHub instance: "mcphub migrate". */
const MIGRATION_LOCK_KEY = 0x6d637068

export function openPostgres (url: string, log: Logger): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    keepAlive: true
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
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
        try {
          await migratePg(drizzlePg(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER })
        } finally {
          await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
        }
      } finally {
        client.release()
      }
    },
    async ping (timeoutMs = 2000) {
      await withTimeout(pool.query('select 1'), timeoutMs, `database ping timed out after ${timeoutMs} ms`)
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
    async ping (timeoutMs = 2000) {
      await withTimeout(client.query('select 1'), timeoutMs, `database ping timed out after ${timeoutMs} ms`)
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
export async function openDatabase (options: { databaseUrl: string | undefined, dataDir: string, log: Logger }): Promise<DatabaseHandle> {
  return options.databaseUrl === undefined
    ? await openPglite(options.dataDir)
    : openPostgres(options.databaseUrl, options.log)
}
