import fp from 'fastify-plugin'
import { MetricRecorder } from '../metrics/recorder.ts'
import { Sampler } from '../metrics/sampler.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Where every measurement goes (metrics/catalog.ts lists them). */
    metrics: MetricRecorder
    /** Samples the gauges (and the `monitoring` channel); other parts report theirs to it. */
    sampler: Sampler
  }
}

export interface MetricsOptions {
  /** False: nothing is recorded and nothing sampled (MCPHUB_METRICS=off). */
  enabled: boolean
  now: () => number
  /** ms between samples of the gauges (default 5000). */
  sampleMs?: number
}

const STATUS_CLASSES = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx']

/**
 * Decorates the app with the metric recorder and the sampler, and measures every HTTP request
 * once it is answered (route template, method, status class, time) and every database query.
 * The sampler runs from the hub's start to its close.
 */
export default fp<MetricsOptions>(async (app, options) => {
  const recorder = new MetricRecorder({ enabled: options.enabled, now: options.now })
  const sampler = new Sampler({
    recorder,
    events: app.events,
    sampleMs: options.sampleMs ?? 5000,
    now: options.now,
    // The supervisor is registered after this plugin: it is there once the sampler runs.
    servers: () => app.supervisor.list().map((server) => ({ id: server.spec.id, key: server.spec.key, state: server.state, pid: server.status().pid })),
    database: () => app.database.poolStats(),
    onError: (error) => app.log.warn({ err: { message: error.message } }, 'could not sample metrics')
  })
  app.decorate('metrics', recorder)
  app.decorate('sampler', sampler)
  if (!options.enabled) return

  app.database.onQuery((ms) => { recorder.observe('dbQueryTime', {}, ms) })
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const status = reply.statusCode
    recorder.count('requests', { route, method: request.method, status: STATUS_CLASSES[Math.floor(status / 100)] ?? '5xx' })
    recorder.observe('responseTime', { route }, reply.elapsedTime)
    if (status >= 500) recorder.count('errors', { route })
    if (status === 429) recorder.count('rateLimited', {})
    sampler.requestAnswered()
    done()
  })
  app.addHook('onReady', async () => { sampler.start() })
  app.addHook('onClose', async () => { sampler.stop() })
}, { name: 'metrics', dependencies: ['db', 'events'] })
