import type { Database } from '../db/client.ts'
import { toolCalls } from '../db/schema.ts'

export interface ToolCallRecord {
  userId: string
  serverId: string
  tool: string
  startedAt: Date
  durationMs: number
  ok: boolean
  error: string | null
}

const FLUSH_INTERVAL_MS = 1000
const MAX_PENDING = 10_000

/** Records tool calls off the hot path: queued in memory, written in batches. */
export class ToolCallLog {
  readonly #db: Database
  readonly #onError: (error: Error) => void
  #pending: ToolCallRecord[] = []
  #dropped = 0
  #writing: Promise<void> = Promise.resolve()
  readonly #timer: NodeJS.Timeout

  constructor (db: Database, onError: (error: Error) => void) {
    this.#db = db
    this.#onError = onError
    this.#timer = setInterval(() => { this.flush().catch(() => {}) }, FLUSH_INTERVAL_MS)
    this.#timer.unref()
  }

  /** Calls dropped because the database could not keep up. */
  get dropped (): number {
    return this.#dropped
  }

  record (call: ToolCallRecord): void {
    if (this.#pending.length >= MAX_PENDING) this.#dropped++
    else this.#pending.push(call)
  }

  flush (): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      const batch = this.#pending
      this.#pending = []
      if (batch.length === 0) return
      try {
        await this.#db.insert(toolCalls).values(batch)
      } catch (error) {
        this.#onError(error as Error)
      }
    })
    return this.#writing
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }
}
