import { sql } from 'drizzle-orm'
import { check, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'

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
  createdAt: createdAt(),
  updatedAt: updatedAt()
}, (table) => [
  uniqueIndex('users_username_lower_key').on(sql`lower(${table.username})`),
  uniqueIndex('users_email_lower_key').on(sql`lower(${table.email})`),
  check('users_role_check', sql`${table.role} in ('admin', 'user')`)
])

export type UserRow = typeof users.$inferSelect
