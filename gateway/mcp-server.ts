import type { CallToolResult, Client, CompleteResult, GetPromptResult, ReadResourceResult, StandardSchemaV1 } from '@modelcontextprotocol/client'
import { inputRequired, isInputRequiredResult, ProtocolError, ProtocolErrorCode, Server, type InputRequest, type ServerContext } from '@modelcontextprotocol/server'
import type { Principal } from '../access/index.ts'
import type { McpTrace } from '../lib/tracing.ts'
import { countRelayedRequest, countToolCall } from '../metrics/mcp.ts'
import type { MetricRecorder } from '../metrics/recorder.ts'
import type { Caller, ClientRequestMethod } from '../supervisor/callers.ts'
import type { ToolCallLog } from './accounting.ts'
import type { CatalogView, ServedServer } from './catalog.ts'
import { PausedCall, type CallRequest, type PausedCalls } from './paused-calls.ts'
import type { ResourceSubscriptions } from './subscriptions.ts'

export const HUB_INFO = { name: 'mcphub', version: '0.1.0' }

/** What each HTTP request hands to the MCP handlers: the caller and their view, built for this request, and the endpoint's path. */
export interface RequestScope {
  view: CatalogView
  principal: Principal
  endpoint: string
  /** Where the request's upstream calls are traced; undefined when tracing is off. */
  trace?: McpTrace | undefined
}

export interface McpServerDeps {
  calls: ToolCallLog
  subscriptions: ResourceSubscriptions
  paused: PausedCalls
  metrics: MetricRecorder
}

export const CAPABILITY_OF: Record<ClientRequestMethod, 'sampling' | 'elicitation' | 'roots'> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots'
}

let statelessCalls = 0

/**
 * Answers are passed on as the server sent them: the hub relays, and the calling client
 * validates what it gets (validating twice would only cost time).
 */
function asSent<T> (): StandardSchemaV1<unknown, T> {
  return { '~standard': { version: 1, vendor: 'mcphub', validate: (value) => ({ value: value as T }) } }
}
const AS_SENT = { tool: asSent<CallToolResult>(), prompt: asSent<GetPromptResult>(), resource: asSent<ReadResourceResult>(), completion: asSent<CompleteResult>() }

/** How a request's caller and view reach the MCP handlers: as the SDK's auth info (not a credential). */
export function authInfoFor (scope: RequestScope) {
  return { token: '', clientId: scope.principal.userId, scopes: [], extra: scope as unknown as Record<string, unknown> }
}

/** Starts the record of a tool call: called with its outcome, it goes to the call log, the metrics and the trace. */
export function callRecord ({ calls, metrics }: Pick<McpServerDeps, 'calls' | 'metrics'>, { principal, trace }: RequestScope, server: ServedServer, tool: string) {
  const startedAt = new Date()
  return (ok: boolean, error: string | null) => {
    const durationMs = Date.now() - startedAt.getTime()
    calls.record({ userId: principal.userId, serverId: server.id, tool, startedAt, durationMs, ok, error })
    countToolCall(metrics, server, tool, durationMs, ok)
    trace?.toolCall({ server: server.key, tool, startedAt, error })
  }
}

function scopeOf (ctx: ServerContext): RequestScope {
  const scope = ctx.http?.authInfo?.extra as RequestScope | undefined
  if (scope === undefined) throw new ProtocolError(ProtocolErrorCode.InternalError, 'No caller for this message')
  return scope
}

function upstream (server: ServedServer): Client {
  const client = server.managed.client
  if (client === undefined) throw new ProtocolError(ProtocolErrorCode.InternalError, `Server "${server.key}" is not running`)
  return client
}

/**
 * An MCP server object for one session (or one stateless request). Its handlers answer from the
 * view of the HTTP request that carries the message, so a session's permissions are those of the
 * moment, not of its opening. Calls are routed to the owning server; while one runs, that
 * server's own requests (sampling, elicitation, roots) and log messages come back to this client.
 */
export function mcpServer ({ calls, subscriptions, paused, metrics }: McpServerDeps): Server {
  const server = new Server(HUB_INFO, {
    capabilities: {
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      completions: {},
      logging: {}
    }
  })

  /** This client, as the caller of a call to `target`. */
  const callerFor = (ctx: ServerContext, target: ServedServer): Caller => ({
    key: ctx.sessionId ?? `request:${++statelessCalls}`,
    ask: (method, params, signal) => {
      if (server.getClientCapabilities()?.[CAPABILITY_OF[method]] === undefined) return undefined
      countRelayedRequest(metrics, target, method)
      return ctx.mcpReq.send({ method, params }, { signal, timeout: target.callTimeoutMs })
    },
    log: (params) => { ctx.mcpReq.log(params.level, params.data, params.logger).catch(() => {}) }
  })
  /** `call` gets the server's client and the signal that cancels the call; `params` are the client's request's. */
  const routed = async <T>(ctx: ServerContext, target: ServedServer, params: { _meta?: unknown }, call: (client: Client, signal: AbortSignal) => Promise<T>): Promise<T> => {
    if (ctx.mcpReq.envelope === undefined) return await target.managed.callers.run(callerFor(ctx, target), async () => await call(upstream(target), ctx.mcpReq.signal))
    return await routedInRounds(ctx, target, params, call) as T
  }

  /**
   * A 2026-07-28 client has no channel for a server's requests: they come back to it as
   * `input_required`, and its retry (carrying the answers and our `requestState`) resumes the
   * paused call. The `requestState` resumes only a retry of the same request on the same endpoint.
   */
  const routedInRounds = async <T>(ctx: ServerContext, target: ServedServer, params: { _meta?: unknown }, call: (client: Client, signal: AbortSignal) => Promise<T>) => {
    const { principal, endpoint } = scopeOf(ctx)
    const { _meta, ...asked } = params
    const request: CallRequest = { userId: principal.userId, endpoint, method: ctx.mcpReq.method, params: asked }
    const token = ctx.mcpReq.requestState<string>()
    let resumed = token === undefined ? undefined : paused.take(token, request) as PausedCall<T> | undefined
    if (token !== undefined && resumed === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'Unknown or expired requestState')
    if (resumed === undefined) {
      const capabilities = (ctx.mcpReq.envelope as Record<string, { [capability: string]: unknown } | undefined>)['io.modelcontextprotocol/clientCapabilities'] ?? {}
      const key = `request:${++statelessCalls}`
      resumed = new PausedCall<T>(request, async (ask) => {
        const caller: Caller = {
          key,
          ask: (method, params) => {
            if (capabilities[CAPABILITY_OF[method]] === undefined) return undefined
            countRelayedRequest(metrics, target, method)
            return ask(method, params)
          },
          log: () => {}
        }
        // The call outlives the round's request: only its own timeout ends it.
        return await target.managed.callers.run(caller, async () => await call(upstream(target), new AbortController().signal))
      })
    } else {
      resumed.answer(ctx.mcpReq.inputResponses ?? {})
    }
    const step = await resumed.next()
    if (step.done) return step.result
    return inputRequired({
      inputRequests: Object.fromEntries(step.questions.map((question) => [question.id, { method: question.method, params: question.params } as InputRequest])),
      requestState: paused.park(resumed as PausedCall<unknown>, target.callTimeoutMs)
    })
  }

  server.setRequestHandler('tools/list', async (_request, ctx) => scopeOf(ctx).view.listing('tools/list'))
  server.setRequestHandler('tools/call', async (request, ctx) => {
    const scope = scopeOf(ctx)
    const target = scope.view.findTool(request.params.name)
    if (target === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`)
    if (!target.server.canCallTools) throw new ProtocolError(ProtocolErrorCode.InvalidRequest, `Calling the tools of "${target.server.key}" is not allowed`)
    const record = callRecord({ calls, metrics }, scope, target.server, target.name)
    try {
      const progressToken = request.params._meta?.progressToken
      const progressSent: Array<Promise<void>> = []
      const result = await routed(ctx, target.server, request.params, async (client, signal) => await client.request({ method: 'tools/call', params: { name: target.name, arguments: request.params.arguments ?? {} } }, AS_SENT.tool, {
        timeout: target.server.callTimeoutMs,
        // The caller's cancellation is forwarded upstream; upstream progress goes back to the caller only.
        signal,
        ...(progressToken === undefined
          ? {}
          : { onprogress: (progress) => { progressSent.push(ctx.mcpReq.notify({ method: 'notifications/progress', params: { ...progress, progressToken } }).catch(() => {})) } })
      }))
      // Progress goes out before the result that ends the exchange.
      await Promise.all(progressSent)
      // A round of a 2026-07-28 call that asks the client something is not the call's end.
      if (isInputRequiredResult(result)) return result
      record(result.isError !== true, result.isError === true ? 'tool reported an error' : null)
      return result
    } catch (error) {
      record(false, (error as Error).message)
      throw error
    }
  })

  server.setRequestHandler('prompts/list', async (_request, ctx) => scopeOf(ctx).view.listing('prompts/list'))
  server.setRequestHandler('prompts/get', async (request, ctx) => {
    const target = scopeOf(ctx).view.findPrompt(request.params.name)
    if (target === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${request.params.name}`)
    return await routed(ctx, target.server, request.params, async (client, signal) =>
      await client.request({ method: 'prompts/get', params: { name: target.name, arguments: request.params.arguments ?? {} } }, AS_SENT.prompt, { timeout: target.server.callTimeoutMs, signal }))
  })

  server.setRequestHandler('resources/list', async (_request, ctx) => scopeOf(ctx).view.listing('resources/list'))
  server.setRequestHandler('resources/templates/list', async (_request, ctx) => scopeOf(ctx).view.listing('resources/templates/list'))
  const ownerOf = (ctx: ServerContext, uri: string): ServedServer => {
    const owner = scopeOf(ctx).view.findResource(uri)
    if (owner === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown resource: ${uri}`)
    return owner
  }
  server.setRequestHandler('resources/read', async (request, ctx) => {
    const owner = ownerOf(ctx, request.params.uri)
    return await routed(ctx, owner, request.params, async (client, signal) => await client.request({ method: 'resources/read', params: { uri: request.params.uri } }, AS_SENT.resource, { timeout: owner.callTimeoutMs, signal }))
  })
  server.setRequestHandler('resources/subscribe', async (request, ctx) => {
    if (ctx.sessionId === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidRequest, 'Subscriptions need a session')
    await subscriptions.subscribe(ctx.sessionId, ownerOf(ctx, request.params.uri), request.params.uri)
    return {}
  })
  server.setRequestHandler('resources/unsubscribe', async (request, ctx) => {
    if (ctx.sessionId !== undefined) await subscriptions.unsubscribe(ctx.sessionId, request.params.uri)
    return {}
  })

  server.setRequestHandler('completion/complete', async (request, ctx) => {
    const { view } = scopeOf(ctx)
    const { ref } = request.params
    const prompt = ref.type === 'ref/prompt' ? view.findPrompt(ref.name) : undefined
    const owner = prompt?.server ?? (ref.type === 'ref/resource' ? view.findResourceTemplate(ref.uri) ?? view.findResource(ref.uri) : undefined)
    if (owner === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown ${ref.type === 'ref/prompt' ? 'prompt' : 'resource'}: ${ref.type === 'ref/prompt' ? ref.name : ref.uri}`)
    // A server without completions simply has no suggestions.
    if (upstream(owner).getServerCapabilities()?.completions === undefined) return { completion: { values: [] } }
    const upstreamRef = prompt === undefined ? ref : { type: 'ref/prompt' as const, name: prompt.name }
    return await routed(ctx, owner, request.params, async (client, signal) =>
      await client.request({ method: 'completion/complete', params: { ...request.params, ref: upstreamRef } }, AS_SENT.completion, { timeout: owner.callTimeoutMs, signal }))
  })
  return server
}
