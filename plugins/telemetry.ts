import fp from 'fastify-plugin'
import type { Tracing } from '../lib/tracing.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** OpenTelemetry spans; absent when tracing is off (no OTLP endpoint configured). */
    tracing?: Tracing
  }
}

export interface TelemetryOptions {
  /** OTLP/HTTP endpoint; traces go to `<endpoint>/v1/traces`. */
  endpoint: string
  serviceName: string
  now: () => number
}

/**
 * Traces every HTTP request, each MCP request and its upstream tool calls (the gateway asks
 * `app.tracing`). Registered only when an endpoint is configured: otherwise no OpenTelemetry
 * module is loaded and no hook runs. Registered first, so its hooks see every request and its
 * `onClose` runs last, exporting the spans of what closed before it.
 */
export default fp<TelemetryOptions>(async (app, options) => {
  const { Tracing } = await import('../lib/tracing.ts')
  const tracing = new Tracing({ endpoint: options.endpoint, serviceName: options.serviceName, log: app.log, now: options.now })
  app.decorate('tracing', tracing)
  app.addHook('onRequest', async (request) => { tracing.requestStarted(request) })
  app.addHook('onResponse', async (request, reply) => { tracing.requestEnded(request, reply.statusCode) })
  app.addHook('onRequestAbort', async (request) => { tracing.requestEnded(request, undefined) })
  app.addHook('onClose', async () => { await tracing.close() })
}, { name: 'telemetry' })
