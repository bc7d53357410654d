import { randomBytes } from 'node:crypto'
import type { Server, Transport } from '@modelcontextprotocol/server'
import { withTimeout } from '../lib/timeout.ts'

/** A session's transport: it can tell when every request of its client has been answered. */
export interface SessionTransport extends Transport {
  idle: () => Promise<void>
}

/** A stateful MCP session (Streamable HTTP or HTTP+SSE): one transport, one server, one user, one endpoint. */
export interface Session {
  id: string
  userId: string
  /** The endpoint path it was opened on; using it elsewhere is refused. */
  path: string
  transport: SessionTransport
  server: Server
  lastSeen: number
}

export interface SessionLimits {
  idleMs: number
  perUser: number
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, perUser: 32 }

/** 256 random bits, URL-safe. */
export function newSessionId (): string {
  return randomBytes(32).toString('base64url')
}

/** Open sessions: expire when idle, capped per user (the least recently used goes first). */
export class SessionStore {
  readonly #sessions = new Map<string, Session>()
  readonly #limits: SessionLimits
  readonly #onClose: (session: Session) => void
  readonly #timer: NodeJS.Timeout

  constructor (limits: SessionLimits = DEFAULT_SESSION_LIMITS, onClose: (session: Session) => void = () => {}) {
    this.#limits = limits
    this.#onClose = onClose
    this.#timer = setInterval(() => { this.sweep() }, Math.min(60_000, limits.idleMs))
    this.#timer.unref()
  }

  get size (): number {
    return this.#sessions.size
  }

  /** The session, if it belongs to this user and endpoint; touching it keeps it alive. */
  find (id: string, userId: string, path: string): Session | undefined {
    const session = this.#sessions.get(id)
    if (session === undefined || session.userId !== userId || session.path !== path) return undefined
    session.lastSeen = Date.now()
    return session
  }

  /** Any user's session: for messages the hub itself sends it. */
  get (id: string): Session | undefined {
    return this.#sessions.get(id)
  }

  add (session: Session): void {
    const own = [...this.#sessions.values()].filter((other) => other.userId === session.userId).sort((a, b) => a.lastSeen - b.lastSeen)
    for (const oldest of own.slice(0, Math.max(0, own.length - this.#limits.perUser + 1))) this.close(oldest.id)
    this.#sessions.set(session.id, session)
  }

  close (id: string): void {
    const session = this.#sessions.get(id)
    if (session === undefined) return
    this.#sessions.delete(id)
    this.#onClose(session)
    session.transport.close().catch(() => {})
    session.server.close().catch(() => {})
  }

  sweep (now = Date.now()): void {
    for (const session of [...this.#sessions.values()]) {
      if (now - session.lastSeen > this.#limits.idleMs) this.close(session.id)
    }
  }

  all (): Session[] {
    return [...this.#sessions.values()]
  }

  /** Waits, at most `timeoutMs`, until no session has a request waiting for its answer; whether none has. */
  async drain (timeoutMs: number): Promise<boolean> {
    return await withTimeout(Promise.all(this.all().map(async (session) => { await session.transport.idle() })), timeoutMs, 'calls still in flight')
      .then(() => true, () => false)
  }

  closeAll (): void {
    clearInterval(this.#timer)
    for (const id of [...this.#sessions.keys()]) this.close(id)
  }
}
