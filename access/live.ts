import { and, eq, gt, isNull, or } from 'drizzle-orm'
import type { Database } from '../db/client.ts'
import { apiKeys, sessions, users } from '../db/schema.ts'
import type { Principal } from './principal.ts'

/** A long-lived stream (log follow, MCP event stream, WebSocket) and what it needs to go on. */
export interface LiveStream {
  /** Who opened it, with the credential used. */
  principal: Principal
  /** When that credential stops working by itself (a bearer token's expiry, ms); none: only when revoked. */
  expiresAt?: number
  /** Whether the principal (as it stands now) may still receive the stream, e.g. still read the server. */
  allowed: (principal: Principal) => Promise<boolean>
  /** Ends the stream; called at most once, when access is gone. */
  end: () => void
}

export interface LiveAccessOptions {
  db: () => Database
  /** The version of the stored records: any change makes every stream be checked again. */
  epoch: () => number
  now: () => number
  /** How often changes and expiries are looked for: a burst of changes costs one check per tick. */
  tickMs?: number
  /** Every stream is checked at least this often, also without a change seen here (another hub, a clock). */
  recheckMs?: number
  onError: (error: unknown) => void
}

/**
 * The principal as it stands now, if its credential still works: the user exists, its login
 * session is live, or its API key is neither revoked nor expired. The role is the current one.
 */
export async function currentPrincipal (db: Database, principal: Principal, now: number): Promise<Principal | undefined> {
  const [user] = await db.select({ role: users.role }).from(users).where(eq(users.id, principal.userId))
  if (user === undefined) return undefined
  if (principal.sessionId !== undefined) {
    const [session] = await db.select({ id: sessions.id }).from(sessions).where(and(eq(sessions.id, principal.sessionId), eq(sessions.userId, principal.userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date(now))))
    if (session === undefined) return undefined
  }
  if (principal.apiKeyId !== undefined) {
    const [key] = await db.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.id, principal.apiKeyId), eq(apiKeys.userId, principal.userId), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, new Date(now)))))
    if (key === undefined) return undefined
  }
  return { ...principal, role: user.role }
}

/**
 * Ends live streams whose credential or permission went away, within seconds: streams register
 * here, and are checked again whenever stored records change, every `recheckMs` anyway, and at
 * every tick for credentials that expire by themselves.
 */
export class LiveAccess {
  readonly #streams = new Set<LiveStream>()
  readonly #options: Required<LiveAccessOptions>
  readonly #timer: NodeJS.Timeout
  #checkedEpoch = -1
  #checkedAt = 0
  #checking: Promise<void> | undefined

  constructor (options: LiveAccessOptions) {
    this.#options = { tickMs: 1000, recheckMs: 5000, ...options }
    this.#timer = setInterval(() => { this.#tick() }, this.#options.tickMs)
    this.#timer.unref()
  }

  get size (): number {
    return this.#streams.size
  }

  /** Watches a stream until it ends; the returned function stops watching (call it when the stream ends on its own). */
  watch (stream: LiveStream): () => void {
    this.#streams.add(stream)
    return () => { this.#streams.delete(stream) }
  }

  /** Checks every stream now; resolves once those that lost access are ended. */
  async check (): Promise<void> {
    this.#checking ??= this.#checkAll().finally(() => { this.#checking = undefined })
    await this.#checking
  }

  close (): void {
    clearInterval(this.#timer)
    this.#streams.clear()
  }

  #tick (): void {
    if (this.#streams.size === 0 || this.#checking !== undefined) return
    const now = this.#options.now()
    for (const stream of this.#streams) {
      if (stream.expiresAt !== undefined && stream.expiresAt <= now) this.#end(stream)
    }
    if (this.#options.epoch() !== this.#checkedEpoch || now - this.#checkedAt >= this.#options.recheckMs) {
      this.check().catch((error: unknown) => { this.#options.onError(error) })
    }
  }

  async #checkAll (): Promise<void> {
    this.#checkedEpoch = this.#options.epoch()
    const now = this.#options.now()
    this.#checkedAt = now
    const db = this.#options.db()
    // Streams of one credential share its lookup.
    const current = new Map<string, Promise<Principal | undefined>>()
    await Promise.all([...this.#streams].map(async (stream) => {
      const { principal } = stream
      const key = `${principal.userId}:${principal.sessionId ?? ''}:${principal.apiKeyId ?? ''}`
      if (!current.has(key)) current.set(key, currentPrincipal(db, principal, now))
      const standing = await current.get(key)
      const keep = (stream.expiresAt === undefined || stream.expiresAt > now) && standing !== undefined && await stream.allowed(standing)
      if (!keep) this.#end(stream)
    }))
  }

  #end (stream: LiveStream): void {
    if (!this.#streams.delete(stream)) return
    stream.end()
  }
}
