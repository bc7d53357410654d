import { sql } from 'drizzle-orm'
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
/** A batch keeps the embedded database's thread busy for about 50 ms. */
const MAX_BATCH = 1000
const CLOSE_FLUSH_MS = 2000
/**
 * Calls recorded within this long mean calls in flight: the backlog waits for a quiet moment
 * (looked for this often), at most `MAX_DEFER_MS` or half the backlog's items, so that the
 * database's work does not compete with the calls for the CPU.
 */
const QUIET_MS = 200
const MAX_DEFER_MS = 5000

/** PostgreSQL text cannot hold NUL, nor JSON a lone surrogate: such a record would fail its whole batch. */
const storable = (text: string) => text.toWellFormed().replaceAll('\0', '\uFFFD')

/** The table's column of each field of a record (the id is the table's own). */
const COLUMNS = {
  userId: toolCalls.userId,
  serverId: toolCalls.serverId,
  tool: toolCalls.tool,
  startedAt: toolCalls.startedAt,
  durationMs: toolCalls.durationMs,
  ok: toolCalls.ok,
  error: toolCalls.error
} satisfies Record<keyof ToolCallRecord, unknown>
const FIELDS = Object.keys(COLUMNS) as Array<keyof ToolCallRecord>
const columnList = sql.join(Object.values(COLUMNS).map((column) => sql.identifier(column.name)), sql`, `)

/**
 * One statement with one parameter, the batch as JSON, whatever its length: building and
 * binding a multi-row VALUES (7 parameters a row) took 8–10% of the hub's CPU under 16 callers
 * on the embedded database, which runs it on the hub's own thread; building the JSON, under 2%.
 */
function insertBatch (batch: ToolCallRecord[]) {
  const rows = batch.map((call) => {
    const stored: ToolCallRecord = { ...call, tool: storable(call.tool), error: call.error === null ? null : storable(call.error) }
    return Object.fromEntries(FIELDS.map((field) => [COLUMNS[field].name, stored[field]]))
  })
  return sql`insert into ${toolCalls} (${columnList}) select ${columnList} from json_populate_recordset(null::${toolCalls}, ${JSON.stringify(rows)}::json)`
}

/**
 * Records tool calls off the hot path: queued in a bounded backlog, written in batches while no
 * calls are being made (or once the backlog waited long enough), retried.
 */
export class ToolCallLog {
  readonly #writer: BatchWriter<ToolCallRecord>
  #lastRecordAt = -Infinity

  /** `onError` hears of failed writes and of records dropped (the backlog was full). */
  constructor (db: Database, onError: (error: Error) => void) {
    this.#writer = new BatchWriter<ToolCallRecord>({
      ...BACKLOG,
      maxBatch: MAX_BATCH,
      intervalMs: QUIET_MS,
      busy: () => performance.now() - this.#lastRecordAt < QUIET_MS,
      maxDeferMs: MAX_DEFER_MS,
      sizeOf: (call) => 100 + call.tool.length + (call.error?.length ?? 0),
      write: async (batch) => { await db.execute(insertBatch(batch)) },
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
    this.#lastRecordAt = performance.now()
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
