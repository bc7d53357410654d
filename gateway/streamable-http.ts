import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { type JSONRPCMessage, isInitializeRequest, isLegacyRequest, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server'
import { asJsonRpcMessage, isRequest } from '../lib/jsonrpc.ts'
import { notFound } from '../lib/errors.ts'
import { countMcpRequest } from '../metrics/mcp.ts'
import { principalOf } from '../plugins/access.ts'
import type { Scope } from './catalog.ts'
import type { Gateway, ScopeOf } from './context.ts'
import { McpReplyError } from './errors.ts'
import { ignoreContentTypeWithoutBody, MCP_BODY_LIMIT } from './guards.ts'
import { StreamableHttpTransport } from './http-transport.ts'
import { authInfoFor } from './mcp-server.ts'
import { newSessionId } from './sessions.ts'

/** Header checks of a 2025 session request (Streamable HTTP transport rules). */
function checkSessionRequest (request: FastifyRequest): void {
  const accept = request.headers.accept ?? ''
  if (request.method === 'POST' && (!accept.includes('application/json') || !accept.includes('text/event-stream'))) throw new McpReplyError(406, -32000, 'Not Acceptable: the client must accept application/json and text/event-stream')
  if (request.method === 'GET' && !accept.includes('text/event-stream')) throw new McpReplyError(406, -32000, 'Not Acceptable: the client must accept text/event-stream')
  const version = request.headers['mcp-protocol-version']
  if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) throw new McpReplyError(400, -32000, `Unsupported protocol version: ${version}`)
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

/**
 * The Streamable HTTP endpoints. 2025 clients get a stateful session (opened by `initialize`,
 * owned by the user, bound to the endpoint) served by our own transport; 2026-07-28 clients,
 * and requests of older ones without a session, are served statelessly by the SDK.
 */
export function streamableHttpRoutes (app: FastifyInstance, gateway: Gateway, endpoints: Record<string, ScopeOf>): void {
  const { sessions } = gateway

  async function serve (request: FastifyRequest, reply: FastifyReply, scope: Scope | undefined) {
    if (request.method === 'POST') countMcpRequest(app.metrics, request.body)
    const principal = principalOf(request)
    const view = scope === undefined ? undefined : await gateway.viewOf(principal, scope)
    if (scope === undefined || view === undefined) throw notFound('MCP endpoint')
    const path = request.url.split('?')[0]!
    const requestScope = { principal, view, endpoint: path, trace: app.tracing?.mcpRequest(request) }
    const authInfo = authInfoFor(requestScope)
    const sessionId = request.headers['mcp-session-id']
    const opensSession = typeof sessionId !== 'string' && request.method === 'POST' && isInitializeRequest(request.body)
    if (typeof sessionId === 'string' || opensSession) checkSessionRequest(request)
    if (typeof sessionId === 'string') {
      // Another user's session id, or one of another endpoint, is simply not found.
      const session = sessions.find(sessionId, principal.userId, path)
      if (session === undefined || !(session.transport instanceof StreamableHttpTransport)) throw notFound('MCP session')
      if (request.method === 'DELETE') {
        sessions.close(session.id)
        return await reply.code(200).send()
      }
      if (request.method === 'GET') {
        if (!session.transport.listen(reply)) throw new McpReplyError(409, -32000, 'Conflict: only one event stream per session')
        // The event stream ends with its request's credential (a token expires; the session goes on).
        const unwatch = app.watchStream({ principal, need: gateway.mayUse(scope), end: () => { reply.raw.end() } })
        reply.raw.once('close', unwatch)
        return reply
      }
      const message = asJsonRpcMessage(request.body)
      if (message === undefined) throw new McpReplyError(400, -32600, 'Invalid Request: the body must be one JSON-RPC message')
      if ('method' in message && message.method === 'initialize') throw new McpReplyError(400, -32600, 'Invalid Request: the session is already initialized')
      const passing = isRequest(message) ? gateway.passThrough({ id: session.id, server: session.server, transport: session.transport }, requestScope, message, reply) : undefined
      await (passing ?? session.transport.post(reply, message, { authInfo }))
      return reply
    }
    const webRequest = toWebRequest(request)
    if (opensSession && await isLegacyRequest(webRequest.clone(), request.body)) {
      const server = gateway.newServer()
      const transport = new StreamableHttpTransport(newSessionId())
      gateway.openSession({ id: transport.sessionId, userId: principal.userId, path, transport, server, lastSeen: Date.now() }, principal, scope, false)
      await server.connect(transport)
      await transport.post(reply, request.body as JSONRPCMessage, { authInfo })
      return reply
    }
    const response = await gateway.stateless.fetch(webRequest, { authInfo, parsedBody: request.body })
    reply.code(response.status)
    response.headers.forEach((value, name) => { reply.header(name, value) })
    if (response.body === null) return await reply.send()
    return await reply.send(Readable.fromWeb(response.body as WebReadableStream))
  }

  for (const [url, scopeOf] of Object.entries(endpoints)) {
    app.route({
      method: ['GET', 'POST', 'DELETE'],
      url,
      config: { access: 'user', rateLimit: false },
      schema: { hide: true },
      bodyLimit: MCP_BODY_LIMIT,
      onRequest: ignoreContentTypeWithoutBody,
      handler: async (request, reply) => await serve(request, reply, await scopeOf(request))
    })
  }
}
