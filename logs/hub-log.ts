import type { hubLogs } from '../db/schema.ts'
import { BatchWriter, driverMessage, permanentDatabaseError } from '../lib/batch-writer.ts'

/** pino's levels, lowest first, with their numbers. */
export const HUB_LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export type HubLogLevel = typeof HUB_LOG_LEVELS[number]
const LEVEL_NAMES: Record<number, HubLogLevel> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/**
 * Where an entry comes from: the `source` binding of the logger that wrote it (`auth`,
 * `supervisor`, `gateway`, `database`, `ws`), else `http` for an entry bound to a request, else `hub`.
 */
export const HUB_LOG_SOURCES = ['http', 'auth', 'supervisor', 'gateway', 'database', 'ws', 'alerts', 'hub'] as const

export type HubLogInsert = typeof hubLogs.$inferInsert

/** Fastify's two lines per request: the metrics count requests, so they are not stored. */
const ACCESS_MESSAGES = new Set(['incoming request', 'request completed'])
const RATE_LIMITED = 'RATE_LIMIT_EXCEEDED'
/** What pino adds to every line, or what has a column of its own. */
const NOT_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'source'])
const MAX_MESSAGE_CHARS = 8 * 1024
/** Bounds on `fields`: each value's JSON text, and all of them. */
const MAX_FIELD_CHARS = 4 * 1024
const MAX_FIELDS_CHARS = 16 * 1024
/** The entries waiting to be written, at most (a flood or a database outage drops the rest, counted). */
const BACKLOG = { maxItems: 10_000, maxBytes: 8 * 1024 * 1024 }
/** pino sets `lastMsg` and `lastObj` on a destination that asks for it: access lines are told apart without parsing. */
const PINO_METADATA = Symbol.for('pino.metadata')

interface Logger {
  warn(object: object, message: string): void
}

export interface HubLogWriting {
  /** Stores a batch of entries. */
  write: (entries: HubLogInsert[]) => Promise<void>
  /** Where the store's own trouble is told (never stored itself). */
  log: Logger
}

/** A text as it can be stored: at most `max` characters, no half of a surrogate pair. */
export function cut (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max).toWellFormed()} …[cut, ${text.length} characters]`
}

/** An entry's other fields, within MAX_FIELD_CHARS each and MAX_FIELDS_CHARS in all. */
function boundedFields (fields: Record<string, unknown>): Record<string, unknown> {
  if (JSON.stringify(fields).length <= MAX_FIELDS_CHARS) return fields
  const kept: Record<string, unknown> = {}
  let size = 0
  for (const [key, value] of Object.entries(fields)) {
    const json = JSON.stringify(value) ?? 'null'
    const bounded = json.length > MAX_FIELD_CHARS ? cut(json, MAX_FIELD_CHARS) : value
    size += key.length + Math.min(json.length, MAX_FIELD_CHARS + 40)
    if (size > MAX_FIELDS_CHARS) {
      kept['…'] = `[cut: ${Object.keys(fields).length - Object.keys(kept).length} more fields]`
      break
    }
    kept[key] = bounded
  }
  return kept
}

/**
 * Whether pino's entry (its message and the object logged with it) is one of those not stored:
 * a line per request (access lines, refusals by the rate limiter), which the metrics count and
 * whose storing would let a flood of requests write to the database.
 */
function perRequest (message: unknown, object: unknown): boolean {
  return ACCESS_MESSAGES.has(message as string) || (message === 'request refused' && (object as { code?: unknown } | undefined)?.code === RATE_LIMITED)
}

/**
 * One pino line as a row: its level, time, source and message, and its other fields. NUL and
 * lone surrogates, which PostgreSQL refuses (and with them the whole batch), become U+FFFD
 * (JSON.stringify, which pino uses, escapes only lone surrogates, never a pair).
 */
export function entryOf (line: string): HubLogInsert | undefined {
  let text = line.toWellFormed()
  if (text.includes('\\u')) text = text.replace(/\\u0000|\\ud[89a-f][0-9a-f]{2}/gi, '\\ufffd')
  let parsed: Record<string, unknown>
  try {
    parsed = JSON.parse(text) as Record<string, unknown>
  } catch {
    return undefined
  }
  const fields: Record<string, unknown> = {}
  for (const key of Object.keys(parsed)) if (!NOT_FIELDS.has(key)) fields[key] = parsed[key]
  const { level, time, msg, source } = parsed
  return {
    time: new Date(typeof time === 'number' ? time : Date.now()),
    level: LEVEL_NAMES[level as number] ?? 'info',
    source: typeof source === 'string' && source !== '' ? cut(source, 64) : 'reqId' in fields || 'req' in fields ? 'http' : 'hub',
    message: cut(typeof msg === 'string' ? msg : '', MAX_MESSAGE_CHARS),
    fields: Object.keys(fields).length === 0 ? null : boundedFields(fields)
  }
}

/**
 * The hub's own log, kept in the database: a pino destination (`stream`) given the entries at
 * or above the store level. It holds them as written (redacted, serialized) from the moment the
 * logger exists, within the backlog's bounds, and once `start` gives it somewhere to write (the
 * database is open), writes them in batches. Lines logged for every request (`perRequest`) are
 * skipped.
 */
export class HubLog {
  /** The lowest level stored. */
  readonly level: HubLogLevel | 'silent'
  readonly stream: { write(line: string): void, lastMsg?: unknown, lastObj?: unknown, [PINO_METADATA]: true }
  /** The lines logged before `start`, within the backlog's bounds. */
  #held: string[] = []
  #heldChars = 0
  #droppedBeforeStart = 0
  #writer: BatchWriter<string> | undefined
  /** While the store logs its own trouble: those lines are not stored (a failing write would feed itself). */
  #quiet = false

  constructor (level: HubLogLevel | 'silent') {
    this.level = level
    const hubLog = this
    this.stream = {
      [PINO_METADATA]: true,
      write (line: string) {
        if (!hubLog.#quiet && !perRequest(this.lastMsg, this.lastObj)) hubLog.#add(line)
      }
    }
  }

  /** Entries dropped so far (backlog full, refused by the database, left at close). */
  get dropped (): number {
    return this.#droppedBeforeStart + (this.#writer?.dropped ?? 0)
  }

  /** Starts writing: first the entries held since the logger was created. */
  async start ({ write, log }: HubLogWriting): Promise<void> {
    const tell = (object: object, message: string) => {
      this.#quiet = true
      try {
        log.warn(object, message)
      } finally {
        this.#quiet = false
      }
    }
    const writer = new BatchWriter<string>({
      ...BACKLOG,
      sizeOf: (line) => line.length,
      write: async (lines) => { await write(lines.map(entryOf).filter((entry) => entry !== undefined)) },
      permanent: permanentDatabaseError,
      onError: (error, retrying) => { tell({ err: { message: driverMessage(error) }, retrying }, 'could not store hub log entries') },
      onDrop: (dropped) => { tell({ dropped }, 'hub log entries dropped: the backlog is full or the database refused them') }
    })
    for (const line of this.#held) writer.add(line)
    this.#held = []
    this.#writer = writer
    if (this.#droppedBeforeStart > 0) tell({ dropped: this.#droppedBeforeStart }, 'hub log entries dropped before the database was open')
    await writer.flush()
  }

  /** Writes the entries still waiting (never rejects: a failed write is retried later). */
  async flush (): Promise<void> {
    await this.#writer?.flush()
  }

  /** Writes what is left within `timeoutMs`; later entries are dropped. */
  async close (timeoutMs: number): Promise<void> {
    await this.#writer?.close(timeoutMs)
  }

  #add (line: string): void {
    if (this.#writer !== undefined) {
      this.#writer.add(line)
    } else if (this.#held.length < BACKLOG.maxItems && this.#heldChars + line.length <= BACKLOG.maxBytes) {
      this.#held.push(line)
      this.#heldChars += line.length
    } else {
      this.#droppedBeforeStart++
    }
  }
}
