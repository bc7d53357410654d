import { and, eq, sql, type SQL } from 'drizzle-orm'
import type { Database } from '../db/client.ts'
import { groupMembers, groups, groupServers, servers, type GroupRow, type ServerAction, type ToolAction } from '../db/schema.ts'
import { effectiveGrants, permissionStrings, withAncestors, type Grants } from './grants.ts'
import { isAdmin, type Principal } from './principal.ts'

/** `allow`; `forbid` (403): may see the object, not do this; `hide` (404): may not even see it. */
export type Verdict = 'allow' | 'forbid' | 'hide'

/** The kinds of object an access rule can name. */
export type Resource = 'server' | 'group' | 'user'

/**
 * The one question: may this principal do `action` on object `id` of `resource`? Hub admins may
 * do everything; everyone else is decided by the resource's policy below.
 */
export async function authorize (db: Database, principal: Principal, resource: Resource, id: string, action: string): Promise<Verdict> {
  if (isAdmin(principal)) return 'allow'
  if (resource === 'server') return serverVerdict(await effectiveGrants(db, principal.userId), id, action)
  if (resource === 'group') return await groupVerdict(db, principal, id, action)
  return principal.userId === id ? 'allow' : 'hide'
}

/**
 * Server policy: `read`, `write`, `execute` on the server, or `tools:read` / `tools:execute`;
 * hidden unless the grants include at least `read`.
 */
export function serverVerdict (grants: Grants, serverId: string, action: string): Verdict {
  const grant = grants.get(serverId)
  if (grant === undefined || !grant.server.has('read')) return 'hide'
  const allowed = action.startsWith('tools:')
    ? grant.tools.has(action.slice(6) as ToolAction)
    : grant.server.has(action as ServerAction)
  return allowed ? 'allow' : 'forbid'
}

/** Ids of the servers the principal may read; undefined means all (admins). */
export async function readableServerIds (db: Database, principal: Principal): Promise<string[] | undefined> {
  if (isAdmin(principal)) return undefined
  return [...(await effectiveGrants(db, principal.userId)).keys()]
}

/** The permission strings login and verify report: `["*"]` for admins. */
export async function permissionsOf (db: Database, principal: Pick<Principal, 'userId' | 'role'>): Promise<string[]> {
  return isAdmin(principal) ? ['*'] : permissionStrings(await effectiveGrants(db, principal.userId))
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether a string has the shape of an id: such a reference is an id, never a name. */
export function isIdShaped (ref: string): boolean {
  return UUID.test(ref)
}

/**
 * The one group a reference names: by id when it has the shape of one, else by name. Group
 * names never have that shape, so one reference can never match two groups.
 */
export async function groupByRef (db: Database, ref: string): Promise<GroupRow | undefined> {
  // The database stores no NUL: such a reference names no group (and would be a storage error).
  // Access checks see path parameters before the schema does.
  if (ref.includes('\u0000')) return undefined
  const [group] = await db.select().from(groups).where(isIdShaped(ref) ? eq(groups.id, ref) : eq(groups.name, ref))
  return group
}

/** Group policy: active members read; the group's admins manage members; hub admins do the rest. */
async function groupVerdict (db: Database, principal: Principal, ref: string, action: string): Promise<Verdict> {
  const group = await groupByRef(db, ref)
  if (group === undefined) return 'hide'
  const [membership] = await db.select({ role: groupMembers.role }).from(groupMembers)
    .where(and(eq(groupMembers.groupId, group.id), eq(groupMembers.userId, principal.userId), eq(groupMembers.status, 'active')))
  if (membership === undefined) return 'hide'
  if (action === 'read') return 'allow'
  if (action === 'manage') return membership.role === 'admin' ? 'allow' : 'forbid'
  return 'forbid'
}

/**
 * With `requireApproval`, a membership is approved by someone other than who added it (or by a
 * hub admin): a group admin cannot admit a member on their own.
 */
export function approvalVerdict (approver: Principal, addedBy: string | null): Verdict {
  return isAdmin(approver) || addedBy !== approver.userId ? 'allow' : 'forbid'
}

/** The groups the principal may read, as a condition on `groups`: all for admins, their active memberships for others. */
export function readableGroups (principal: Principal): SQL[] {
  if (isAdmin(principal)) return []
  return [sql`${groups.id} in (select ${groupMembers.groupId} from ${groupMembers} where ${groupMembers.userId} = ${principal.userId} and ${groupMembers.status} = 'active')`]
}

/** What an MCP endpoint serves: every server, one group's, or one server. */
export type EndpointScope = { kind: 'all' } | { kind: 'group', groupId: string } | { kind: 'server', serverId: string }

/** A server of an endpoint the principal may read, and what it may do with its tools. */
export interface ServerReach {
  id: string
  canListTools: boolean
  canCallTools: boolean
}

/**
 * The servers of an endpoint the principal may read; undefined when it may not see the endpoint
 * at all (a group it is not in, with its sub-groups; a server it may not read).
 */
export async function serversInScope (db: Database, principal: Principal, scope: EndpointScope): Promise<ServerReach[] | undefined> {
  const everything = (ids: string[]) => ids.map((id) => ({ id, canListTools: true, canCallTools: true }))
  let serverIds: string[]
  if (scope.kind === 'server') {
    serverIds = [scope.serverId]
  } else if (scope.kind === 'group') {
    if (!isAdmin(principal) && !await inGroupTree(db, principal.userId, scope.groupId)) return undefined
    serverIds = (await db.select({ id: groupServers.serverId }).from(groupServers).where(eq(groupServers.groupId, scope.groupId))).map((row) => row.id)
  } else if (isAdmin(principal)) {
    serverIds = (await db.select({ id: servers.id }).from(servers)).map((row) => row.id)
  } else {
    serverIds = []
  }
  if (isAdmin(principal)) return everything(serverIds)
  const grants = await effectiveGrants(db, principal.userId)
  if (scope.kind === 'all') serverIds = [...grants.keys()]
  const readable = serverIds.filter((id) => grants.get(id)?.server.has('read') === true)
  if (scope.kind === 'server' && readable.length === 0) return undefined
  return readable.map((id) => ({ id, canListTools: grants.get(id)!.tools.has('read'), canCallTools: grants.get(id)!.tools.has('execute') }))
}

/** Whether the user is an active member of the group or of one of its sub-groups. */
async function inGroupTree (db: Database, userId: string, groupId: string): Promise<boolean> {
  const memberships = await db.select({ groupId: groupMembers.groupId }).from(groupMembers)
    .where(and(eq(groupMembers.userId, userId), eq(groupMembers.status, 'active')))
  if (memberships.length === 0) return false
  const all = await db.select({ id: groups.id, parentId: groups.parentId, permissions: groups.permissions }).from(groups)
  const byId = new Map(all.map((group) => [group.id, group]))
  return memberships.some((row) => withAncestors(row.groupId, byId).includes(groupId))
}
