/** One line of a server's log: its stderr, its MCP log messages, or the supervisor's own events. */
export interface LogEntry {
  seq: number
  time: Date
  level: LogLevel
  source: 'stderr' | 'mcp' | 'supervisor'
  message: string
}

/** MCP's (syslog) levels, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface LogBufferLimits {
  maxLines: number
  maxBytes: number
  /** Longer lines are cut to this many bytes. */
  maxLineBytes: number
}

export const DEFAULT_LOG_LIMITS: LogBufferLimits = { maxLines: 2000, maxBytes: 2 * 1024 * 1024, maxLineBytes: 16 * 1024 }

export function cutLine (line: string, maxBytes: number): string {
  if (Buffer.byteLength(line) <= maxBytes) return line
  return Buffer.from(line).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '') + ' …[cut]'
}

/**
 * The recent lines of one server, bounded in lines and bytes: the oldest go first. Listeners
 * see every line as it arrives (live follow, persistence).
 */
export class LogBuffer {
  readonly #limits: LogBufferLimits
  readonly #entries: LogEntry[] = []
  readonly #listeners = new Set<(entry: LogEntry) => void>()
  #bytes = 0
  #seq = 0

  constructor (limits: LogBufferLimits = DEFAULT_LOG_LIMITS) {
    this.#limits = limits
  }

  get bytes (): number {
    return this.#bytes
  }

  get size (): number {
    return this.#entries.length
  }

  add (level: LogLevel, source: LogEntry['source'], message: string, time = new Date()): LogEntry {
    const entry: LogEntry = { seq: ++this.#seq, time, level, source, message: cutLine(message, this.#limits.maxLineBytes) }
    this.#entries.push(entry)
    this.#bytes += Buffer.byteLength(entry.message)
    while (this.#entries.length > this.#limits.maxLines || this.#bytes > this.#limits.maxBytes) {
      const oldest = this.#entries.shift()!
      this.#bytes -= Buffer.byteLength(oldest.message)
    }
    for (const listener of this.#listeners) listener(entry)
    return entry
  }

  entries (): LogEntry[] {
    return [...this.#entries]
  }

  subscribe (listener: (entry: LogEntry) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}
