import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace'
import packageJson from '../package.json' with { type: 'json' }

/**
 * OpenTelemetry traces of the hub, exported over OTLP/HTTP (JSON) to `<endpoint>/v1/traces`.
 * Loaded only when an endpoint is configured (plugins/telemetry.ts imports it then).
 * Nothing global is set: spans name their parent explicitly, so several apps in one process
 * (the tests) keep their traces apart. No attribute carries headers, bodies, arguments or results.
 */

/** Bound on flushing the last spans when the app closes. */
const CLOSE_TIMEOUT_MS = 2000
/** Export failures are logged at most this often (each with how many failed since). */
const FAILURE_LOG_INTERVAL_MS = 60_000

export interface TracingOptions {
  endpoint: string
  serviceName: string
  log: FastifyBaseLogger
  now: () => number
}

/** What a traced MCP request records of the calls it makes upstream. */
export interface McpTrace {
  /** A `tools/call` forwarded to a server, from `startedAt` until now; `error` null when it succeeded. */
  toolCall: (call: { server: string, tool: string, startedAt: Date, error: string | null }) => void
}

interface RequestSpans {
  http: Span
  context: Context
  mcp?: Span
}

/** The body of a JSON-RPC request (a message with a method and an id), else undefined. */
function jsonRpcRequest (body: unknown): { method: string, id: string | number } | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const { method, id } = body as { method?: unknown, id?: unknown }
  // The method names a span: a client's long one is cut (span names have no length limit).
  return typeof method === 'string' && (typeof id === 'string' || typeof id === 'number') ? { method: method.slice(0, 100), id } : undefined
}

/** Logs the exporter's failures now and then; spans that could not be sent are dropped. */
class LoggedExporter implements SpanExporter {
  readonly #exporter: SpanExporter
  readonly #log: FastifyBaseLogger
  readonly #now: () => number
  #failures = 0
  #loggedAt = -Infinity

  constructor (exporter: SpanExporter, log: FastifyBaseLogger, now: () => number) {
    this.#exporter = exporter
    this.#log = log
    this.#now = now
  }

  export (spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#exporter.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.#failed(result.error)
      done(result)
    })
  }

  #failed (error: Error | undefined): void {
    this.#failures++
    if (this.#now() - this.#loggedAt < FAILURE_LOG_INTERVAL_MS) return
    this.#log.warn({ err: { message: error?.message ?? 'unknown error' }, failedExports: this.#failures }, 'could not export traces')
    this.#loggedAt = this.#now()
    this.#failures = 0
  }

  async shutdown (): Promise<void> {
    await this.#exporter.shutdown()
  }

  async forceFlush (): Promise<void> {
    await this.#exporter.forceFlush?.()
  }
}

export class Tracing {
  readonly #provider: TracerProvider
  readonly #tracer: Tracer
  readonly #propagator = new W3CTraceContextPropagator()
  readonly #spans = new WeakMap<FastifyRequest, RequestSpans>()

  constructor (options: TracingOptions) {
    const exporter = new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` })
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': packageJson.version }),
      spanLimits: { attributeValueLengthLimit: 500 },
      spanProcessors: [new BatchSpanProcessor({ exporter: new LoggedExporter(exporter, options.log, options.now) })]
    })
    this.#tracer = this.#provider.getTracer('mcphub', packageJson.version)
  }

  /** Opens the request's server span, a child of the caller's span when it sent a W3C `traceparent`. */
  requestStarted (request: FastifyRequest): void {
    const route = request.routeOptions.url
    const parent = this.#propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter)
    const http = this.#tracer.startSpan(route === undefined ? request.method : `${request.method} ${route}`, {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': request.method,
        'url.path': request.url.split('?')[0],
        ...(route === undefined ? {} : { 'http.route': route })
      }
    }, parent)
    this.#spans.set(request, { http, context: trace.setSpan(parent, http) })
  }

  /** Ends the request's spans: an error when the hub answered 5xx (the MCP span: any error status). */
  requestEnded (request: FastifyRequest, statusCode: number | undefined): void {
    const spans = this.#spans.get(request)
    if (spans === undefined) return
    this.#spans.delete(request)
    if (spans.mcp !== undefined) {
      if (statusCode === undefined || statusCode >= 400) spans.mcp.setStatus({ code: SpanStatusCode.ERROR, message: statusCode === undefined ? 'aborted' : `HTTP ${statusCode}` })
      spans.mcp.end()
    }
    if (statusCode === undefined) {
      spans.http.setAttribute('error.type', 'aborted')
    } else {
      spans.http.setAttribute('http.response.status_code', statusCode)
      if (statusCode >= 500) {
        spans.http.setAttribute('error.type', String(statusCode))
        spans.http.setStatus({ code: SpanStatusCode.ERROR })
      }
    }
    spans.http.end()
  }

  /**
   * Opens the span of the JSON-RPC request this HTTP request carries (ended with it), and gives
   * what its handler records its upstream calls with; undefined for other messages.
   */
  mcpRequest (request: FastifyRequest): McpTrace | undefined {
    const spans = this.#spans.get(request)
    const message = jsonRpcRequest(request.body)
    if (spans === undefined || message === undefined) return undefined
    const sessionId = request.headers['mcp-session-id']
    const mcp = this.#tracer.startSpan(`mcp ${message.method}`, {
      kind: SpanKind.SERVER,
      attributes: {
        'mcp.method.name': message.method,
        'jsonrpc.request.id': String(message.id),
        ...(typeof sessionId === 'string' ? { 'mcp.session.id': sessionId } : {})
      }
    }, spans.context)
    spans.mcp = mcp
    const context = trace.setSpan(spans.context, mcp)
    return {
      toolCall: ({ server, tool, startedAt, error }) => {
        const span = this.#tracer.startSpan(`tools/call ${tool}`, {
          kind: SpanKind.CLIENT,
          startTime: startedAt,
          attributes: { 'mcp.method.name': 'tools/call', 'mcp.server': server, 'mcp.tool.name': tool, 'mcp.tool.is_error': error !== null }
        }, context)
        // The MCP request fails with its call.
        if (error !== null) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error })
          mcp.setStatus({ code: SpanStatusCode.ERROR, message: error })
        }
        span.end()
      }
    }
  }

  /** Exports the spans still queued and stops; bounded, never rejects. */
  async close (): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_TIMEOUT_MS).unref() })
    await Promise.race([this.#provider.shutdown().catch(() => {}), timeout])
    clearTimeout(timer)
  }
}
