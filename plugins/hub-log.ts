import type { FastifyBaseLogger } from 'fastify'
import fp from 'fastify-plugin'
import pino from 'pino'
import { driverMessage } from '../lib/batch-writer.ts'
import type { HubLog } from '../logs/hub-log.ts'
import { insertHubLogs, pruneHubLogs } from '../logs/store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The hub's own log as stored (`GET /api/monitoring/logs`). */
    hubLog: {
      /** Writes the entries still waiting (never rejects: a failed write is retried later). */
      flush(): Promise<void>
      /** Deletes the entries past the retention period, then all but the newest `maxRows`; returns how many. */
      prune(): Promise<number>
      /** Entries that could not be stored (backlog full, refused by the database, left at close). */
      readonly dropped: number
    }
  }
}

export interface HubLogOptions {
  /** The store the app's logger writes to (created with the logger, before the database). */
  hubLog: HubLog
  retentionDays: number
  now: () => number
  /** The most entries kept, whatever their age. */
  maxRows?: number
}

const MAX_ROWS = 100_000
const PRUNE_INTERVAL_MS = 60_000
/** A flood is pruned sooner than the interval: after this many entries written. */
const PRUNE_AFTER_ROWS = 10_000
const CLOSE_FLUSH_MS = 2000
const DAY_MS = 24 * 60 * 60_000

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1]
type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * A request's logger, made only once the request logs something its parent writes: most
 * requests log nothing at the configured level, and a pino child costs more than what an MCP
 * call does besides (its bindings go through every redaction path). What it writes is what the
 * child would have written.
 */
class RequestLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildOptions
  #made: FastifyBaseLogger | undefined

  constructor (parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions) {
    this.#parent = parent
    this.#bindings = bindings
    // Fastify passes `{}` when the route sets no level or serializers of its own.
    this.#options = options === undefined || Object.keys(options).length === 0 ? undefined : options
    if (this.#options !== undefined) this.#made = parent.child(bindings, this.#options)
  }

  get level (): string {
    return (this.#made ?? this.#parent).level
  }

  set level (level: string) {
    this.#logger().level = level
  }

  fatal: FastifyBaseLogger['fatal'] = (...args: unknown[]) => { this.#log('fatal', args) }
  error: FastifyBaseLogger['error'] = (...args: unknown[]) => { this.#log('error', args) }
  warn: FastifyBaseLogger['warn'] = (...args: unknown[]) => { this.#log('warn', args) }
  info: FastifyBaseLogger['info'] = (...args: unknown[]) => { this.#log('info', args) }
  debug: FastifyBaseLogger['debug'] = (...args: unknown[]) => { this.#log('debug', args) }
  trace: FastifyBaseLogger['trace'] = (...args: unknown[]) => { this.#log('trace', args) }
  silent: FastifyBaseLogger['silent'] = () => {}

  child (bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options)
  }

  #log (level: LevelName, args: unknown[]): void {
    // `silent` has no number: nothing is written.
    if (pino.levels.values[level]! < (pino.levels.values[this.level] ?? Infinity)) return
    ;(this.#logger()[level] as (...args: unknown[]) => void)(...args)
  }

  #logger (): FastifyBaseLogger {
    this.#made ??= this.#parent.child(this.#bindings, this.#options)
    return this.#made
  }
}

/** The child-logger factory of requests; of an encapsulated plugin's, whose entries come from `source` (`auth`, `gateway`). */
export function requestLogsFrom (source?: string) {
  return (logger: FastifyBaseLogger, bindings: Bindings, options: ChildOptions): FastifyBaseLogger =>
    new RequestLogger(logger, source === undefined ? bindings : { ...bindings, source }, options)
}

/**
 * Stores the hub's own log: the entries held since the logger was created are written once the
 * database is open, then in batches; pruned after `retentionDays` and down to `maxRows`; what is
 * logged while the hub closes is written with a bounded flush before the database closes.
 */
export default fp<HubLogOptions>(async (app, { hubLog, retentionDays, now, maxRows = MAX_ROWS }) => {
  let pruning: Promise<number> | undefined
  const prune = () => {
    pruning ??= pruneHubLogs(app.db, { before: new Date(now() - retentionDays * DAY_MS), keep: maxRows }).finally(() => { pruning = undefined })
    return pruning
  }
  const pruneInBackground = () => {
    prune().catch((error: unknown) => app.log.warn({ err: { message: driverMessage(error) } }, 'could not prune the hub log'))
  }
  let writtenSincePrune = 0
  await hubLog.start({
    log: app.log,
    write: async (entries) => {
      await insertHubLogs(app.db, entries)
      writtenSincePrune += entries.length
      if (writtenSincePrune >= PRUNE_AFTER_ROWS) {
        writtenSincePrune = 0
        pruneInBackground()
      }
    }
  })
  app.decorate('hubLog', {
    flush: () => hubLog.flush(),
    prune,
    get dropped () { return hubLog.dropped }
  })

  const pruner = setInterval(pruneInBackground, PRUNE_INTERVAL_MS)
  pruner.unref()
  // Registered right after the database: closed after everything else, before the database.
  app.addHook('onClose', async () => {
    clearInterval(pruner)
    await pruning?.catch(() => {})
    await hubLog.close(CLOSE_FLUSH_MS)
  })
}, { name: 'hub-log', dependencies: ['db'] })
