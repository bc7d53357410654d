import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { createMcpHandler, ProtocolError, ProtocolErrorCode, Server } from '@modelcontextprotocol/server'
import { failure } from '../lib/envelope.ts'
import { authorizationFailed, notFound, rateLimited, toHubError } from '../lib/errors.ts'
import type { Principal } from '../plugins/access.ts'
import { ToolCallLog } from './accounting.ts'
import { catalogFor, groupScope, resolveScopeName, serverScope, type CatalogView, type Scope, type ServedServer } from './catalog.ts'

const HUB_INFO = { name: 'mcphub', version: '0.1.0' }
const CALL_TIMEOUT_MS = 60_000

interface RequestScope {
  view: CatalogView
  principal: Principal
  calls: ToolCallLog
}

/** One MCP server object per request, answering from the caller's view of the endpoint. */
function serverFor ({ view, principal, calls }: RequestScope): Server {
  const server = new Server(HUB_INFO, { capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true } } })
  const upstream = (target: { server: ServedServer }) => {
    const client = target.server.managed.client
    if (client === undefined) throw new ProtocolError(ProtocolErrorCode.InternalError, `Server "${target.server.key}" is not running`)
    return client
  }
  server.setRequestHandler('tools/list', async () => ({ tools: view.tools() }))
  server.setRequestHandler('tools/call', async (request) => {
    const target = view.findTool(request.params.name)
    if (target === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`)
    if (!target.server.canCallTools) throw new ProtocolError(ProtocolErrorCode.InvalidRequest, `Calling the tools of "${target.server.key}" is not allowed`)
    const startedAt = new Date()
    const record = (ok: boolean, error: string | null) => calls.record({ userId: principal.userId, serverId: target.server.id, tool: target.name, startedAt, durationMs: Date.now() - startedAt.getTime(), ok, error })
    try {
      const result = await upstream(target).callTool({ name: target.name, arguments: request.params.arguments ?? {} }, { timeout: CALL_TIMEOUT_MS })
      record(result.isError !== true, result.isError === true ? 'tool reported an error' : null)
      return result
    } catch (error) {
      record(false, (error as Error).message)
      throw error
    }
  })
  server.setRequestHandler('prompts/list', async () => ({ prompts: view.prompts() }))
  server.setRequestHandler('prompts/get', async (request) => {
    const target = view.findPrompt(request.params.name)
    if (target === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${request.params.name}`)
    return await upstream(target).getPrompt({ name: target.name, arguments: request.params.arguments ?? {} }, { timeout: CALL_TIMEOUT_MS })
  })
  server.setRequestHandler('resources/list', async () => ({ resources: view.resources() }))
  server.setRequestHandler('resources/read', async (request) => {
    const owner = view.findResource(request.params.uri)
    if (owner === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown resource: ${request.params.uri}`)
    return await upstream({ server: owner }).readResource({ uri: request.params.uri }, { timeout: CALL_TIMEOUT_MS })
  })
  return server
}

/**
 * The MCP endpoints (Streamable HTTP): `/mcp` (every server the caller may read),
 * `/mcp/groups/{name}`, `/mcp/servers/{key}`, and `/mcp/{name}` (a group, else a server).
 * Each request is authenticated and answered from a view built for the caller at that moment.
 */
export interface GatewayOptions {
  /** MCP requests per minute per user (0: no limit), apart from the REST tiers. */
  rateLimit: number
}

const gateway: FastifyPluginAsync<GatewayOptions> = async (app, options) => {
  const handler = createMcpHandler((context) => serverFor(context.authInfo?.extra as unknown as RequestScope), {
    legacy: 'stateless',
    onerror: (error) => app.log.warn({ err: { message: error.message } }, 'MCP request failed')
  })
  const calls = new ToolCallLog(app.db, (error) => app.log.warn({ err: { message: error.message } }, 'could not record tool calls'))
  app.addHook('onClose', async () => {
    await handler.close()
    await calls.close()
  })

  // MCP clients get JSON-RPC errors (with the HTTP status the problem calls for).
  app.setErrorHandler((thrown, request, reply) => {
    const error = toHubError(thrown)
    if (error.statusCode >= 500) request.log.error({ err: thrown }, 'MCP request failed')
    if (error.code === 'AUTHENTICATION_FAILED') reply.header('www-authenticate', 'Bearer realm="mcphub"')
    return reply.code(error.statusCode).send({ jsonrpc: '2.0', id: null, error: { code: -32000, message: error.message, data: failure(error).error } })
  })

  // Its own per-user budget, apart from the REST tiers.
  const limiter = options.rateLimit === 0
    ? undefined
    : app.createRateLimit({ max: options.rateLimit, timeWindow: 60_000, allowList: () => false, keyGenerator: (request) => `mcp:${request.principal?.userId ?? request.ip}` })
  app.addHook('onRequest', async (_request, reply) => {
    if (limiter === undefined) return
    const outcome = await limiter(_request)
    if (!outcome.isAllowed && outcome.isExceeded) {
      reply.header('retry-after', outcome.ttlInSeconds)
      throw rateLimited('MCP rate limit exceeded')
    }
  })

  // DNS rebinding protection (MCP transport rules): a browser page of another origin is refused.
  app.addHook('onRequest', async (request) => {
    const origin = request.headers.origin
    if (origin === undefined) return
    let host: string | undefined
    try {
      host = new URL(origin).host
    } catch {}
    if (host !== request.headers.host) throw authorizationFailed('Origin not allowed')
  })

  async function serve (request: FastifyRequest, reply: FastifyReply, scope: Scope | undefined) {
    const view = scope === undefined ? undefined : await catalogFor(app.db, app.supervisor, request.principal!, scope)
    if (view === undefined) throw notFound('MCP endpoint')
    const headers = new Headers()
    for (const [name, value] of Object.entries(request.headers)) {
      // The client's credentials stay here: they are never part of what reaches a server.
      if (value !== undefined && name !== 'authorization' && name !== 'x-api-key' && name !== 'cookie') headers.set(name, String(value))
    }
    const body = request.method === 'POST' ? JSON.stringify(request.body) : undefined
    const response = await handler.fetch(new Request(`http://${request.headers.host ?? 'localhost'}${request.url}`, { method: request.method, headers, body }), {
      authInfo: { token: '', clientId: request.principal!.userId, scopes: [], extra: { view, principal: request.principal!, calls } as unknown as Record<string, unknown> },
      parsedBody: request.body
    })
    reply.code(response.status)
    response.headers.forEach((value, name) => { reply.header(name, value) })
    if (response.body === null) return reply.send()
    return reply.send(Readable.fromWeb(response.body as WebReadableStream))
  }

  const route = (url: string, scopeOf: (request: FastifyRequest) => Promise<Scope | undefined>) => {
    app.route({
      method: ['GET', 'POST', 'DELETE'],
      url,
      config: { access: 'user', rateLimit: false },
      schema: { hide: true },
      handler: async (request, reply) => serve(request, reply, await scopeOf(request))
    })
  }
  route('/mcp', async () => ({ kind: 'all' }))
  route('/mcp/servers/:key', (request) => serverScope(app.db, (request.params as { key: string }).key))
  route('/mcp/groups/:name', (request) => groupScope(app.db, (request.params as { name: string }).name))
  route('/mcp/:name', (request) => resolveScopeName(app.db, (request.params as { name: string }).name))
}

export default gateway
