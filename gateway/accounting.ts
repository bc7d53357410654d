import type { Database } from '../db/client.ts'
import { toolCalls } from '../db/schema.ts'
import { BatchWriter, driverMessage, permanentDatabaseError } from '../lib/batch-writer.ts'

export interface ToolCallRecord {
  userId: string
  serverId: string
  tool: string
  startedAt: Date
  durationMs: number
  ok: boolean
  error: string | null
}

/** Records waiting to be written, at most: a database outage this long loses nothing. */
const BACKLOG = { maxItems: 10_000, maxBytes: 4 * 1024 * 1024 }
/** 7 parameters a row, well under PostgreSQL's 65,535 a statement. */
const MAX_BATCH = 2000
const CLOSE_FLUSH_MS = 2000

/** PostgreSQL text cannot hold NUL: such a record would fail its whole batch. */
const storable = (text: string) => text.replaceAll('\0', '\uFFFD')

/** Records tool calls off the hot path: queued in a bounded backlog, written in batches, retried. */
export class ToolCallLog {
  readonly #writer: BatchWriter<ToolCallRecord>

  /** `onError` hears of failed writes and of records dropped (the backlog was full). */
  constructor (db: Database, onError: (error: Error) => void) {
    this.#writer = new BatchWriter<ToolCallRecord>({
      ...BACKLOG,
      maxBatch: MAX_BATCH,
      sizeOf: (call) => 100 + call.tool.length + (call.error?.length ?? 0),
      write: async (batch) => {
        await db.insert(toolCalls).values(batch.map((call) => ({ ...call, tool: storable(call.tool), error: call.error === null ? null : storable(call.error) })))
      },
      permanent: permanentDatabaseError,
      onError: (error) => onError(new Error(driverMessage(error))),
      onDrop: (count) => onError(new Error(`${count} tool-call records dropped: the backlog is full or the database refused them`))
    })
  }

  /** Records dropped so far. */
  get dropped (): number {
    return this.#writer.dropped
  }

  record (call: ToolCallRecord): void {
    this.#writer.add(call)
  }

  /** Writes what is waiting now (a failed write is retried later; never rejects). */
  flush (): Promise<void> {
    return this.#writer.flush()
  }

  async close (): Promise<void> {
    await this.#writer.close(CLOSE_FLUSH_MS)
  }
}
