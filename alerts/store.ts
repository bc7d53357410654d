import { and, asc, count, desc, eq, gte, inArray, sql, type SQL } from 'drizzle-orm'
import type { Database, Queryable } from '../db/client.ts'
import { alerts, notificationAttempts, notifications, servers, toolCalls, type AlertRow } from '../db/schema.ts'
import { listPage, type ListSpec } from '../lib/list.ts'
import type { Candidate, ToolStats } from './rules.ts'

export type NotificationKind = 'firing' | 'resolved'

/** Queues an alert's notifications inside the caller's transaction (`app.notifications.enqueue`). */
export type Enqueue = (db: Queryable, alert: AlertRow, kind: NotificationKind) => Promise<void>

export async function firingAlerts (db: Database): Promise<AlertRow[]> {
  return await db.select().from(alerts).where(eq(alerts.state, 'firing'))
}

/** Writes one alert row and, when a row was written, queues its notice: both in one transaction. */
async function writeWithNotice (db: Database, kind: NotificationKind, enqueue: Enqueue, write: (tx: Queryable) => Promise<AlertRow[]>): Promise<AlertRow | undefined> {
  return await db.transaction(async (tx) => {
    const [row] = await write(tx)
    if (row !== undefined) await enqueue(tx, row, kind)
    return row
  })
}

/**
 * Stores a firing alert and queues its notifications, in one transaction; undefined when one
 * with the same fingerprint fires already (here or on another hub).
 */
export async function openAlert (db: Database, found: Candidate, at: Date, enqueue: Enqueue, id?: string): Promise<AlertRow | undefined> {
  return await writeWithNotice(db, 'firing', enqueue, (tx) => tx.insert(alerts)
    .values({ ...(id === undefined ? {} : { id }), ...found, state: 'firing', firedAt: at, notifiedAt: at })
    .onConflictDoNothing({ target: alerts.fingerprint, where: sql`${alerts.state} = 'firing'` })
    .returning())
}

/** Resolves a firing alert and queues the resolved notice, in one transaction; undefined when it no longer fires. */
export async function resolveAlert (db: Database, id: string, at: Date, enqueue: Enqueue): Promise<AlertRow | undefined> {
  return await writeWithNotice(db, 'resolved', enqueue, (tx) => tx.update(alerts)
    .set({ state: 'resolved', resolvedAt: at, updatedAt: at })
    .where(and(eq(alerts.id, id), eq(alerts.state, 'firing')))
    .returning())
}

/** Notifies a firing alert again, unless someone (another hub) did since `alert` was read. */
export async function renotifyAlert (db: Database, alert: AlertRow, at: Date, enqueue: Enqueue): Promise<AlertRow | undefined> {
  return await writeWithNotice(db, 'firing', enqueue, (tx) => tx.update(alerts)
    .set({ notifiedAt: at, updatedAt: at })
    .where(and(eq(alerts.id, alert.id), eq(alerts.state, 'firing'), alert.notifiedAt === null ? sql`${alerts.notifiedAt} is null` : eq(alerts.notifiedAt, alert.notifiedAt)))
    .returning())
}

/** Each existing server's tool calls since `since`: count, failures, p95 duration. */
export async function toolStats (db: Database, since: Date): Promise<ToolStats[]> {
  return await db.select({
    serverId: servers.id,
    name: servers.name,
    calls: count(),
    failed: sql<number>`count(*) filter (where not ${toolCalls.ok})`.mapWith(Number),
    p95Ms: sql<number>`percentile_cont(0.95) within group (order by ${toolCalls.durationMs})`.mapWith(Number)
  })
    .from(toolCalls)
    .innerJoin(servers, eq(servers.id, toolCalls.serverId))
    .where(gte(toolCalls.startedAt, since))
    .groupBy(servers.id, servers.name)
}

/** The cheapest question the database can answer. */
export async function probe (db: Database): Promise<void> {
  await db.execute(sql`select 1`)
}

const ALERT_LIST: ListSpec = {
  table: alerts,
  sort: { firedAt: alerts.firedAt },
  filters: {},
  search: [],
  createdAt: alerts.firedAt,
  id: alerts.id
}

export interface AlertQuery {
  state?: 'firing' | 'resolved' | undefined
  severity?: 'info' | 'warning' | 'critical' | undefined
  serverId?: string | undefined
  page?: number | undefined
  limit?: number | undefined
}

/** A page of alerts, newest first; `readable` (undefined: all) limits them to those servers' alerts. */
export async function listAlerts (db: Database, query: AlertQuery, readable: string[] | undefined) {
  const scope = [
    readable === undefined ? undefined : inArray(alerts.serverId, readable),
    query.state === undefined ? undefined : eq(alerts.state, query.state),
    query.severity === undefined ? undefined : eq(alerts.severity, query.severity),
    query.serverId === undefined ? undefined : eq(alerts.serverId, query.serverId)
  ].filter((condition): condition is SQL => condition !== undefined)
  return await listPage<AlertRow>(db, ALERT_LIST, { page: query.page, limit: query.limit, order: 'desc' }, scope)
}

export async function getAlert (db: Database, id: string): Promise<AlertRow | undefined> {
  const [row] = await db.select().from(alerts).where(eq(alerts.id, id))
  return row
}

/** An alert's notifications, oldest first, each with its attempts. */
export async function deliveriesOf (db: Database, alertId: string) {
  const rows = await db.select().from(notifications).where(eq(notifications.alertId, alertId)).orderBy(asc(notifications.createdAt), asc(notifications.channel), asc(notifications.id))
  const attempts = rows.length === 0
    ? []
    : await db.select().from(notificationAttempts).where(inArray(notificationAttempts.notificationId, rows.map((row) => row.id))).orderBy(asc(notificationAttempts.attempt), desc(notificationAttempts.id))
  return rows.map((row) => ({ ...row, attemptLog: attempts.filter((attempt) => attempt.notificationId === row.id) }))
}
