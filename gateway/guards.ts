import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { isOwnOrigin } from '../lib/origin.ts'
import { authorizationFailed, rateLimited } from '../lib/errors.ts'

/** The largest MCP message a client may POST (tool arguments can carry whole files). */
export const MCP_BODY_LIMIT = 4 * 1024 * 1024

/** The MCP endpoints' own per-user budget of requests per minute, apart from the REST tiers. */
export function rateBudget (app: FastifyInstance, perMinute: number) {
  const limiter = app.createRateLimit({ max: perMinute, timeWindow: 60_000, allowList: () => false, keyGenerator: (request) => `mcp:${request.principal?.userId ?? request.ip}` })
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const outcome = await limiter(request)
    if (!outcome.isAllowed && outcome.isExceeded) {
      reply.header('retry-after', outcome.ttlInSeconds)
      throw rateLimited('MCP rate limit exceeded')
    }
  }
}

function hostnameOf (host: string | undefined): string | undefined {
  try {
    return new URL(`http://${host ?? ''}`).hostname.toLowerCase()
  } catch {
    return undefined
  }
}

/**
 * DNS rebinding protection (MCP transport rules): unknown Host names (when a list is given) and
 * foreign origins are refused. `allowedOrigins` (normalized, `scheme://host[:port]`) are
 * browser origins trusted besides the hub's own.
 */
export function hostAndOrigin (allowedHosts: string[] | undefined, allowedOrigins: string[] = []) {
  const allowed = allowedHosts?.map((host) => host.toLowerCase())
  const trusted = (origin: string) => allowedOrigins.length > 0 && URL.canParse(origin) && allowedOrigins.includes(new URL(origin).origin)
  const refusal = (request: FastifyRequest) => {
    if (allowed !== undefined && !allowed.includes(hostnameOf(request.headers.host) ?? '')) return authorizationFailed('Host not allowed')
    const origin = request.headers.origin
    if (origin !== undefined && !isOwnOrigin(origin, request.protocol, request.headers.host) && !trusted(origin)) return authorizationFailed('Origin not allowed')
    return undefined
  }
  // A callback hook: it runs on every MCP request, and does no I/O.
  return (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => { done(refusal(request)) }
}

/** A DELETE (or GET) without a body is fine whatever content type it names (the Python SDK's DELETE says JSON). */
export function ignoreContentTypeWithoutBody (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const length = request.headers['content-length']
  const hasNoBody = request.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')
  if (request.method !== 'POST' && hasNoBody) delete request.raw.headers['content-type']
  done()
}
