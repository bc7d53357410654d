import { setTimeout as sleep } from 'node:timers/promises'
import { withTimeout } from './timeout.ts'

export interface BatchWriterOptions<T> {
  /** Writes one batch. A rejection keeps the batch for a retry, unless `permanent` says no retry can help. */
  write: (batch: T[]) => Promise<void>
  /** The backlog's bounds (the batch being written included): what comes beyond them is dropped and counted. */
  maxItems: number
  maxBytes: number
  /** An item's size, for `maxBytes`. */
  sizeOf: (item: T) => number
  /** Most items per write. */
  maxBatch?: number
  /** How often the backlog is written. */
  intervalMs?: number
  /**
   * True while a write would take time from work in progress (on the embedded database, a write
   * runs on the hub's own thread): the timer then leaves the backlog waiting, for at most
   * `maxDeferMs` after it began to fill and while it holds under half of `maxItems`. A flush or
   * a close writes at once.
   */
  busy?: () => boolean
  maxDeferMs?: number
  /** The wait after a failed write, doubled after each further failure up to `maxRetryMs`. */
  retryMs?: number
  maxRetryMs?: number
  /** Errors no retry can mend (a value the database refuses): the batch is dropped and counted. */
  permanent?: (error: unknown) => boolean
  /** A write failed; `retrying` tells whether its batch was kept. */
  onError?: (error: unknown, retrying: boolean) => void
  /** Items dropped since the last report (reported at most once an interval, and on close). */
  onDrop?: (count: number) => void
}

/**
 * Everything the hub writes in the background (log lines, tool-call records): items wait in a
 * bounded backlog and are written in batches once an interval; a failed write is retried with
 * a growing delay, so that a database outage loses nothing until the backlog is full; what
 * cannot be kept is dropped and counted.
 */
export class BatchWriter<T> {
  readonly #options: Required<Omit<BatchWriterOptions<T>, 'permanent' | 'onError' | 'onDrop' | 'busy'>> & BatchWriterOptions<T>
  /** Waiting items, oldest first (the batch being written is taken off the front, and put back if it fails). */
  #backlog: T[] = []
  #writingCount = 0
  #bytes = 0
  #dropped = 0
  #unreported = 0
  #failures = 0
  #retryAt = 0
  /** When the backlog began to fill, for `maxDeferMs`. */
  #waitingSince = 0
  #chain: Promise<void> = Promise.resolve()
  #closed = false
  #draining = false
  readonly #timer: NodeJS.Timeout

  constructor (options: BatchWriterOptions<T>) {
    this.#options = { maxBatch: 1000, intervalMs: 1000, maxDeferMs: 5000, retryMs: 500, maxRetryMs: 30_000, ...options }
    this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs)
    this.#timer.unref()
  }

  /** Items waiting or being written. */
  get pending (): number {
    return this.#backlog.length + this.#writingCount
  }

  /** Their size, as `sizeOf` counts it. */
  get bytes (): number {
    return this.#bytes
  }

  /** Items dropped so far: backlog full, a batch no retry could write, or left over at close. */
  get dropped (): number {
    return this.#dropped
  }

  /** Queues an item; false (and counted) when the backlog is full or the writer closed. */
  add (item: T): boolean {
    const size = this.#options.sizeOf(item)
    if (this.#closed || this.pending >= this.#options.maxItems || this.#bytes + size > this.#options.maxBytes) {
      this.#drop(1)
      return false
    }
    if (this.#backlog.length === 0) this.#waitingSince = Date.now()
    this.#backlog.push(item)
    this.#bytes += size
    return true
  }

  /**
   * Writes the backlog now, batch after batch, whatever the retry delay; resolves when it is
   * written or a write failed (the batch then waits for its retry). Never rejects.
   */
  flush (): Promise<void> {
    this.#chain = this.#chain.then(() => this.#drain())
    return this.#chain
  }

  /**
   * Stops the timer and writes what is left, retrying until `timeoutMs` has passed; what is
   * still unwritten then is counted as dropped. Adds after close are dropped.
   */
  async close (timeoutMs: number): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const flushed = await withTimeout(this.flush(), Math.max(0, deadline - Date.now()), 'late').then(() => true, () => false)
      if (!flushed || this.pending === 0 || Date.now() + this.#retryDelay() >= deadline) break
      await sleep(this.#retryDelay())
    }
    if (this.pending > 0) this.#drop(this.pending)
    this.#report()
  }

  #tick (): void {
    this.#report()
    // A write that takes longer than an interval is not queued behind again and again.
    if (!this.#draining && Date.now() >= this.#retryAt && !this.#deferred()) this.flush().catch(() => {})
  }

  #deferred (): boolean {
    const { busy, maxDeferMs, maxItems } = this.#options
    return busy?.() === true && Date.now() - this.#waitingSince < maxDeferMs && this.#backlog.length < maxItems / 2
  }

  async #drain (): Promise<void> {
    this.#draining = true
    try {
      await this.#writeBacklog()
    } finally {
      this.#draining = false
    }
  }

  async #writeBacklog (): Promise<void> {
    while (this.#backlog.length > 0) {
      const batch = this.#backlog.splice(0, this.#options.maxBatch)
      this.#writingCount = batch.length
      try {
        await this.#options.write(batch)
        this.#failures = 0
        this.#retryAt = 0
        this.#release(batch)
        // What waits for the event loop (requests, a child's answers) goes before the next batch.
        if (this.#backlog.length > 0) await new Promise((resolve) => setImmediate(resolve))
      } catch (error) {
        const retrying = this.#options.permanent?.(error) !== true
        this.#options.onError?.(error, retrying)
        if (retrying) {
          this.#backlog.unshift(...batch)
          this.#failures++
          this.#retryAt = Date.now() + this.#retryDelay()
        } else {
          this.#release(batch)
          this.#drop(batch.length)
        }
        return
      } finally {
        this.#writingCount = 0
      }
    }
  }

  #retryDelay (): number {
    if (this.#failures === 0) return 0
    return Math.min(this.#options.maxRetryMs, this.#options.retryMs * 2 ** (this.#failures - 1))
  }

  #release (batch: T[]): void {
    for (const item of batch) this.#bytes -= this.#options.sizeOf(item)
  }

  #drop (count: number): void {
    this.#dropped += count
    this.#unreported += count
  }

  #report (): void {
    if (this.#unreported === 0) return
    const count = this.#unreported
    this.#unreported = 0
    this.#options.onDrop?.(count)
  }
}

/**
 * Database errors no retry can mend: SQLSTATE class 22 (a value the database refuses) and 23
 * (an integrity violation), except a foreign key whose row went away meanwhile (23503), which
 * a retry that skips the row writes. Connection failures, timeouts, locks: worth a retry.
 */
export function permanentDatabaseError (error: unknown): boolean {
  // drizzle wraps the driver's error and keeps it on `.cause`.
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^2[23]/.test(code) && code !== '23503'
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/** What a failed write says, without the query and its parameters (drizzle's own message holds both). */
export function driverMessage (error: unknown): string {
  const { message, cause } = (error ?? {}) as { message?: unknown, cause?: { message?: unknown } }
  return String(cause?.message ?? message)
}
