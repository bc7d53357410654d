import { and, eq, ne, sql } from 'drizzle-orm'
import type { Database } from '../../db/client.ts'
import { apiKeys, sessions, users, type UserProfile, type UserRow } from '../../db/schema.ts'
import { authorizationFailed, conflict, notFound, validationFailed } from '../../lib/errors.ts'
import { listPage, type ListQuery, type ListSpec } from '../../lib/list.ts'
import { hashPassword, verifyPassword } from '../../lib/passwords.ts'
import { isAdmin, type Principal } from '../../access/index.ts'
import { autoAssign, groupNamesByUser, setUserGroups } from '../groups/service.ts'

export const USER_LIST: ListSpec = {
  table: users,
  sort: { createdAt: users.createdAt, username: users.username, email: users.email, role: users.role, updatedAt: users.updatedAt },
  filters: { role: users.role, username: users.username, email: users.email },
  search: [users.username, users.email],
  createdAt: users.createdAt,
  id: users.id
}

/** Serialises the admin-lock: the last admin check and the change happen as one. */
const ADMINS_LOCK = 0x6d636861

export function toDto (row: UserRow, groups: string[]) {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    role: row.role,
    groups,
    profile: row.profile,
    mfaEnabled: row.mfaSecret !== null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString()
  }
}

export async function listUsers (db: Database, query: ListQuery) {
  const page = await listPage<UserRow>(db, USER_LIST, query)
  const groups = await groupNamesByUser(db, page.items.map((row) => row.id))
  return { items: page.items.map((row) => toDto(row, groups.get(row.id) ?? [])), pagination: page.pagination }
}

/** A user as the API shows them, with their groups. */
export async function userDto (db: Database, row: UserRow) {
  return toDto(row, (await groupNamesByUser(db, [row.id])).get(row.id) ?? [])
}

export async function getUser (db: Database, userId: string): Promise<UserRow> {
  const [user] = await db.select().from(users).where(eq(users.id, userId))
  if (user === undefined) throw notFound('User')
  return user
}

export interface CreateUserInput {
  username: string
  email?: string
  password: string
  role?: 'admin' | 'user'
  groups?: string[]
  profile?: UserProfile
}

/** Creates a user with the groups named, or else the `autoAssign` groups. */
export async function createUser (db: Database, input: CreateUserInput): Promise<UserRow> {
  const passwordHash = await hashPassword(input.password)
  return await db.transaction(async (tx) => {
    const [row] = await tx.insert(users).values({
      username: input.username,
      email: input.email ?? null,
      passwordHash,
      role: input.role ?? 'user',
      profile: input.profile ?? {}
    }).returning()
    if (input.groups !== undefined) await setUserGroups(tx, row!.id, input.groups)
    await autoAssign(tx, row!.id)
    return row!
  })
}

export interface UpdateUserInput {
  username?: string
  email?: string | null
  password?: string
  currentPassword?: string
  keepApiKeys?: boolean
  role?: 'admin' | 'user'
  groups?: string[]
  profile?: UserProfile
}

/** Fields a user may change on their own account; the rest is for admins. */
const SELF_SERVICE_FIELDS = new Set(['email', 'password', 'currentPassword', 'keepApiKeys', 'profile'])

async function remainingAdmins (tx: Database, excluding: string): Promise<number> {
  await tx.execute(sql`select pg_advisory_xact_lock(${ADMINS_LOCK})`)
  const [row] = await tx.select({ n: sql<number>`count(*)::int` }).from(users).where(and(eq(users.role, 'admin'), ne(users.id, excluding)))
  return row?.n ?? 0
}

/**
 * Updates a user. Users may change their own email, profile and password (with the current
 * password, which ends their other sessions); admins anything, but never demote the last admin.
 * A password is changed only from a signed-in session, never with an API key, and revokes the
 * user's API keys unless `keepApiKeys` is set.
 */
export async function updateUser (db: Database, principal: Principal, userId: string, input: UpdateUserInput): Promise<UserRow> {
  const byAdmin = isAdmin(principal)
  const own = principal.userId === userId
  if (!byAdmin) {
    const forbidden = Object.keys(input).find((field) => !SELF_SERVICE_FIELDS.has(field))
    if (forbidden !== undefined) throw authorizationFailed(`Only admins may change ${forbidden}`)
  }
  if (input.keepApiKeys !== undefined && input.password === undefined) throw validationFailed('keepApiKeys', 'applies only with a new password')
  if (input.password !== undefined && principal.sessionId === undefined) {
    throw authorizationFailed('Changing a password needs a signed-in session (a bearer token from login), not an API key')
  }
  const current = await getUser(db, userId)
  if (input.password !== undefined && own) {
    if (input.currentPassword === undefined || !await verifyPassword(current.passwordHash, input.currentPassword)) {
      throw validationFailed('currentPassword', 'does not match the current password')
    }
  }
  const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password)
  return await db.transaction(async (tx) => {
    if (input.role === 'user' && current.role === 'admin' && await remainingAdmins(tx, userId) === 0) {
      throw conflict('The last admin cannot be demoted')
    }
    const [row] = await tx.update(users).set({
      ...(input.username === undefined ? {} : { username: input.username }),
      ...(input.email === undefined ? {} : { email: input.email }),
      ...(input.role === undefined ? {} : { role: input.role }),
      ...(input.profile === undefined ? {} : { profile: input.profile }),
      ...(passwordHash === undefined ? {} : { passwordHash }),
      updatedAt: new Date()
    }).where(eq(users.id, userId)).returning()
    if (input.groups !== undefined) await setUserGroups(tx, userId, input.groups)
    if (passwordHash !== undefined) {
      // A new password ends every session but the one that set it.
      const keep = own && principal.sessionId !== undefined ? ne(sessions.id, principal.sessionId) : undefined
      await tx.update(sessions).set({ revokedAt: new Date() }).where(and(eq(sessions.userId, userId), keep, sql`${sessions.revokedAt} is null`))
      if (input.keepApiKeys !== true) {
        await tx.update(apiKeys).set({ revokedAt: new Date() }).where(and(eq(apiKeys.userId, userId), sql`${apiKeys.revokedAt} is null`))
      }
    }
    return row!
  })
}

/** Deletes a user; their sessions and API keys go with them in the same transaction. */
export async function deleteUser (db: Database, userId: string): Promise<void> {
  await db.transaction(async (tx) => {
    const target = await getUser(tx, userId)
    if (target.role === 'admin' && await remainingAdmins(tx, userId) === 0) {
      throw conflict('The last admin cannot be deleted')
    }
    await tx.delete(users).where(eq(users.id, userId))
  })
}

/**
 * Creates the first admin when the hub has none. Returns true when this call created it;
 * two hubs starting at once on one database create it once (the username is unique).
 */
export async function createFirstAdmin (db: Database, username: string, password: string): Promise<boolean> {
  const [anyAdmin] = await db.select({ id: users.id }).from(users).where(eq(users.role, 'admin')).limit(1)
  if (anyAdmin) return false
  const created = await db.insert(users)
    .values({ username, passwordHash: await hashPassword(password), role: 'admin' })
    .onConflictDoNothing()
    .returning({ id: users.id })
  return created.length === 1
}
