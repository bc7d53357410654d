import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { createMcpHandler } from '@modelcontextprotocol/server'
import { EpochCache } from '../lib/epoch-cache.ts'
import { AUTHENTICATE_CHALLENGE } from '../lib/errors.ts'
import { requestLogsFrom } from '../plugins/hub-log.ts'
import { serversInScope, type Principal } from '../access/index.ts'
import { ToolCallLog } from './accounting.ts'
import { catalogFor, groupScope, resolveScopeName, serverScope, type CatalogView, type Scope } from './catalog.ts'
import type { Gateway, ScopeOf } from './context.ts'
import { toMcpReplyError } from './errors.ts'
import { hostAndOrigin, rateBudget } from './guards.ts'
import { mcpServer } from './mcp-server.ts'
import { passThrough } from './pass-through.ts'
import { PausedCalls } from './paused-calls.ts'
import { SessionStore, type Session } from './sessions.ts'
import { sseRoutes } from './sse.ts'
import { streamableHttpRoutes } from './streamable-http.ts'
import { ResourceSubscriptions } from './subscriptions.ts'

/**
 * How long shutdown waits for calls in flight on sessions before it closes them. With the
 * children's stop (2 s stdin grace + 10 s) it stays within the 20 s shutdown bound of server.ts.
 */
const SESSION_DRAIN_MS = 5000

/**
 * The MCP endpoints (Streamable HTTP): `/mcp` (every server the caller may read),
 * `/mcp/groups/{name}`, `/mcp/servers/{key}`, and `/mcp/{name}` (a group, else a server);
 * and the older HTTP+SSE transport on `/sse[/{name}]`.
 * Each request is authenticated and answered from a view built for the caller at that moment.
 */
export interface GatewayOptions {
  /** MCP requests per minute per user (0: no limit), apart from the REST tiers. */
  rateLimit: number
  /** Host names the endpoints answer to; undefined: any. */
  allowedHosts: string[] | undefined
}

const gateway: FastifyPluginAsync<GatewayOptions> = async (app, options) => {
  const calls = new ToolCallLog(app.db, (error) => app.log.warn({ err: { message: error.message } }, 'could not record tool calls'))
  const sessions = new SessionStore(undefined, (session) => {
    subscriptions.dropSession(session.id)
    unwatchSession.get(session.id)?.()
    unwatchSession.delete(session.id)
    sessionAccess.delete(session.id)
  })
  // Sessions end when their caller's credential goes away or they may no longer use the endpoint (access/live.ts).
  const unwatchSession = new Map<string, () => void>()
  /** Each open session's endpoint scope, and its caller as they stand (for what the hub sends it unasked). */
  const sessionAccess = new Map<string, { principal: Principal, scope: Scope }>()
  const mayUse = (scope: Scope) => async (current: Principal) => scope.kind === 'all' || await serversInScope(app.db, current, scope) !== undefined
  const openSession = (session: Session, principal: Principal, scope: Scope, expires: boolean) => {
    const access = { principal, scope }
    sessionAccess.set(session.id, access)
    sessions.add(session)
    // Checked again whenever stored records change: the session's caller is then as they stand (their role).
    const need = async (current: Principal) => {
      access.principal = current
      return await mayUse(scope)(current)
    }
    unwatchSession.set(session.id, app.watchStream({ principal, need, end: () => { sessions.close(session.id) }, expires }))
  }
  const subscriptions = new ResourceSubscriptions({
    notify: (sessionId, uri) => { sessions.get(sessionId)?.server.sendResourceUpdated({ uri }).catch(() => {}) },
    // What an admin disabled, or the caller may no longer read, is not heard of either.
    allows: async (sessionId, serverId, uri) => {
      const access = sessionAccess.get(sessionId)
      return access !== undefined && (await viewOf(access.principal, access.scope))?.findResource(uri)?.id === serverId
    }
  })
  const relayFailed = (error: unknown) => { app.log.warn({ err: error }, 'could not relay a resource update') }
  const stopRelayingUpdates = app.supervisor.onResourceUpdated((server, uri) => { subscriptions.updated(server, uri).catch(relayFailed) })
  const paused = new PausedCalls()
  const newServer = () => mcpServer({ calls, subscriptions, paused, metrics: app.metrics })
  app.sampler.report('mcpSessions', () => sessions.size)
  const stateless = createMcpHandler(newServer, {
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
    setImmediate(() => { subscriptions.renew(server).catch(relayFailed) })
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
    await stateless.close()
    await calls.close()
  })

  app.setChildLoggerFactory(requestLogsFrom('gateway'))
  // MCP clients get JSON-RPC errors, with the HTTP status the problem calls for.
  app.setErrorHandler((thrown, request, reply) => {
    const error = toMcpReplyError(thrown)
    if (error.statusCode >= 500) request.log.error({ err: thrown }, 'MCP request failed')
    if (error.statusCode === 401) reply.header('www-authenticate', AUTHENTICATE_CHALLENGE)
    return reply.code(error.statusCode).send(error.body())
  })
  if (options.rateLimit > 0) app.addHook('onRequest', rateBudget(app, options.rateLimit))
  app.addHook('onRequest', hostAndOrigin(options.allowedHosts))

  const shared: Gateway = {
    sessions,
    newServer,
    passThrough: (session, scope, request, reply) => passThrough({ calls, metrics: app.metrics }, session, scope, request, reply),
    stateless,
    viewOf,
    mayUse,
    openSession,
    scopeOfSession: (id) => sessionAccess.get(id)?.scope
  }
  /** The scope an endpoint's one path parameter names. */
  const named = (url: string, resolve: (db: typeof app.db, name: string) => Promise<Scope | undefined>): ScopeOf => async (request: FastifyRequest) => {
    const name = Object.values(request.params as Record<string, string>)[0] ?? ''
    return await scopes.get(`${url}:${name}`, async () => await resolve(app.db, name))
  }
  const all: ScopeOf = async () => ({ kind: 'all' })
  sseRoutes(app, shared, {
    '/sse': all,
    '/sse/:name': named('/sse/:name', resolveScopeName)
  })
  streamableHttpRoutes(app, shared, {
    '/mcp': all,
    '/mcp/servers/:key': named('/mcp/servers/:key', serverScope),
    '/mcp/groups/:name': named('/mcp/groups/:name', groupScope),
    '/mcp/:name': named('/mcp/:name', resolveScopeName)
  })
}

export default gateway
