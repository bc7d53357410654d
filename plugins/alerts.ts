import fp from 'fastify-plugin'
import { AlertEngine, DEFAULT_TIMINGS, type AlertTimings } from '../alerts/engine.ts'
import type { Enqueue } from '../alerts/store.ts'
import { DEFAULT_SETTINGS, type Rules } from '../settings/schemas.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The alert engine: watches servers, tool calls, sign-ins and the database, and raises alerts. */
    alerts: AlertEngine
  }
}

export interface AlertsPluginOptions {
  now: () => number
  /** Shorter intervals for tests. */
  timings?: Partial<AlertTimings> | undefined
}

/**
 * Decorates the app with the alert engine, fed by the bus and the supervisor, writing alerts
 * and their notifications (`app.notifications`) in one transaction; stopped on close, before
 * the database closes.
 */
export default fp<AlertsPluginOptions>(async (app, { now, timings }) => {
  const rules = async (): Promise<Rules> => DEFAULT_SETTINGS.alerts
  const notifications = (app as unknown as { notifications?: { enqueue: Enqueue } }).notifications
  const enqueue: Enqueue = notifications === undefined ? async () => {} : (db, alert, kind) => notifications.enqueue(db, alert, kind)
  const engine = new AlertEngine({
    db: app.db,
    bus: app.events,
    now,
    rules,
    enqueue,
    serverState: (serverId) => app.supervisor.get(serverId)?.state,
    log: app.log.child({ source: 'alerts' }),
    timings: { ...DEFAULT_TIMINGS, ...timings }
  })
  app.decorate('alerts', engine)
  app.addHook('onReady', () => { engine.start() })
  app.addHook('onClose', async () => { await engine.stop() })
}, { name: 'alerts', dependencies: ['db', 'events', 'supervisor', 'activity'] })
