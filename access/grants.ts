import { and, eq, inArray } from 'drizzle-orm'
import type { Database } from '../db/client.ts'
import { groupMembers, groups, groupServers, type GroupPermissions, type ServerAction, type ToolAction } from '../db/schema.ts'

/** How deep the group tree may grow (a root group has depth 1). */
export const MAX_GROUP_DEPTH = 8

export interface ServerGrant {
  server: Set<ServerAction>
  tools: Set<ToolAction>
}

/** A user's effective access, by server id. */
export type Grants = Map<string, ServerGrant>

export interface GroupNode {
  id: string
  parentId: string | null
  permissions: GroupPermissions
}

export interface Assignment {
  groupId: string
  serverId: string
  permissions: ServerAction[]
}

/** The group and its ancestors, nearest first; bounded even if the stored tree were corrupt. */
export function withAncestors (groupId: string, byId: Map<string, GroupNode>): string[] {
  const chain: string[] = []
  for (let current: string | null = groupId; current !== null && chain.length <= MAX_GROUP_DEPTH && !chain.includes(current);) {
    chain.push(current)
    current = byId.get(current)?.parentId ?? null
  }
  return chain
}

/**
 * The access model, in one place: over the user's active memberships, each group counting its
 * ancestors, the union of (assignment permissions ∩ the group's `permissions.servers`). Tool
 * permissions come from the groups a server is assigned to. Everything needs `read` on the
 * server: a grant without it is dropped (an invisible server cannot be changed or called).
 */
export function computeGrants (activeGroupIds: string[], allGroups: GroupNode[], assignments: Assignment[]): Grants {
  const byId = new Map(allGroups.map((group) => [group.id, group]))
  const effective = new Set(activeGroupIds.flatMap((id) => withAncestors(id, byId)))
  const grants: Grants = new Map()
  for (const assignment of assignments) {
    const group = byId.get(assignment.groupId)
    if (group === undefined || !effective.has(group.id)) continue
    const grant = grants.get(assignment.serverId) ?? { server: new Set(), tools: new Set() }
    for (const action of assignment.permissions) {
      if (group.permissions.servers.includes(action)) grant.server.add(action)
    }
    for (const action of group.permissions.tools) grant.tools.add(action)
    grants.set(assignment.serverId, grant)
  }
  // Without `read` the server is invisible to the user, so nothing else about it counts.
  for (const [serverId, grant] of grants) {
    if (!grant.server.has('read')) grants.delete(serverId)
  }
  return grants
}

/** Loads what `computeGrants` needs for one user: three small queries, no cache to go stale. */
export async function effectiveGrants (db: Database, userId: string): Promise<Grants> {
  const memberships = await db.select({ groupId: groupMembers.groupId }).from(groupMembers)
    .where(and(eq(groupMembers.userId, userId), eq(groupMembers.status, 'active')))
  if (memberships.length === 0) return new Map()
  const allGroups = await db.select({ id: groups.id, parentId: groups.parentId, permissions: groups.permissions }).from(groups)
  const byId = new Map(allGroups.map((group) => [group.id, group]))
  const effective = [...new Set(memberships.flatMap((row) => withAncestors(row.groupId, byId)))]
  const assignments = await db.select({ groupId: groupServers.groupId, serverId: groupServers.serverId, permissions: groupServers.permissions })
    .from(groupServers).where(inArray(groupServers.groupId, effective))
  return computeGrants(memberships.map((row) => row.groupId), allGroups, assignments)
}

/** The permission strings login and verify report: `["*"]` for admins. */
export function permissionStrings (grants: Grants): string[] {
  const out: string[] = []
  for (const [serverId, grant] of grants) {
    for (const action of grant.server) out.push(`server:${serverId}:${action}`)
    for (const action of grant.tools) out.push(`tools:${serverId}:${action}`)
  }
  return out.sort()
}
