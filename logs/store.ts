import { and, desc, eq, gte, inArray, lt, or, type SQL } from 'drizzle-orm'
import type { PgColumn } from 'drizzle-orm/pg-core'
import type { Database } from '../db/client.ts'
import { hubLogs, serverLogs, servers } from '../db/schema.ts'
import { notFound, validationFailed } from '../lib/errors.ts'
import { LOG_LEVELS, type LogLevel } from '../supervisor/log-buffer.ts'
import { HUB_LOG_LEVELS, type HubLogInsert, type HubLogLevel } from './hub-log.ts'

/** One entry as listed: the hub's own, or one of a server's captured lines. */
export interface HubLogEntry {
  id: string
  time: string
  level: HubLogLevel
  source: string
  message: string
  fields: Record<string, unknown> | null
}

export interface HubLogQuery {
  /** The lowest level returned. */
  level?: HubLogLevel
  /** A source of the hub's entries, or `server:<key>` for that server's lines. */
  source?: string
  limit?: number
  since?: string
  until?: string
  cursor?: string
}

export const DEFAULT_LOG_LIMIT = 100
export const MAX_LOG_LIMIT = 1000

/** Servers' lines carry MCP (syslog) levels: the lowest of them each hub level asks for. */
const SERVER_LEVEL_FLOOR: Record<HubLogLevel, LogLevel> = { trace: 'debug', debug: 'debug', info: 'info', warn: 'warning', error: 'error', fatal: 'critical' }
/** And the hub level each is listed at (its own is in `fields.level`). */
const HUB_LEVEL_OF: Record<LogLevel, HubLogLevel> = { debug: 'debug', info: 'info', notice: 'info', warning: 'warn', error: 'error', critical: 'fatal', alert: 'fatal', emergency: 'fatal' }

export async function insertHubLogs (db: Database, entries: HubLogInsert[]): Promise<void> {
  if (entries.length === 0) return
  await db.insert(hubLogs).values(entries)
}

/** Deletes the rows `where` selects, a slice at a time (no one long statement); returns how many. */
async function deleteInSlices (db: Database, where: SQL, sliceSize: number): Promise<number> {
  let deleted = 0
  for (;;) {
    const slice = db.select({ id: hubLogs.id }).from(hubLogs).where(where).limit(sliceSize)
    const rows = await db.delete(hubLogs).where(inArray(hubLogs.id, slice)).returning({ id: hubLogs.id })
    deleted += rows.length
    if (rows.length < sliceSize) return deleted
  }
}

/** Deletes the entries older than `before`, then all but the newest `keep`; returns how many. */
export async function pruneHubLogs (db: Database, { before, keep }: { before: Date, keep: number }, sliceSize = 5000): Promise<number> {
  let deleted = await deleteInSlices(db, lt(hubLogs.time, before), sliceSize)
  const [oldestKept] = await db.select({ id: hubLogs.id }).from(hubLogs).orderBy(desc(hubLogs.id)).offset(keep - 1).limit(1)
  if (oldestKept !== undefined) deleted += await deleteInSlices(db, lt(hubLogs.id, oldestKept.id), sliceSize)
  return deleted
}

interface Position {
  time: Date
  id: number
}

/** The opaque cursor of the entry a page ended with: its time and id. */
function encodeCursor ({ time, id }: Position): string {
  return Buffer.from(`${time.getTime()}:${id}`).toString('base64url')
}

function decodeCursor (cursor: string): Position {
  const match = /^(\d{1,15}):(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString())
  if (match === null) throw validationFailed('cursor', 'is not a cursor this endpoint gave')
  return { time: new Date(Number(match[1])), id: Number(match[2]) }
}

interface Keyset {
  time: PgColumn
  id: PgColumn
}

/** The conditions every page shares: since (inclusive), until (exclusive), after the cursor (newest first). */
function windowOf (columns: Keyset, query: HubLogQuery): SQL[] {
  const since = query.since === undefined ? undefined : new Date(query.since)
  const until = query.until === undefined ? undefined : new Date(query.until)
  if (since !== undefined && until !== undefined && until <= since) throw validationFailed('until', 'must be after since')
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
  return [
    since === undefined ? undefined : gte(columns.time, since),
    until === undefined ? undefined : lt(columns.time, until),
    after === undefined ? undefined : or(lt(columns.time, after.time), and(eq(columns.time, after.time), lt(columns.id, after.id)))
  ].filter((condition): condition is SQL => condition !== undefined)
}

/** `limit` rows of a page, and the cursor of the next page when there is one. */
function pageOf<Row extends Position> (rows: Row[], limit: number) {
  const hasNext = rows.length > limit
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, pagination: { limit, hasNext, nextCursor: hasNext && last !== undefined ? encodeCursor(last) : null } }
}

/**
 * A page of the hub's log, newest first: its own entries (of one source, or all), or with
 * `source=server:<key>` that server's captured lines (404 for an unknown key).
 */
export async function listHubLogs (db: Database, query: HubLogQuery) {
  const limit = query.limit ?? DEFAULT_LOG_LIMIT
  if (query.source?.startsWith('server:') === true) return await listServerLines(db, query.source.slice('server:'.length), query, limit)
  const levels = HUB_LOG_LEVELS.slice(HUB_LOG_LEVELS.indexOf(query.level ?? 'trace'))
  const rows = await db.select().from(hubLogs)
    .where(and(
      inArray(hubLogs.level, levels),
      query.source === undefined ? undefined : eq(hubLogs.source, query.source),
      ...windowOf(hubLogs, query)
    ))
    .orderBy(desc(hubLogs.time), desc(hubLogs.id)).limit(limit + 1)
  const page = pageOf(rows, limit)
  return {
    items: page.items.map((row): HubLogEntry => ({
      id: String(row.id),
      time: row.time.toISOString(),
      level: row.level as HubLogLevel,
      source: row.source,
      message: row.message,
      fields: row.fields
    })),
    pagination: page.pagination
  }
}

async function listServerLines (db: Database, key: string, query: HubLogQuery, limit: number) {
  const [server] = await db.select({ id: servers.id }).from(servers).where(eq(servers.key, key))
  if (server === undefined) throw notFound(`Server with key "${key}"`)
  const floor = SERVER_LEVEL_FLOOR[query.level ?? 'trace']
  const rows = await db.select().from(serverLogs)
    .where(and(
      eq(serverLogs.serverId, server.id),
      inArray(serverLogs.level, LOG_LEVELS.slice(LOG_LEVELS.indexOf(floor))),
      ...windowOf(serverLogs, query)
    ))
    .orderBy(desc(serverLogs.time), desc(serverLogs.id)).limit(limit + 1)
  const page = pageOf(rows, limit)
  return {
    items: page.items.map((row): HubLogEntry => ({
      id: String(row.id),
      time: row.time.toISOString(),
      level: HUB_LEVEL_OF[row.level as LogLevel] ?? 'info',
      source: `server:${key}`,
      message: row.message,
      fields: { serverId: server.id, level: row.level, source: row.source }
    })),
    pagination: page.pagination
  }
}
