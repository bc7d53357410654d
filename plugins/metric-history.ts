import fp from 'fastify-plugin'
import { driverMessage } from '../lib/batch-writer.ts'
import { DEFAULT_METRICS_RETENTION, type MetricsRetention } from '../lib/config.ts'
import { withTimeout } from '../lib/timeout.ts'
import { MetricHistory, MINUTE_MS } from '../metrics/history.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The stored metrics history (metrics/history.ts) and what reading it needs. */
    metricHistory: {
      history: MetricHistory
      retention: MetricsRetention
      now: () => number
    }
  }
}

export interface MetricHistoryOptions {
  retention?: MetricsRetention | undefined
  now: () => number
}

/** How long closing waits for the current minute to be written. */
const CLOSE_WRITE_MS = 2000

/**
 * Writes what `app.metrics` measured to the database once a minute, at each minute's start by
 * the app's clock, then rolls up and prunes; on close, writes the current partial minute, so a
 * restart loses at most that minute's tail.
 */
export default fp<MetricHistoryOptions>(async (app, options) => {
  const { now } = options
  const retention = options.retention ?? DEFAULT_METRICS_RETENTION
  const history = new MetricHistory({
    db: app.db,
    recorder: app.metrics,
    now,
    retention,
    onError: (error, retrying) => app.log.warn({ err: { message: driverMessage(error) }, retrying }, 'could not store metrics'),
    onDrop: (minutes) => app.log.warn({ minutes }, 'minutes of metrics dropped: the database was away too long or refused them')
  })
  app.decorate('metricHistory', { history, retention, now })

  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  let closing = false
  const schedule = () => {
    if (closing) return
    timer = setTimeout(() => {
      running = history.tick().finally(schedule)
    }, MINUTE_MS - (now() % MINUTE_MS))
    timer.unref()
  }
  if (app.metrics.enabled) schedule()

  // Before the database closes (onClose hooks run in reverse order), after the supervisor has stopped the servers.
  app.addHook('onClose', async () => {
    closing = true
    clearTimeout(timer)
    if (!app.metrics.enabled) return
    await withTimeout(running.then(async () => { await history.writeMinute() }), CLOSE_WRITE_MS, 'late')
      .catch(() => app.log.warn('the last minute of metrics was not stored in time'))
  })
}, { name: 'metric-history', dependencies: ['db', 'metrics'] })
