import fp from 'fastify-plugin'
import { EventBus } from '../events/bus.ts'
import { SCHEMAS } from '../events/schemas.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The one event bus: server status and logs, monitoring samples, alerts, the activity trail. */
    events: EventBus
  }
}

const MINUTE = 60_000

/**
 * Decorates the app with the event bus and registers the events' schemas (they appear in the
 * OpenAPI document's components). The `monitoring` channel's samples come from the metrics
 * sampler (metrics/sampler.ts).
 */
export default fp(async (app) => {
  for (const schema of SCHEMAS) app.addSchema(schema)
  const bus = new EventBus({
    rings: {
      'server-logs': { maxEvents: 5000, maxAgeMs: 5 * MINUTE },
      monitoring: { maxEvents: 300, maxAgeMs: 5 * MINUTE }
    }
  })
  app.decorate('events', bus)
}, { name: 'events' })
