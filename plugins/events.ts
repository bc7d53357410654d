import { monitorEventLoopDelay } from 'node:perf_hooks'
import fp from 'fastify-plugin'
import { EventBus } from '../events/bus.ts'
import { SCHEMAS, type ChannelData } from '../events/schemas.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The one event bus: server status and logs, monitoring samples, alerts, the activity trail. */
    events: EventBus
  }
}

export interface EventsOptions {
  /** How often the hub samples its own figures for `monitoring` while anyone listens. */
  sampleMs?: number
}

const MINUTE = 60_000

/**
 * Decorates the app with the event bus and registers the events' schemas (they appear in the
 * OpenAPI document's components). Until the monitoring issue brings its own producer, the
 * `monitoring` channel carries the hub's CPU, memory, uptime, event-loop delay and request rate every
 * `sampleMs`, only while someone listens.
 */
export default fp<EventsOptions>(async (app, { sampleMs = 1000 }) => {
  for (const schema of SCHEMAS) app.addSchema(schema)
  const bus = new EventBus({
    rings: {
      'server-logs': { maxEvents: 5000, maxAgeMs: 5 * MINUTE },
      monitoring: { maxEvents: 300, maxAgeMs: 5 * MINUTE }
    }
  })
  app.decorate('events', bus)

  const delay = monitorEventLoopDelay({ resolution: 20 })
  // Counted on the HTTP server's own event: no hook on the request path.
  let requests = 0
  app.server.on('request', () => { requests++ })
  let lastCpu = process.cpuUsage()
  let lastAt = performance.now()
  const sampler = setInterval(() => {
    if (!bus.hasListeners('monitoring')) return
    bus.publish('monitoring', sample())
  }, sampleMs)
  sampler.unref()
  delay.enable()
  app.addHook('onClose', async () => {
    clearInterval(sampler)
    delay.disable()
  })

  function sample (): ChannelData['monitoring'] {
    const cpu = process.cpuUsage(lastCpu)
    const at = performance.now()
    const elapsedMs = Math.max(1, at - lastAt)
    lastCpu = process.cpuUsage()
    lastAt = at
    const memory = process.memoryUsage()
    const meanDelayMs = Number.isNaN(delay.mean) ? 0 : delay.mean / 1e6
    delay.reset()
    const perMinute = Math.round(requests * 60_000 / elapsedMs * 10) / 10
    requests = 0
    return {
      at: new Date().toISOString(),
      metrics: {
        cpu: Math.round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 1000) / 10,
        memory: memory.rss,
        heapUsed: memory.heapUsed,
        uptime: Math.floor(process.uptime()),
        eventLoopDelay: Math.round(meanDelayMs * 100) / 100,
        requests: perMinute
      }
    }
  }
}, { name: 'events' })
