import fp from 'fastify-plugin'
import { MetricRecorder } from '../metrics/recorder.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Where every measurement goes (metrics/catalog.ts lists them). */
    metrics: MetricRecorder
  }
}

export interface MetricsOptions {
  /** False: nothing is recorded (MCPHUB_METRICS=off). */
  enabled: boolean
  now: () => number
}

/** Decorates the app with the metric recorder. */
export default fp<MetricsOptions>(async (app, options) => {
  app.decorate('metrics', new MetricRecorder({ enabled: options.enabled, now: options.now }))
}, { name: 'metrics', dependencies: ['events'] })
