import type { FastifyReply } from 'fastify'
import type { JSONRPCRequest, JSONRPCResponse, LoggingLevel, RequestId, Server, Tool } from '@modelcontextprotocol/server'
import { countRelayedRequest } from '../metrics/mcp.ts'
import type { MetricRecorder } from '../metrics/recorder.ts'
import type { Caller } from '../supervisor/callers.ts'
import type { ChildStdioTransport } from '../supervisor/stdio-transport.ts'
import { isListingMethod, type CatalogView, type ServedServer } from './catalog.ts'
import { rpcError } from './errors.ts'
import type { StreamableHttpTransport } from './http-transport.ts'
import { CAPABILITY_OF, callRecord, type McpServerDeps, type RequestScope } from './mcp-server.ts'

/** What the pass-through needs of a Streamable HTTP session. */
export interface PassThroughSession {
  id: string
  server: Server
  transport: StreamableHttpTransport
}

/** Where a call goes: its server, the params it is sent with, and the tool it calls (calls of tools are recorded). */
interface Route {
  target: ServedServer
  params: Record<string, unknown>
  tool?: string
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const hasOnly = (params: Record<string, unknown>, members: readonly string[]) => Object.keys(params).every((member) => members.includes(member))
const isStringRecord = (value: unknown) => isRecord(value) && Object.values(value).every((item) => typeof item === 'string')

/** Whether a request's `_meta` is absent or plain: no 2026-07-28 envelope members, a well-formed progress token. */
function hasPlainMeta (params: Record<string, unknown>): boolean {
  const meta = params._meta
  if (meta === undefined) return true
  if (!isRecord(meta) || Object.keys(meta).some((key) => key.startsWith('io.modelcontextprotocol/'))) return false
  const token = meta.progressToken
  return token === undefined || typeof token === 'string' || Number.isInteger(token)
}

/**
 * The route of a call the pass-through serves just as the SDK path would: well-formed params,
 * nothing unusual (tasks, 2026-07-28 envelope members), a target the caller may call and that
 * runs. Anything else, errors included, is left to the SDK path.
 */
function routeOf (view: CatalogView, request: JSONRPCRequest): Route | undefined {
  const params = request.params
  if (!isRecord(params) || !hasPlainMeta(params)) return undefined
  if (request.method === 'tools/call') {
    if (typeof params.name !== 'string' || !hasOnly(params, ['name', 'arguments', '_meta']) || (params.arguments !== undefined && !isRecord(params.arguments))) return undefined
    const tool = view.findTool(params.name)
    if (tool === undefined || !tool.server.canCallTools) return undefined
    return { target: tool.server, params: { ...params, name: tool.name, arguments: params.arguments ?? {} }, tool: tool.name }
  }
  if (request.method === 'prompts/get') {
    if (typeof params.name !== 'string' || !hasOnly(params, ['name', 'arguments', '_meta']) || (params.arguments !== undefined && !isStringRecord(params.arguments))) return undefined
    const prompt = view.findPrompt(params.name)
    return prompt === undefined ? undefined : { target: prompt.server, params: { ...params, name: prompt.name, arguments: params.arguments ?? {} } }
  }
  if (request.method === 'resources/read') {
    if (typeof params.uri !== 'string' || !hasOnly(params, ['uri', '_meta'])) return undefined
    const owner = view.findResource(params.uri)
    return owner === undefined ? undefined : { target: owner, params }
  }
  return undefined
}

/** How the SDK server writes an answer: the result first. */
const RESULT_START = Buffer.from('{"result":')

/**
 * The SDK server rewrites, for 2025 clients, a tool's output schema whose root is not an object
 * (it wraps it in one); a view with such a tool is listed by the SDK path.
 */
const rewrittenFor2025 = (tool: Tool) => isRecord(tool.outputSchema) && tool.outputSchema.type !== 'object'

/**
 * The answer to a listing, byte for byte as the SDK server writes it on a 2025 session, from
 * the JSON text the view keeps of its result. Undefined when the SDK path answers: a page
 * asked for (`cursor`), other or malformed params, a tool list the SDK would rewrite.
 */
function listingAnswer (view: CatalogView, request: JSONRPCRequest): Buffer | undefined {
  const { method, params = {} } = request
  if (!isListingMethod(method) || !isRecord(params) || !hasOnly(params, ['_meta']) || !hasPlainMeta(params)) return undefined
  if (method === 'tools/list' && view.tools().some(rewrittenFor2025)) return undefined
  return Buffer.concat([RESULT_START, view.listingJson(method), Buffer.from(`,"jsonrpc":"2.0","id":${JSON.stringify(request.id)}}`)])
}

/**
 * The child's answer with the client's request id in place of ours. Our id occurs in the line
 * once, as a JSON string of its own: the rest of the line (the result) is passed on as the
 * child wrote it. A line that is not that plain is written again.
 */
export function withClientId (line: string, ownId: string, clientId: RequestId, answer: JSONRPCResponse): string {
  const token = `"${ownId}"`
  const at = line.indexOf(token)
  if (at !== -1 && !line.includes(token, at + token.length) && !line.includes('\r')) return `${line.slice(0, at)}${JSON.stringify(clientId)}${line.slice(at + token.length)}`
  return JSON.stringify({ ...answer, id: clientId })
}

/** The SDK server keeps each session's log level (`logging/setLevel`); its check is public at run time, private in its types. */
interface LogLevels {
  isMessageIgnored: (level: LoggingLevel, sessionId: string) => boolean
}

/** The client of a session, as the caller of a call to `target`: the server's requests and log messages go back on the call's exchange. */
function sessionCaller (session: PassThroughSession, requestId: RequestId, target: ServedServer, metrics: MetricRecorder): Caller {
  const { server } = session
  return {
    key: session.id,
    ask: (method, params, signal) => {
      if (server.getClientCapabilities()?.[CAPABILITY_OF[method]] === undefined) return undefined
      countRelayedRequest(metrics, target, method)
      return server.request({ method, params } as never, { relatedRequestId: requestId, signal, timeout: target.callTimeoutMs })
    },
    log: (params) => {
      if (!(server as unknown as LogLevels).isMessageIgnored(params.level, session.id)) server.notification({ method: 'notifications/message', params }, { relatedRequestId: requestId }).catch(() => {})
    }
  }
}

interface Exchange {
  channel: ChildStdioTransport
  request: JSONRPCRequest
  route: Route
  session: PassThroughSession
  cancelled: AbortSignal
  record: ((ok: boolean, error: string | null) => void) | undefined
}

/**
 * One call, from the client's request to its answer: sent to the child with our id (and our
 * progress token), its progress relayed, its answer passed back with the client's id. Ends, as
 * the SDK path does, on the child's answer, the call's timeout (an error, the server told to
 * cancel), the client's cancellation (no answer, the server told), or the connection's end.
 */
async function forward ({ channel, request, route, session, cancelled, record }: Exchange): Promise<void> {
  const clientId = request.id
  const meta = route.params._meta as Record<string, unknown> | undefined
  const clientToken = meta?.progressToken
  await new Promise<void>((resolve) => {
    const fail = (error: ReturnType<typeof rpcError>['error'], cancelReason?: string) => {
      end()
      if (cancelReason !== undefined) channel.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: ownId, reason: cancelReason } }).catch(() => {})
      record?.(false, error.message)
      session.transport.answer(clientId, JSON.stringify(rpcError(error.code, error.message, { id: clientId, data: error.data })))
    }
    const onCancel = () => {
      end()
      channel.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: ownId, reason: String(cancelled.reason) } }).catch(() => {})
      record?.(false, String(cancelled.reason))
    }
    const end = () => {
      clearTimeout(timer)
      cancelled.removeEventListener('abort', onCancel)
      channel.release(ownId)
      resolve()
    }
    const ownId = channel.claim({
      answer: (answer, line) => {
        end()
        if ('error' in answer) record?.(false, answer.error.message)
        else record?.(answer.result.isError !== true, answer.result.isError === true ? 'tool reported an error' : null)
        session.transport.answer(clientId, withClientId(line, ownId, clientId, answer))
      },
      progress: (progress) => {
        if (clientToken !== undefined) session.transport.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { ...progress, progressToken: clientToken } }, { relatedRequestId: clientId }).catch(() => {})
      },
      closed: () => { fail({ code: -32603, message: 'Connection closed' }) }
    })
    const timeout = route.target.callTimeoutMs
    const timer = setTimeout(() => { fail({ code: -32603, message: 'Request timed out', data: { timeout } }, 'Request timed out') }, timeout)
    if (cancelled.aborted) {
      onCancel()
      return
    }
    cancelled.addEventListener('abort', onCancel, { once: true })
    const params = clientToken === undefined ? route.params : { ...route.params, _meta: { ...meta, progressToken: ownId } }
    channel.send({ jsonrpc: '2.0', id: ownId, method: request.method, params }).catch((error: unknown) => { fail({ code: -32603, message: (error as Error).message }) })
  })
}

/**
 * The hot path of calls on a Streamable HTTP session (`tools/call`, `prompts/get`,
 * `resources/read`): the client's request goes to the child with only its id (and, on aggregate
 * endpoints, the name) rewritten, and the child's answer comes back with only the id restored —
 * no SDK dispatch or validation on either side (the client validates what it gets). Authorization,
 * the call record, metrics, tracing, progress, cancellation and the server's own requests
 * (through `callers`) work as on the SDK path. Listings are answered from the JSON the caller's
 * view keeps of them (the view is rebuilt whenever what the caller may see changes). Undefined,
 * having done nothing, when the request is for the SDK path.
 */
export function passThrough (deps: Pick<McpServerDeps, 'calls' | 'metrics'>, session: PassThroughSession, scope: RequestScope, request: JSONRPCRequest, reply: FastifyReply): Promise<void> | undefined {
  const listing = listingAnswer(scope.view, request)
  if (listing !== undefined) return session.transport.serve(reply, request.id, () => { session.transport.answer(request.id, listing) })
  const route = routeOf(scope.view, request)
  const channel = route?.target.managed.transport
  if (route === undefined || channel === undefined) return undefined
  const record = route.tool === undefined ? undefined : callRecord(deps, scope, route.target, route.tool)
  const caller = sessionCaller(session, request.id, route.target, deps.metrics)
  return session.transport.serve(reply, request.id, (cancelled) => {
    route.target.managed.callers.run(caller, async () => { await forward({ channel, request, route, session, cancelled, record }) }).catch(() => {})
  })
}
