import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm'
import type { Database } from '../../db/client.ts'
import { apiKeys, refreshTokens, sessions, users, type ApiKeyRow, type UserRow } from '../../db/schema.ts'
import { randomToken, safeEqual, sha256, type SecretBox } from '../../lib/crypto.ts'
import { authorizationFailed, conflict, HubError, notFound, validationFailed } from '../../lib/errors.ts'
import { hashPassword, verifyPassword } from '../../lib/passwords.ts'
import { generateTotpSecret, matchTotp, otpauthUri } from '../../lib/totp.ts'
import { isAdmin, type Principal } from '../../access/index.ts'

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60
export const SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000

/** What the auth routes need beside the database. */
export interface AuthContext {
  db: Database
  secrets: SecretBox
  now: () => number
}

/**
 * A refused sign-in, MFA code or refresh token: the caller gets the same 401 whatever failed;
 * `reason` and the account (when there is one) are for the activity trail only.
 */
export class CredentialsRefused extends HubError {
  readonly reason: string
  readonly user: Pick<UserRow, 'id' | 'username'> | undefined

  constructor (message: string, reason: string, user?: Pick<UserRow, 'id' | 'username'>) {
    super('AUTHENTICATION_FAILED', message)
    this.reason = reason
    this.user = user
  }
}

let dummyHash: Promise<string> | undefined
/** Verifying against this for unknown users makes both failures take the same time. */
function dummyPasswordHash (): Promise<string> {
  dummyHash ??= hashPassword(randomToken())
  return dummyHash
}

export function principalOf (user: Pick<UserRow, 'id' | 'username' | 'role'>, extra: Partial<Principal> = {}): Principal {
  return { userId: user.id, username: user.username, role: user.role, readOnly: false, ...extra }
}

/**
 * Account-security actions (MFA, passwords, new API keys) need an interactive session: an API
 * key must not be able to lock its owner out or mint itself successors.
 */
export function requireSession (principal: Principal, action: string): void {
  if (principal.sessionId === undefined) throw authorizationFailed(`${action} needs a signed-in session (a bearer token from login), not an API key`)
}

/** Checks username and password; the same error, in about the same time, for either wrong. */
export async function checkCredentials (db: Database, username: string, password: string): Promise<UserRow> {
  const [user] = await db.select().from(users).where(eq(sql`lower(${users.username})`, username.toLowerCase())).limit(1)
  const valid = await verifyPassword(user?.passwordHash ?? await dummyPasswordHash(), password)
  if (user === undefined) throw new CredentialsRefused('Invalid username or password', 'unknown-user')
  if (!valid) throw new CredentialsRefused('Invalid username or password', 'bad-password', user)
  return user
}

/** Verifies a TOTP code for a user with MFA and records its step so it is never accepted again. */
export async function checkMfaCode (ctx: AuthContext, user: UserRow, code: string | undefined): Promise<void> {
  if (user.mfaSecret === null) return
  if (code === undefined) throw new CredentialsRefused('MFA code required', 'mfa-required', user)
  const step = matchTotp(ctx.secrets.open(user.mfaSecret), code, ctx.now(), user.mfaLastStep)
  if (step === undefined) throw new CredentialsRefused('Invalid MFA code', 'mfa-invalid', user)
  // Conditional update: of two concurrent logins with one code, only one wins.
  const claimed = await ctx.db.update(users).set({ mfaLastStep: step })
    .where(and(eq(users.id, user.id), or(isNull(users.mfaLastStep), sql`${users.mfaLastStep} < ${step}`)))
    .returning({ id: users.id })
  if (claimed.length === 0) throw new CredentialsRefused('Invalid MFA code', 'mfa-invalid', user)
}

/** A session's current refresh token, and when the session (so the token) ends. */
export interface SessionGrant {
  sessionId: string
  refreshToken: string
  expiresAt: Date
}

/** Opens a session and returns its first refresh token (only its hash is stored). */
export async function openSession (ctx: AuthContext, userId: string): Promise<SessionGrant> {
  const refreshToken = randomToken()
  const expiresAt = new Date(ctx.now() + SESSION_TTL_MS)
  const sessionId = await ctx.db.transaction(async (tx) => {
    const [session] = await tx.insert(sessions).values({ userId, expiresAt }).returning({ id: sessions.id })
    await tx.insert(refreshTokens).values({ sessionId: session!.id, tokenHash: sha256(refreshToken) })
    return session!.id
  })
  return { sessionId, refreshToken, expiresAt }
}

/**
 * Spends a refresh token for a new one. A token presented after it was spent means it leaked:
 * the whole session is revoked (RFC 9700 reuse detection). Refusals say why (`unknown-token`,
 * `session-ended`, `reused`) and whose session it was.
 */
export async function rotateRefreshToken (ctx: AuthContext, token: string): Promise<SessionGrant & { user: UserRow }> {
  const next = randomToken()
  const outcome = await ctx.db.transaction(async (tx): Promise<{ refused: 'unknown-token' | 'session-ended' | 'reused', user?: UserRow } | { user: UserRow, sessionId: string, expiresAt: Date }> => {
    const [row] = await tx.select({ token: refreshTokens, session: sessions, user: users })
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(refreshTokens.tokenHash, sha256(token)))
      .for('update')
    if (row === undefined) return { refused: 'unknown-token' }
    if (row.token.spentAt !== null) {
      await tx.update(sessions).set({ revokedAt: new Date(ctx.now()) }).where(eq(sessions.id, row.session.id))
      return { refused: 'reused', user: row.user }
    }
    if (row.session.revokedAt !== null || row.session.expiresAt.getTime() <= ctx.now()) return { refused: 'session-ended', user: row.user }
    await tx.update(refreshTokens).set({ spentAt: new Date(ctx.now()) }).where(eq(refreshTokens.id, row.token.id))
    await tx.insert(refreshTokens).values({ sessionId: row.session.id, tokenHash: sha256(next) })
    return { user: row.user, sessionId: row.session.id, expiresAt: row.session.expiresAt }
  })
  if ('refused' in outcome) {
    const message = outcome.refused === 'reused' ? 'Refresh token already used; the session has been revoked' : 'Invalid refresh token'
    throw new CredentialsRefused(message, outcome.refused, outcome.user)
  }
  return { ...outcome, refreshToken: next }
}

export async function revokeSession (ctx: AuthContext, sessionId: string): Promise<void> {
  await ctx.db.update(sessions).set({ revokedAt: new Date(ctx.now()) }).where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
}

/**
 * Ends the session a refresh token belongs to, as signing out does. A spent token ends it too:
 * presenting one to be refreshed would revoke the session anyway.
 */
export async function revokeSessionOfRefreshToken (ctx: AuthContext, token: string): Promise<Pick<UserRow, 'id' | 'username'>> {
  const [row] = await ctx.db.select({ sessionId: refreshTokens.sessionId, user: { id: users.id, username: users.username } })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(refreshTokens.tokenHash, sha256(token)))
  if (row === undefined) throw new CredentialsRefused('Invalid refresh token', 'unknown-token')
  await revokeSession(ctx, row.sessionId)
  return row.user
}

/** The principal behind an access token's session, if the session is still live. */
export async function principalForSession (ctx: AuthContext, userId: string, sessionId: string): Promise<Principal | null> {
  const [row] = await ctx.db.select({ id: users.id, username: users.username, role: users.role })
    .from(sessions).innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date(ctx.now()))))
  return row === undefined ? null : principalOf(row, { sessionId })
}

// API keys: `mcphub_<prefix>_<secret>`; the prefix finds the row, the secret's SHA-256 is compared.
const API_KEY_PATTERN = /^mcphub_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/

function newPrefix (): string {
  return randomToken(12).replace(/[^A-Za-z0-9]/g, '').padEnd(12, '0').slice(0, 12)
}

export async function createApiKey (ctx: AuthContext, userId: string, input: { name: string, readOnly?: boolean, expiresAt?: string }): Promise<{ row: ApiKeyRow, key: string }> {
  const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt)
  if (expiresAt !== null && !(expiresAt.getTime() > ctx.now())) throw validationFailed('expiresAt', 'must be a time in the future')
  const prefix = newPrefix()
  const secret = randomToken(32)
  const [row] = await ctx.db.insert(apiKeys).values({
    userId,
    name: input.name,
    prefix,
    secretHash: sha256(secret),
    readOnly: input.readOnly ?? false,
    expiresAt
  }).returning()
  return { row: row!, key: `mcphub_${prefix}_${secret}` }
}

export async function principalForApiKey (ctx: AuthContext, key: string): Promise<Principal | null> {
  const match = API_KEY_PATTERN.exec(key)
  if (match === null) return null
  const [row] = await ctx.db.select({ key: apiKeys, user: { id: users.id, username: users.username, role: users.role } })
    .from(apiKeys).innerJoin(users, eq(users.id, apiKeys.userId))
    .where(eq(apiKeys.prefix, match[1]!))
  if (row === undefined || !safeEqual(row.key.secretHash, sha256(match[2]!))) return null
  if (row.key.revokedAt !== null || (row.key.expiresAt !== null && row.key.expiresAt.getTime() <= ctx.now())) return null
  // Off the hot path: at most once a minute per key, never awaited by the request.
  if (row.key.lastUsedAt === null || ctx.now() - row.key.lastUsedAt.getTime() > 60_000) {
    ctx.db.update(apiKeys).set({ lastUsedAt: new Date(ctx.now()) }).where(eq(apiKeys.id, row.key.id)).catch(() => {})
  }
  return principalOf(row.user, { apiKeyId: row.key.id, readOnly: row.key.readOnly })
}

export async function listApiKeys (ctx: AuthContext, userId: string | undefined): Promise<ApiKeyRow[]> {
  return await ctx.db.select().from(apiKeys)
    .where(userId === undefined ? undefined : eq(apiKeys.userId, userId))
    .orderBy(desc(apiKeys.createdAt))
}

/** Revokes a key: its owner's, or anyone's for an admin. Others' keys are not found. */
export async function revokeApiKey (ctx: AuthContext, principal: Principal, keyId: string): Promise<void> {
  const owner = isAdmin(principal) ? undefined : eq(apiKeys.userId, principal.userId)
  const revoked = await ctx.db.update(apiKeys).set({ revokedAt: new Date(ctx.now()) })
    .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt), owner))
    .returning({ id: apiKeys.id })
  if (revoked.length === 0) throw notFound('API key')
}

// MFA enrolment: start (pending secret) → confirm with a code (secret active) → disable with a code.

export async function startMfaEnrolment (ctx: AuthContext, user: UserRow): Promise<{ secret: string, otpauthUrl: string }> {
  if (user.mfaSecret !== null) throw conflict('MFA is already enabled')
  const secret = generateTotpSecret()
  await ctx.db.update(users).set({ mfaPendingSecret: ctx.secrets.seal(secret) }).where(eq(users.id, user.id))
  return { secret, otpauthUrl: otpauthUri(secret, user.username) }
}

export async function confirmMfaEnrolment (ctx: AuthContext, user: UserRow, code: string): Promise<void> {
  if (user.mfaSecret !== null) throw conflict('MFA is already enabled')
  if (user.mfaPendingSecret === null) throw conflict('Start MFA enrolment first')
  const step = matchTotp(ctx.secrets.open(user.mfaPendingSecret), code, ctx.now(), null)
  if (step === undefined) throw validationFailed('code', 'does not match the enrolment secret')
  await ctx.db.update(users).set({ mfaSecret: user.mfaPendingSecret, mfaPendingSecret: null, mfaLastStep: step }).where(eq(users.id, user.id))
}

export async function disableMfa (ctx: AuthContext, user: UserRow, code: string): Promise<void> {
  if (user.mfaSecret === null) throw conflict('MFA is not enabled')
  await checkMfaCode(ctx, user, code)
  await ctx.db.update(users).set({ mfaSecret: null, mfaPendingSecret: null, mfaLastStep: null }).where(eq(users.id, user.id))
}

export async function resetMfa (ctx: AuthContext, userId: string): Promise<void> {
  const reset = await ctx.db.update(users).set({ mfaSecret: null, mfaPendingSecret: null, mfaLastStep: null }).where(eq(users.id, userId)).returning({ id: users.id })
  if (reset.length === 0) throw notFound('User')
}
