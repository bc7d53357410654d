import { sql } from 'drizzle-orm'
import type { Database } from '../db/client.ts'

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

/** One statement however large the batch (arrays, not one parameter per value). */
function insertBatch (batch: ToolCallRecord[]) {
  const column = <T>(pick: (call: ToolCallRecord) => T) => sql.param(batch.map(pick))
  return sql`
    insert into tool_calls (user_id, server_id, tool, started_at, duration_ms, ok, error)
    select * from unnest(${column((call) => call.userId)}::uuid[], ${column((call) => call.serverId)}::uuid[], ${column((call) => call.tool)}::text[],
      ${column((call) => call.startedAt.toISOString())}::timestamptz[], ${column((call) => call.durationMs)}::int[], ${column((call) => call.ok)}::boolean[],
      ${column((call) => call.error)}::text[])`
}

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
        await this.#db.execute(insertBatch(batch))
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
