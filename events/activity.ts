import { and, eq, gte, inArray, like, lt, or, type SQL } from 'drizzle-orm'
import type { Database } from '../db/client.ts'
import { activity, apiKeys, groups, servers, users, type ActivityRow } from '../db/schema.ts'
import { authorizationFailed, validationFailed } from '../lib/errors.ts'
import { listPage, type ListSpec } from '../lib/list.ts'
import { isAdmin, isIdShaped, type Principal } from '../access/index.ts'
import type { ACTIVITY_OBJECT_TYPES, ChannelData } from './schemas.ts'

/** One entry of the audit trail, as stored, listed and published on `user-activity`. */
export type ActivityEntry = ChannelData['user-activity']
export type ActivityObjectType = typeof ACTIVITY_OBJECT_TYPES[number]
export type ActivityObject = NonNullable<ActivityEntry['target']>

const ACTIVITY_LIST: ListSpec = {
  table: activity,
  sort: { at: activity.at },
  filters: {},
  search: [],
  createdAt: activity.at,
  id: activity.id
}

export interface ActivityQuery {
  page?: number
  limit?: number
  /** An action (`server.update`), or a prefix ending in a dot (`auth.`, `group.member.`). */
  'filter[action]'?: string
  /** The actor's user id. */
  'filter[userId]'?: string
  since?: string
  until?: string
}

function toRow (entry: ActivityEntry): typeof activity.$inferInsert {
  return {
    id: entry.id,
    at: new Date(entry.at),
    action: entry.action,
    outcome: entry.outcome,
    reason: entry.reason,
    actorId: entry.actor?.userId ?? null,
    actorName: entry.actor?.username ?? null,
    targetType: entry.target?.type ?? null,
    targetId: entry.target?.id ?? null,
    targetName: entry.target?.name ?? null,
    relatedType: entry.related?.type ?? null,
    relatedId: entry.related?.id ?? null,
    relatedName: entry.related?.name ?? null,
    fields: entry.fields,
    ip: entry.ip,
    userAgent: entry.userAgent
  }
}

function objectOf (type: string | null, id: string | null, name: string | null): ActivityObject | null {
  return type === null ? null : { type: type as ActivityObjectType, id, name }
}

export function toEntry (row: ActivityRow): ActivityEntry {
  return {
    id: row.id,
    action: row.action,
    outcome: row.outcome,
    reason: row.reason,
    actor: row.actorName === null ? null : { userId: row.actorId, username: row.actorName },
    target: objectOf(row.targetType, row.targetId, row.targetName),
    related: objectOf(row.relatedType, row.relatedId, row.relatedName),
    fields: row.fields,
    ip: row.ip,
    userAgent: row.userAgent,
    at: row.at.toISOString()
  }
}

/** Stores a batch; an entry written already (a retry after a lost acknowledgement) is skipped. */
export async function insertActivity (db: Database, entries: ActivityEntry[]): Promise<void> {
  if (entries.length === 0) return
  await db.insert(activity).values(entries.map(toRow)).onConflictDoNothing({ target: activity.id })
}

/**
 * Whether a user may see an entry: admins all; others what they did and what was done to their
 * account (as its target, or as the member of a membership change).
 */
export function visibleTo (principal: Principal, entry: ActivityEntry): boolean {
  if (isAdmin(principal)) return true
  const own = (object: ActivityObject | null) => object?.type === 'user' && object.id === principal.userId
  return entry.actor?.userId === principal.userId || own(entry.target) || own(entry.related)
}

/** Whether an action matches an action filter: the action itself, or a prefix ending in a dot (`auth.`, `group.member.`). */
export function actionMatches (filter: string, action: string): boolean {
  return filter.endsWith('.') ? action.startsWith(filter) : action === filter
}

/** `visibleTo` as a WHERE clause. */
function visibleScope (principal: Principal): SQL | undefined {
  if (isAdmin(principal)) return undefined
  const me = principal.userId
  return or(
    eq(activity.actorId, me),
    and(eq(activity.targetType, 'user'), eq(activity.targetId, me)),
    and(eq(activity.relatedType, 'user'), eq(activity.relatedId, me))
  )
}

/**
 * A page of the trail, newest first, of what the caller may see. A user filtering on another
 * user's id gets 403: only admins see others' actions.
 */
export async function listActivity (db: Database, principal: Principal, query: ActivityQuery) {
  const userId = query['filter[userId]']
  if (userId !== undefined && userId !== principal.userId && !isAdmin(principal)) {
    throw authorizationFailed('Only admins may see the activity of other users')
  }
  const since = query.since === undefined ? undefined : new Date(query.since)
  const until = query.until === undefined ? undefined : new Date(query.until)
  if (since !== undefined && until !== undefined && until <= since) throw validationFailed('until', 'must be after since')
  const action = query['filter[action]']
  const scope = [
    visibleScope(principal),
    userId === undefined ? undefined : eq(activity.actorId, userId),
    // `actionMatches` in SQL (the schema admits no LIKE wildcard in a filter).
    action === undefined ? undefined : action.endsWith('.') ? like(activity.action, `${action}%`) : eq(activity.action, action),
    since === undefined ? undefined : gte(activity.at, since),
    until === undefined ? undefined : lt(activity.at, until)
  ].filter((condition): condition is SQL => condition !== undefined)
  const page = await listPage<ActivityRow>(db, ACTIVITY_LIST, { page: query.page, limit: query.limit, order: 'desc' }, scope)
  return { items: page.items.map(toEntry), pagination: page.pagination }
}

/** Deletes the entries older than `before`, a slice at a time (a long trail never holds one long statement); returns how many. */
export async function pruneActivity (db: Database, before: Date, sliceSize = 5000): Promise<number> {
  let deleted = 0
  for (;;) {
    const slice = db.select({ id: activity.id }).from(activity).where(lt(activity.at, before)).limit(sliceSize)
    const rows = await db.delete(activity).where(inArray(activity.id, slice)).returning({ id: activity.id })
    deleted += rows.length
    if (rows.length < sliceSize) return deleted
  }
}

/** The id and name of the object a reference names (a group also by its name), or undefined. */
export async function lookUpObject (db: Database, type: ActivityObjectType, ref: string): Promise<{ id: string, name: string } | undefined> {
  const byId = isIdShaped(ref)
  if (!byId && type !== 'group') return undefined
  const [row] = type === 'user'
    ? await db.select({ id: users.id, name: users.username }).from(users).where(eq(users.id, ref))
    : type === 'group'
      ? await db.select({ id: groups.id, name: groups.name }).from(groups).where(byId ? eq(groups.id, ref) : eq(groups.name, ref))
      : type === 'server'
        ? await db.select({ id: servers.id, name: servers.name }).from(servers).where(eq(servers.id, ref))
        : await db.select({ id: apiKeys.id, name: apiKeys.name }).from(apiKeys).where(eq(apiKeys.id, ref))
  return row
}
