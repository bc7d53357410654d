import { and, count, eq, inArray, sql } from 'drizzle-orm'
import type { Database } from '../../db/client.ts'
import { groupMembers, groups, groupServers, servers, users, type GroupPermissions, type GroupRow, type GroupSettings, type ServerAction } from '../../db/schema.ts'
import { authorizationFailed, conflict, notFound, validationFailed } from '../../lib/errors.ts'
import { listPage, type ListQuery, type ListSpec } from '../../lib/list.ts'
import { approvalVerdict, groupByRef, isAdmin, isIdShaped, MAX_GROUP_DEPTH, readableGroups, withAncestors, type Principal } from '../../access/index.ts'

export const GROUP_LIST: ListSpec = {
  table: groups,
  sort: { name: groups.name, createdAt: groups.createdAt, updatedAt: groups.updatedAt },
  filters: { name: groups.name, parentId: groups.parentId },
  search: [groups.name, groups.displayName, groups.description],
  createdAt: groups.createdAt,
  id: groups.id
}

export const MEMBER_LIST: ListSpec = {
  table: groupMembers,
  sort: { joinedAt: groupMembers.createdAt, role: groupMembers.role, status: groupMembers.status },
  filters: { role: groupMembers.role },
  search: [],
  status: groupMembers.status,
  createdAt: groupMembers.createdAt,
  id: groupMembers.userId
}

export const ASSIGNMENT_LIST: ListSpec = {
  table: groupServers,
  sort: { createdAt: groupServers.createdAt },
  filters: {},
  search: [],
  createdAt: groupServers.createdAt,
  id: groupServers.serverId
}

/** Serialises changes to the tree, so that two concurrent moves cannot close a cycle. */
const HIERARCHY_LOCK = 0x6d636867

export async function findGroup (db: Database, ref: string): Promise<GroupRow> {
  const group = await groupByRef(db, ref)
  if (group === undefined) throw notFound('Group')
  return group
}

export async function toDto (db: Database, row: GroupRow) {
  const parent = row.parentId === null ? undefined : (await db.select({ name: groups.name }).from(groups).where(eq(groups.id, row.parentId)))[0]
  return {
    id: row.id,
    name: row.name,
    displayName: row.displayName,
    description: row.description,
    parentGroup: parent?.name ?? null,
    permissions: row.permissions,
    settings: row.settings,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString()
  }
}

export async function listGroups (db: Database, principal: Principal, query: ListQuery) {
  const page = await listPage<GroupRow>(db, GROUP_LIST, query, readableGroups(principal))
  return { items: await Promise.all(page.items.map((row) => toDto(db, row))), pagination: page.pagination }
}

interface TreeRow { id: string, parentId: string | null }

/** Depth of the subtree rooted at `id` (1 for a leaf). */
function subtreeHeight (id: string, rows: TreeRow[], seen = new Set<string>()): number {
  if (seen.has(id)) return 0
  seen.add(id)
  const children = rows.filter((row) => row.parentId === id)
  return 1 + Math.max(0, ...children.map((child) => subtreeHeight(child.id, rows, seen)))
}

/** Resolves `parentGroup` and refuses cycles (422) and trees deeper than MAX_GROUP_DEPTH. */
async function resolveParent (tx: Database, parentGroup: string | null, movingId?: string): Promise<string | null> {
  if (parentGroup === null) return null
  const parent = await groupByRef(tx, parentGroup)
  if (parent === undefined) throw validationFailed('parentGroup', `group "${parentGroup}" does not exist`)
  const rows = await tx.select({ id: groups.id, parentId: groups.parentId }).from(groups)
  const byId = new Map(rows.map((row) => [row.id, row]))
  const parentChain = withAncestors(parent.id, byId as Map<string, TreeRow & { permissions: GroupPermissions }>)
  if (movingId !== undefined && parentChain.includes(movingId)) {
    throw validationFailed('parentGroup', 'would make the group its own ancestor')
  }
  const height = movingId === undefined ? 1 : subtreeHeight(movingId, rows)
  if (parentChain.length + height > MAX_GROUP_DEPTH) {
    throw validationFailed('parentGroup', `groups nest at most ${MAX_GROUP_DEPTH} levels deep`)
  }
  return parent.id
}

const DEFAULT_SETTINGS: GroupSettings = { autoAssign: false, maxMembers: null, requireApproval: false }

export interface GroupInput {
  name?: string
  displayName?: string | null
  description?: string | null
  parentGroup?: string | null
  permissions?: Partial<GroupPermissions>
  settings?: Partial<GroupSettings>
}

/** Ids and names must not be confusable: a name with the shape of an id is refused. */
function checkName (name: string | undefined): void {
  if (name !== undefined && isIdShaped(name)) throw validationFailed('name', 'must not have the shape of an id (uuid)')
}

export async function createGroup (db: Database, input: GroupInput & { name: string }): Promise<GroupRow> {
  checkName(input.name)
  return await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${HIERARCHY_LOCK})`)
    const parentId = await resolveParent(tx, input.parentGroup ?? null)
    const [row] = await tx.insert(groups).values({
      name: input.name,
      displayName: input.displayName ?? null,
      description: input.description ?? null,
      parentId,
      permissions: { servers: input.permissions?.servers ?? [], tools: input.permissions?.tools ?? [] },
      settings: { ...DEFAULT_SETTINGS, ...input.settings }
    }).returning()
    return row!
  })
}

export async function updateGroup (db: Database, group: GroupRow, input: GroupInput): Promise<GroupRow> {
  checkName(input.name)
  return await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${HIERARCHY_LOCK})`)
    const parentId = input.parentGroup === undefined ? undefined : await resolveParent(tx, input.parentGroup, group.id)
    const [row] = await tx.update(groups).set({
      ...(input.name === undefined ? {} : { name: input.name }),
      ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
      ...(input.description === undefined ? {} : { description: input.description }),
      ...(parentId === undefined ? {} : { parentId }),
      ...(input.permissions === undefined ? {} : { permissions: { ...group.permissions, ...input.permissions } }),
      ...(input.settings === undefined ? {} : { settings: { ...group.settings, ...input.settings } }),
      updatedAt: new Date()
    }).where(eq(groups.id, group.id)).returning()
    return row!
  })
}

export async function deleteGroup (db: Database, group: GroupRow): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${HIERARCHY_LOCK})`)
    const [child] = await tx.select({ name: groups.name }).from(groups).where(eq(groups.parentId, group.id)).limit(1)
    if (child !== undefined) throw conflict(`Group has sub-groups (e.g. "${child.name}"): move or delete them first`)
    await tx.delete(groups).where(eq(groups.id, group.id))
  })
}

export async function listMembers (db: Database, group: GroupRow, query: ListQuery) {
  const page = await listPage<typeof groupMembers.$inferSelect>(db, MEMBER_LIST, query, [eq(groupMembers.groupId, group.id)])
  const ids = page.items.map((row) => row.userId)
  const names = ids.length === 0 ? [] : await db.select({ id: users.id, username: users.username }).from(users).where(inArray(users.id, ids))
  const usernames = new Map(names.map((row) => [row.id, row.username]))
  return {
    items: page.items.map((row) => ({ userId: row.userId, username: usernames.get(row.userId) ?? '', role: row.role, status: row.status, joinedAt: row.createdAt.toISOString() })),
    pagination: page.pagination
  }
}

/**
 * Adds a member on behalf of `by` (null: the hub itself, e.g. auto-assignment). The group row is
 * locked first, so concurrent additions never exceed `maxMembers`. With `requireApproval`,
 * members added by anyone but a hub admin are pending.
 */
export async function addMember (db: Database, group: GroupRow, input: { userId: string, role?: 'member' | 'admin' }, by: Principal | null) {
  return await db.transaction(async (tx) => {
    const [locked] = await tx.select().from(groups).where(eq(groups.id, group.id)).for('update')
    if (locked === undefined) throw notFound('Group')
    const [user] = await tx.select({ id: users.id, username: users.username }).from(users).where(eq(users.id, input.userId))
    if (user === undefined) throw validationFailed('userId', 'no such user')
    const [existing] = await tx.select({ userId: groupMembers.userId }).from(groupMembers).where(and(eq(groupMembers.groupId, group.id), eq(groupMembers.userId, input.userId)))
    if (existing !== undefined) throw conflict('User is already a member of this group', { field: 'userId', reason: 'is already a member' })
    const { maxMembers, requireApproval } = locked.settings
    if (maxMembers !== null) {
      const [row] = await tx.select({ n: count() }).from(groupMembers).where(eq(groupMembers.groupId, group.id))
      if ((row?.n ?? 0) >= maxMembers) throw conflict(`Group is full (maxMembers ${maxMembers})`)
    }
    const status = requireApproval && by !== null && !isAdmin(by) ? 'pending' as const : 'active' as const
    const [member] = await tx.insert(groupMembers).values({ groupId: group.id, userId: user.id, role: input.role ?? 'member', status, addedBy: by?.userId ?? null }).returning()
    return { userId: user.id, username: user.username, role: member!.role, status: member!.status, joinedAt: member!.createdAt.toISOString() }
  })
}

async function changeMember (db: Database, group: GroupRow, userId: string, change: { role?: 'member' | 'admin', status?: 'active' }) {
  const [member] = await db.update(groupMembers).set(change)
    .where(and(eq(groupMembers.groupId, group.id), eq(groupMembers.userId, userId))).returning()
  if (member === undefined) throw notFound('Member')
  const [user] = await db.select({ username: users.username }).from(users).where(eq(users.id, userId))
  return { userId, username: user?.username ?? '', role: member.role, status: member.status, joinedAt: member.createdAt.toISOString() }
}

export const setMemberRole = (db: Database, group: GroupRow, userId: string, role: 'member' | 'admin') => changeMember(db, group, userId, { role })

/** Approves a pending member: not by whoever added them, unless a hub admin (`requireApproval` binds group admins too). */
export async function approveMember (db: Database, group: GroupRow, userId: string, approver: Principal) {
  const [member] = await db.select({ status: groupMembers.status, addedBy: groupMembers.addedBy }).from(groupMembers)
    .where(and(eq(groupMembers.groupId, group.id), eq(groupMembers.userId, userId)))
  if (member === undefined) throw notFound('Member')
  if (member.status === 'pending' && approvalVerdict(approver, member.addedBy) === 'forbid') {
    throw authorizationFailed('A member is approved by someone other than who added them')
  }
  return await changeMember(db, group, userId, { status: 'active' })
}

export async function removeMember (db: Database, group: GroupRow, userId: string): Promise<void> {
  const removed = await db.delete(groupMembers).where(and(eq(groupMembers.groupId, group.id), eq(groupMembers.userId, userId))).returning()
  if (removed.length === 0) throw notFound('Member')
}

export async function listAssignments (db: Database, group: GroupRow, query: ListQuery) {
  const page = await listPage<typeof groupServers.$inferSelect>(db, ASSIGNMENT_LIST, query, [eq(groupServers.groupId, group.id)])
  const ids = page.items.map((row) => row.serverId)
  const names = ids.length === 0 ? [] : await db.select({ id: servers.id, name: servers.name }).from(servers).where(inArray(servers.id, ids))
  const serverNames = new Map(names.map((row) => [row.id, row.name]))
  return {
    items: page.items.map((row) => ({ serverId: row.serverId, serverName: serverNames.get(row.serverId) ?? '', permissions: row.permissions, createdAt: row.createdAt.toISOString() })),
    pagination: page.pagination
  }
}

export async function assignServer (db: Database, group: GroupRow, input: { serverId: string, permissions: ServerAction[] }) {
  const [server] = await db.select({ id: servers.id, name: servers.name }).from(servers).where(eq(servers.id, input.serverId))
  if (server === undefined) throw validationFailed('serverId', 'no such server')
  const [row] = await db.insert(groupServers).values({ groupId: group.id, serverId: server.id, permissions: input.permissions }).returning()
  return { serverId: server.id, serverName: server.name, permissions: row!.permissions, createdAt: row!.createdAt.toISOString() }
}

export async function updateAssignment (db: Database, group: GroupRow, serverId: string, permissions: ServerAction[]) {
  const [row] = await db.update(groupServers).set({ permissions })
    .where(and(eq(groupServers.groupId, group.id), eq(groupServers.serverId, serverId))).returning()
  if (row === undefined) throw notFound('Assignment')
  const [server] = await db.select({ name: servers.name }).from(servers).where(eq(servers.id, serverId))
  return { serverId, serverName: server?.name ?? '', permissions: row.permissions, createdAt: row.createdAt.toISOString() }
}

export async function removeAssignment (db: Database, group: GroupRow, serverId: string): Promise<void> {
  const removed = await db.delete(groupServers).where(and(eq(groupServers.groupId, group.id), eq(groupServers.serverId, serverId))).returning()
  if (removed.length === 0) throw notFound('Assignment')
}

/** Group names per user (active and pending memberships), for user DTOs. */
export async function groupNamesByUser (db: Database, userIds: string[]): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>(userIds.map((id) => [id, []]))
  if (userIds.length === 0) return result
  const rows = await db.select({ userId: groupMembers.userId, name: groups.name }).from(groupMembers)
    .innerJoin(groups, eq(groups.id, groupMembers.groupId))
    .where(inArray(groupMembers.userId, userIds)).orderBy(groups.name)
  for (const row of rows) result.get(row.userId)?.push(row.name)
  return result
}

/**
 * Sets a user's memberships to exactly these groups (by name): an admin's edit, so members
 * join active. Unknown names are a 422; full groups a 409.
 */
export async function setUserGroups (db: Database, userId: string, names: string[]): Promise<void> {
  const wanted = names.length === 0 ? [] : await db.select().from(groups).where(inArray(groups.name, names))
  const missing = names.find((name) => !wanted.some((group) => group.name === name))
  if (missing !== undefined) throw validationFailed('groups', `group "${missing}" does not exist`)
  const current = await db.select({ groupId: groupMembers.groupId }).from(groupMembers).where(eq(groupMembers.userId, userId))
  const stale = current.filter((row) => !wanted.some((group) => group.id === row.groupId)).map((row) => row.groupId)
  if (stale.length > 0) await db.delete(groupMembers).where(and(eq(groupMembers.userId, userId), inArray(groupMembers.groupId, stale)))
  for (const group of wanted) {
    if (current.some((row) => row.groupId === group.id)) continue
    await addMember(db, group, { userId }, null)
  }
}

/** New users join every `autoAssign` group that has room. */
export async function autoAssign (db: Database, userId: string): Promise<void> {
  const candidates = await db.select().from(groups).where(sql`(${groups.settings}->>'autoAssign')::boolean`)
  for (const group of candidates) {
    try {
      await addMember(db, group, { userId }, null)
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'RESOURCE_CONFLICT')) throw error
    }
  }
}
