import websocket from '@fastify/websocket'
import type { FastifyPluginAsync } from 'fastify'
import { readableServerIds, type Principal } from '../access/index.ts'
import { hostAndOrigin } from '../gateway/guards.ts'
import { EpochCache } from '../lib/epoch-cache.ts'
import { invalidRequest } from '../lib/errors.ts'
import { SocketHub } from './hub.ts'
import { DEFAULT_LIMITS, type WsLimits } from './limits.ts'
import { MAX_MESSAGE_BYTES } from './messages.ts'

export type { WsLimits } from './limits.ts'

export interface WsOptions {
  /** Host names the upgrade is accepted for (as for /mcp); undefined: any. */
  allowedHosts: string[] | undefined
  /** Browser origins, besides the hub's own, whose pages may open a socket. */
  allowedOrigins: string[]
  limits?: Partial<WsLimits>
}

/**
 * `GET /ws`: the live events of the bus over a WebSocket (docs/events.md). The upgrade is
 * refused (403) for a Host not allowed or a foreign Origin; the socket then authenticates by its
 * request's credentials or by its first message.
 */
const ws: FastifyPluginAsync<WsOptions> = async (app, options) => {
  // The servers each user may read, shared by their sockets, until stored records change.
  const readable = new EpochCache<ReadonlySet<string> | undefined>({ epochs: () => [app.records.current], ttlMs: 1000, maxEntries: 10_000, now: Date.now })
  const hub = new SocketHub({
    events: app.events,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    log: app.log.child({ source: 'ws' }),
    authenticate: app.authenticateCredentials,
    readableServers: async (principal: Principal) => await readable.get(`${principal.userId}:${principal.role}`, async () => {
      const ids = await readableServerIds(app.db, principal)
      return ids === undefined ? undefined : new Set(ids)
    }),
    watchStream: app.watchStream
  })

  app.sampler.report('wsConnections', () => hub.size)

  // `closeTimeout` (ws 8.18) is not in @types/ws yet.
  const serverOptions = { maxPayload: MAX_MESSAGE_BYTES, closeTimeout: hub.limits.closeTimeoutMs }
  await app.register(websocket, {
    options: serverOptions,
    // Shutdown tells every socket (1001) instead of waiting for them.
    preClose: (done) => {
      hub.close()
      done()
    },
    // The socket closes itself after a protocol error (a message too large: 1009) or a reset.
    errorHandler: (error, _socket, request) => { request.log.debug({ err: { message: error.message } }, 'WebSocket error') }
  })

  app.route({
    method: 'GET',
    url: '/ws',
    // Described in docs/events.md; its messages are components of the OpenAPI document.
    schema: { hide: true },
    config: { access: 'public' },
    onRequest: hostAndOrigin(options.allowedHosts, options.allowedOrigins),
    handler: async () => { throw invalidRequest('GET /ws is a WebSocket: send an upgrade request') },
    wsHandler: (socket, request) => { hub.accept(socket, request) }
  })
}

export default ws
