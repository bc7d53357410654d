import { PassThrough, Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { createMcpHandler, type JSONRPCMessage, isInitializeRequest, isLegacyRequest, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server'
import { failure } from '../lib/envelope.ts'
import { EpochCache } from '../lib/epoch-cache.ts'
import { asJsonRpcMessage } from '../lib/jsonrpc.ts'
import { isOwnOrigin } from '../lib/origin.ts'
import { AUTHENTICATE_CHALLENGE, authorizationFailed, notFound, rateLimited, toHubError } from '../lib/errors.ts'
import { serversInScope, type Principal } from '../access/index.ts'
import { ToolCallLog } from './accounting.ts'
import { rpcError, StreamableHttpTransport } from './http-transport.ts'
import { newSessionId, SessionStore } from './sessions.ts'
import { SseServerTransport } from './sse-transport.ts'
import { catalogFor, groupScope, resolveScopeName, serverScope, type CatalogView, type Scope } from './catalog.ts'
import { mcpServer, type RequestScope } from './mcp-server.ts'
import { PausedCalls } from './paused-calls.ts'
import { ResourceSubscriptions } from './subscriptions.ts'

/** The largest MCP message a client may POST (tool arguments can carry whole files). */
const MCP_BODY_LIMIT = 4 * 1024 * 1024
/**
 * How long shutdown waits for calls in flight on sessions before it closes them. With the
 * children's stop (2 s stdin grace + 10 s) it stays within the 20 s shutdown bound of server.ts.
 */
const SESSION_DRAIN_MS = 5000

/**
 * The MCP endpoints (Streamable HTTP): `/mcp` (every server the caller may read),
 * `/mcp/groups/{name}`, `/mcp/servers/{key}`, and `/mcp/{name}` (a group, else a server).
 * Each request is authenticated and answered from a view built for the caller at that moment.
 */
export interface GatewayOptions {
  /** MCP requests per minute per user (0: no limit), apart from the REST tiers. */
  rateLimit: number
  /** Host names the endpoints answer to; undefined: any. */
  allowedHosts: string[] | undefined
}

function hostnameOf (host: string | undefined): string | undefined {
  try {
    return new URL(`http://${host ?? ''}`).hostname.toLowerCase()
  } catch {
    return undefined
  }
}

function hasNoBody (request: FastifyRequest): boolean {
  const length = request.headers['content-length']
  return request.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')
}

const gateway: FastifyPluginAsync<GatewayOptions> = async (app, options) => {
  const calls = new ToolCallLog(app.db, (error) => app.log.warn({ err: { message: error.message } }, 'could not record tool calls'))
  const sessions = new SessionStore(undefined, (session) => {
    subscriptions.dropSession(session.id)
    unwatchSession.get(session.id)?.()
    unwatchSession.delete(session.id)
  })
  // Sessions end when their caller's credential goes away or they may no longer use the endpoint (access/live.ts).
  const unwatchSession = new Map<string, () => void>()
  const mayUse = (scope: Scope) => async (current: Principal) => scope.kind === 'all' || await serversInScope(app.db, current, scope) !== undefined
  const watchSession = (id: string, principal: Principal, scope: Scope, expires: boolean) => {
    unwatchSession.set(id, app.watchStream({ principal, need: mayUse(scope), end: () => { sessions.close(id) }, expires }))
  }
  const subscriptions = new ResourceSubscriptions((sessionId, uri) => { sessions.get(sessionId)?.server.sendResourceUpdated({ uri }).catch(() => {}) })
  const stopRelayingUpdates = app.supervisor.onResourceUpdated((server, uri) => { subscriptions.updated(server, uri) })
  const paused = new PausedCalls()
  const newServer = () => mcpServer({ calls, subscriptions, paused })
  const handler = createMcpHandler(newServer, {
    legacy: 'stateless',
    onerror: (error) => app.log.warn({ err: { message: error.message } }, 'MCP request failed')
  })
  // Endpoint names and callers' views are derived from stored records and the servers' catalogs; they are reused until either changes.
  const scopes = new EpochCache<Scope | undefined>({ epochs: () => [app.records.current], ttlMs: 1000, maxEntries: 10_000, now: Date.now })
  // A view of a large aggregate endpoint is big (its lists): fewer of them are kept.
  const views = new EpochCache<CatalogView | undefined>({ epochs: () => [app.records.current, app.supervisor.catalogVersion], ttlMs: 1000, maxEntries: 1000, now: Date.now })
  const viewOf = async (principal: Principal, scope: Scope) =>
    await views.get(`${principal.userId}:${principal.role}:${JSON.stringify(scope)}`, async () => await catalogFor(app.db, app.supervisor, principal, scope))
  // Open sessions hear when what they may list changes; they list again to see how.
  const stopListening = app.supervisor.onCatalogChange((server) => {
    // Once the server counts as running (right after its catalog is in), it hears its subscriptions again.
    setImmediate(() => { subscriptions.renew(server) })
    for (const session of sessions.all()) {
      session.server.sendToolListChanged().catch(() => {})
      session.server.sendPromptListChanged().catch(() => {})
      session.server.sendResourceListChanged().catch(() => {})
    }
  })
  app.addHook('preClose', async () => {
    stopListening()
    stopRelayingUpdates()
    // New requests get 503 from now on; calls already in flight on sessions finish first (bounded).
    if (!await sessions.drain(SESSION_DRAIN_MS)) app.log.warn('closing MCP sessions with calls still in flight')
    sessions.closeAll()
  })
  app.addHook('onClose', async () => {
    await handler.close()
    await calls.close()
  })

  // MCP clients get JSON-RPC errors (with the HTTP status the problem calls for).
  app.setErrorHandler((thrown, request, reply) => {
    const error = toHubError(thrown)
    if (error.statusCode >= 500) request.log.error({ err: thrown }, 'MCP request failed')
    if (error.code === 'AUTHENTICATION_FAILED') reply.header('www-authenticate', AUTHENTICATE_CHALLENGE)
    return reply.code(error.statusCode).send(rpcError(-32000, error.message, { data: failure(error).error }))
  })

  // Its own per-user budget, apart from the REST tiers.
  if (options.rateLimit > 0) {
    const limiter = app.createRateLimit({ max: options.rateLimit, timeWindow: 60_000, allowList: () => false, keyGenerator: (request) => `mcp:${request.principal?.userId ?? request.ip}` })
    app.addHook('onRequest', async (request, reply) => {
      const outcome = await limiter(request)
      if (!outcome.isAllowed && outcome.isExceeded) {
        reply.header('retry-after', outcome.ttlInSeconds)
        throw rateLimited('MCP rate limit exceeded')
      }
    })
  }

  // DNS rebinding protection (MCP transport rules): unknown Host names and foreign origins are refused.
  const allowedHosts = options.allowedHosts?.map((host) => host.toLowerCase())
  app.addHook('onRequest', async (request) => {
    if (allowedHosts !== undefined && !allowedHosts.includes(hostnameOf(request.headers.host) ?? '')) throw authorizationFailed('Host not allowed')
    const origin = request.headers.origin
    if (origin !== undefined && !isOwnOrigin(origin, request.protocol, request.headers.host)) throw authorizationFailed('Origin not allowed')
  })

  /** How a request's caller and view reach the MCP handlers (the SDK's auth info, not a credential). */
  function authInfoFor (principal: Principal, view: CatalogView, endpoint: string) {
    const scope: RequestScope = { view, principal, endpoint }
    return { token: '', clientId: principal.userId, scopes: [], extra: scope as unknown as Record<string, unknown> }
  }

  /** Header checks of a 2025 session request (Streamable HTTP transport rules). */
  function sessionRequestProblem (request: FastifyRequest): { status: number, message: string } | undefined {
    const accept = request.headers.accept ?? ''
    if (request.method === 'POST' && (!accept.includes('application/json') || !accept.includes('text/event-stream'))) return { status: 406, message: 'Not Acceptable: the client must accept application/json and text/event-stream' }
    if (request.method === 'GET' && !accept.includes('text/event-stream')) return { status: 406, message: 'Not Acceptable: the client must accept text/event-stream' }
    const version = request.headers['mcp-protocol-version']
    if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return { status: 400, message: `Unsupported protocol version: ${version}` }
    return undefined
  }

  /**
   * 2025 clients get a stateful session (opened by `initialize`, owned by the user, bound to the
   * endpoint) served by our own transport; 2026-07-28 clients, and requests of older ones without
   * a session, are served statelessly by the SDK.
   */
  async function serve (request: FastifyRequest, reply: FastifyReply, scope: Scope | undefined) {
    const principal = request.principal!
    const view = scope === undefined ? undefined : await viewOf(principal, scope)
    if (view === undefined) throw notFound('MCP endpoint')
    const path = request.url.split('?')[0]!
    const authInfo = authInfoFor(principal, view, path)
    const sessionId = request.headers['mcp-session-id']
    const opensSession = typeof sessionId !== 'string' && request.method === 'POST' && isInitializeRequest(request.body)
    if (typeof sessionId === 'string' || opensSession) {
      const problem = sessionRequestProblem(request)
      if (problem !== undefined) return await reply.code(problem.status).send(rpcError(-32000, problem.message))
    }
    if (typeof sessionId === 'string') {
      // Another user's session id, or one of another endpoint, is simply not found.
      const session = sessions.find(sessionId, principal.userId, path)
      if (session === undefined || !(session.transport instanceof StreamableHttpTransport)) throw notFound('MCP session')
      if (request.method === 'DELETE') {
        sessions.close(session.id)
        return await reply.code(200).send()
      }
      if (request.method === 'GET') {
        if (!session.transport.listen(reply)) return await reply.code(409).send(rpcError(-32000, 'Conflict: only one event stream per session'))
        // The event stream ends with its request's credential (a token expires; the session goes on).
        const unwatch = app.watchStream({ principal, need: mayUse(scope!), end: () => { reply.raw.end() } })
        reply.raw.once('close', unwatch)
        return reply
      }
      const message = asJsonRpcMessage(request.body)
      if (message === undefined) return await reply.code(400).send(rpcError(-32600, 'Invalid Request: the body must be one JSON-RPC message'))
      if ('method' in message && message.method === 'initialize') return await reply.code(400).send(rpcError(-32600, 'Invalid Request: the session is already initialized'))
      await session.transport.post(reply, message, { authInfo })
      return reply
    }
    const webRequest = toWebRequest(request)
    if (opensSession && await isLegacyRequest(webRequest.clone(), request.body)) {
      const server = newServer()
      const transport = new StreamableHttpTransport(newSessionId())
      sessions.add({ id: transport.sessionId, userId: principal.userId, path, transport, server, lastSeen: Date.now() })
      watchSession(transport.sessionId, principal, scope!, false)
      await server.connect(transport)
      await transport.post(reply, request.body as JSONRPCMessage, { authInfo })
      return reply
    }
    const response = await handler.fetch(webRequest, { authInfo, parsedBody: request.body })
    reply.code(response.status)
    response.headers.forEach((value, name) => { reply.header(name, value) })
    if (response.body === null) return await reply.send()
    return await reply.send(Readable.fromWeb(response.body as WebReadableStream))
  }

  /** The request as the SDK's stateless handler takes it, without the client's credentials: they are never part of what reaches a server. */
  function toWebRequest (request: FastifyRequest): Request {
    const headers = new Headers()
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && name !== 'authorization' && name !== 'x-api-key' && name !== 'cookie') headers.set(name, String(value))
    }
    const body = request.method === 'POST' ? JSON.stringify(request.body) : undefined
    return new Request(`http://${request.headers.host ?? 'localhost'}${request.url}`, { method: request.method, headers, body })
  }

  const route = (url: string, scopeOf: (request: FastifyRequest) => Promise<Scope | undefined>) => {
    app.route({
      method: ['GET', 'POST', 'DELETE'],
      url,
      config: { access: 'user', rateLimit: false },
      schema: { hide: true },
      bodyLimit: MCP_BODY_LIMIT,
      // A DELETE (or GET) without a body is fine whatever content type it names (the Python SDK's DELETE says JSON).
      onRequest: async (request) => { if (request.method !== 'POST' && hasNoBody(request)) delete request.raw.headers['content-type'] },
      handler: async (request, reply) => serve(request, reply, await scopeOf(request))
    })
  }
  /** The older HTTP+SSE transport: `GET /sse[/…]` opens the stream, `POST /messages?sessionId=` sends. */
  const sseRoute = (url: string, scopeOf: (request: FastifyRequest) => Promise<Scope | undefined>) => {
    app.get(url, { config: { access: 'user', rateLimit: false }, schema: { hide: true } }, async (request, reply) => {
      const principal = request.principal!
      const scope = await scopeOf(request)
      if (scope === undefined || await viewOf(principal, scope) === undefined) throw notFound('MCP endpoint')
      const id = newSessionId()
      const stream = new PassThrough()
      const transport = new SseServerTransport(id, stream, `/messages?sessionId=${id}`)
      const server = newServer()
      sseScopes.set(id, scope)
      sessions.add({ id, userId: principal.userId, path: '/messages', transport, server, lastSeen: Date.now() })
      watchSession(id, principal, scope, true)
      request.raw.on('close', () => {
        sseScopes.delete(id)
        sessions.close(id)
      })
      await server.connect(transport)
      reply.raw.once('pipe', () => { reply.raw.flushHeaders() })
      return reply.header('cache-control', 'no-cache').type('text/event-stream').send(stream)
    })
  }
  const sseScopes = new Map<string, Scope>()
  app.post('/messages', { config: { access: 'user', rateLimit: false }, schema: { hide: true }, bodyLimit: MCP_BODY_LIMIT }, async (request, reply) => {
    const principal = request.principal!
    const id = (request.query as { sessionId?: string }).sessionId ?? ''
    const session = sessions.find(id, principal.userId, '/messages')
    const scope = sseScopes.get(id)
    if (session === undefined || scope === undefined || !(session.transport instanceof SseServerTransport)) throw notFound('MCP session')
    const view = await viewOf(principal, scope)
    if (view === undefined) throw notFound('MCP endpoint')
    const message = asJsonRpcMessage(request.body)
    if (message === undefined) return await reply.code(400).send(rpcError(-32600, 'Invalid Request: the body must be one JSON-RPC message'))
    session.transport.receive(message, { authInfo: authInfoFor(principal, view, '/messages') })
    return reply.code(202).send()
  })
  /** The scope an endpoint's one path parameter names. */
  const named = (url: string, resolve: (db: typeof app.db, name: string) => Promise<Scope | undefined>) => async (request: FastifyRequest) => {
    const name = Object.values(request.params as Record<string, string>)[0] ?? ''
    return await scopes.get(`${url}:${name}`, async () => await resolve(app.db, name))
  }
  sseRoute('/sse', async () => ({ kind: 'all' }))
  sseRoute('/sse/:name', named('/sse/:name', resolveScopeName))

  route('/mcp', async () => ({ kind: 'all' }))
  route('/mcp/servers/:key', named('/mcp/servers/:key', serverScope))
  route('/mcp/groups/:name', named('/mcp/groups/:name', groupScope))
  route('/mcp/:name', named('/mcp/:name', resolveScopeName))
}

export default gateway
