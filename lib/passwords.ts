import { randomBytes } from 'node:crypto'
import argon2 from 'argon2'

/** OWASP's argon2id parameters: 19 MiB, 2 iterations, 1 lane. */
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const
/**
 * The one password limit, wherever a password is accepted (creation, change, sign-in, the first
 * admin's): in characters (Unicode code points), which is what JSON Schema's maxLength counts.
 */
export const MAX_PASSWORD_LENGTH = 1024

export async function hashPassword (password: string): Promise<string> {
  return await argon2.hash(password, ARGON2_OPTIONS)
}

export async function verifyPassword (hash: string, password: string): Promise<boolean> {
  if ([...password].length > MAX_PASSWORD_LENGTH) return false
  return await argon2.verify(hash, password)
}

/** 144 random bits, URL-safe: for generated passwords. */
export function randomPassword (): string {
  return randomBytes(18).toString('base64url')
}
