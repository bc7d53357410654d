import { PassThrough } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { asJsonRpcMessage } from '../lib/jsonrpc.ts'
import { notFound } from '../lib/errors.ts'
import { countMcpRequest } from '../metrics/mcp.ts'
import { principalOf } from '../plugins/access.ts'
import type { Gateway, ScopeOf } from './context.ts'
import { McpReplyError } from './errors.ts'
import { MCP_BODY_LIMIT } from './guards.ts'
import { authInfoFor } from './mcp-server.ts'
import { newSessionId } from './sessions.ts'
import { SseServerTransport } from './sse-transport.ts'

/** The older HTTP+SSE transport: `GET /sse[/…]` opens the stream, `POST /messages?sessionId=` sends. */
export function sseRoutes (app: FastifyInstance, gateway: Gateway, endpoints: Record<string, ScopeOf>): void {
  const { sessions } = gateway

  app.post('/messages', { config: { access: 'user', rateLimit: false }, schema: { hide: true }, bodyLimit: MCP_BODY_LIMIT }, async (request, reply) => {
    const principal = principalOf(request)
    const id = (request.query as { sessionId?: string }).sessionId ?? ''
    const session = sessions.find(id, principal.userId, '/messages')
    const scope = gateway.scopeOfSession(id)
    if (session === undefined || scope === undefined || !(session.transport instanceof SseServerTransport)) throw notFound('MCP session')
    const view = await gateway.viewOf(principal, scope)
    if (view === undefined) throw notFound('MCP endpoint')
    const message = asJsonRpcMessage(request.body)
    if (message === undefined) throw new McpReplyError(400, -32600, 'Invalid Request: the body must be one JSON-RPC message')
    countMcpRequest(app.metrics, message)
    session.transport.receive(message, { authInfo: authInfoFor({ principal, view, endpoint: '/messages', trace: app.tracing?.mcpRequest(request) }) })
    return reply.code(202).send()
  })

  for (const [url, scopeOf] of Object.entries(endpoints)) {
    app.get(url, { config: { access: 'user', rateLimit: false }, schema: { hide: true } }, async (request, reply) => {
      const principal = principalOf(request)
      const scope = await scopeOf(request)
      if (scope === undefined || await gateway.viewOf(principal, scope) === undefined) throw notFound('MCP endpoint')
      const id = newSessionId()
      const stream = new PassThrough()
      const transport = new SseServerTransport(id, stream, `/messages?sessionId=${id}`)
      const server = gateway.newServer()
      gateway.openSession({ id, userId: principal.userId, path: '/messages', transport, server, lastSeen: Date.now() }, principal, scope, true)
      request.raw.on('close', () => { sessions.close(id) })
      await server.connect(transport)
      reply.raw.once('pipe', () => { reply.raw.flushHeaders() })
      return reply.header('cache-control', 'no-cache').type('text/event-stream').send(stream)
    })
  }
}
