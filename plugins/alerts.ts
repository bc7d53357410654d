import fp from 'fastify-plugin'
import { AlertEngine, DEFAULT_TIMINGS, type AlertTimings } from '../alerts/engine.ts'

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
  const engine = new AlertEngine({
    db: app.db,
    bus: app.events,
    now,
    rules: async () => (await app.settings.read()).settings.alerts,
    enqueue: (db, alert, kind) => app.notifications.enqueue(db, alert, kind),
    serverState: (serverId) => app.supervisor.get(serverId)?.state,
    log: app.log.child({ source: 'alerts' }),
    timings: { ...DEFAULT_TIMINGS, ...timings }
  })
  app.decorate('alerts', engine)
  app.addHook('onReady', () => { engine.start() })
  app.addHook('onClose', async () => { await engine.stop() })
}, { name: 'alerts', dependencies: ['db', 'events', 'settings', 'notifications', 'supervisor', 'activity'] })
