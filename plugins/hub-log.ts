import type { FastifyBaseLogger } from 'fastify'
import fp from 'fastify-plugin'
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

/** A child-logger factory for an encapsulated plugin whose requests' entries come from `source` (`auth`, `gateway`). */
export function requestLogsFrom (source: string) {
  return (logger: FastifyBaseLogger, ...[bindings, options]: Parameters<FastifyBaseLogger['child']>) => logger.child({ ...bindings, source }, options)
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
