import { eq } from 'drizzle-orm'
import type { Database } from '../../db/client.ts'
import { users } from '../../db/schema.ts'
import { hashPassword } from '../../lib/passwords.ts'

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
