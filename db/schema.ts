import { sql } from 'drizzle-orm'
import { bigint, boolean, check, index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()

export interface UserProfile {
  firstName?: string
  lastName?: string
  department?: string
}

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  username: text('username').notNull(),
  email: text('email'),
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['admin', 'user'] }).notNull().default('user'),
  profile: jsonb('profile').$type<UserProfile>().notNull().default({}),
  /** TOTP secret, encrypted; set once enrolment is confirmed. */
  mfaSecret: text('mfa_secret'),
  /** TOTP secret awaiting confirmation with a first code, encrypted. */
  mfaPendingSecret: text('mfa_pending_secret'),
  /** Last accepted TOTP time step: a code is never accepted twice. */
  mfaLastStep: bigint('mfa_last_step', { mode: 'number' }),
  createdAt: createdAt(),
  updatedAt: updatedAt()
}, (table) => [
  uniqueIndex('users_username_lower_key').on(sql`lower(${table.username})`),
  uniqueIndex('users_email_lower_key').on(sql`lower(${table.email})`),
  check('users_role_check', sql`${table.role} in ('admin', 'user')`)
])

export type UserRow = typeof users.$inferSelect

/** A login: its refresh tokens rotate, its access tokens carry its id. */
export const sessions = pgTable('sessions', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  createdAt: createdAt(),
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' })
}, (table) => [index('sessions_user_id_idx').on(table.userId)])

/** Refresh tokens, stored as SHA-256 only. A spent one presented again revokes its session. */
export const refreshTokens = pgTable('refresh_tokens', {
  id: uuid('id').primaryKey().defaultRandom(),
  sessionId: uuid('session_id').notNull().references(() => sessions.id, { onDelete: 'cascade' }),
  tokenHash: text('token_hash').notNull(),
  spentAt: timestamp('spent_at', { withTimezone: true, mode: 'date' }),
  createdAt: createdAt()
}, (table) => [
  uniqueIndex('refresh_tokens_token_hash_key').on(table.tokenHash),
  index('refresh_tokens_session_id_idx').on(table.sessionId)
])

/** Long-lived keys: a public prefix for lookup, the SHA-256 of the secret part. */
export const apiKeys = pgTable('api_keys', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  name: text('name').notNull(),
  prefix: text('prefix').notNull(),
  secretHash: text('secret_hash').notNull(),
  readOnly: boolean('read_only').notNull().default(false),
  createdAt: createdAt(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' })
}, (table) => [
  uniqueIndex('api_keys_prefix_key').on(table.prefix),
  index('api_keys_user_id_idx').on(table.userId)
])

export type ApiKeyRow = typeof apiKeys.$inferSelect

/** Unique constraints and the API field each protects, for 409 details. */
export const UNIQUE_FIELDS: Record<string, string> = {
  users_username_lower_key: 'username',
  users_email_lower_key: 'email'
}
