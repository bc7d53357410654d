import type { FastifyError, FastifyRequest, preParsingHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { authorize, isAdmin, LiveAccess, type Principal, type Resource } from '../access/index.ts'
import { authenticationFailed, authorizationFailed, notFound } from '../lib/errors.ts'
import { errorResponses } from '../lib/schemas.ts'

export type { Principal } from '../access/index.ts'

/**
 * Every route's access rule:
 * - `public`: anyone;
 * - `user`: any signed-in user;
 * - `admin`: hub admins only (403 for others);
 * - `{ resource, action, param }`: `action` on the object named by a path parameter, decided by
 *   the resource's policy; callers who may not even read it get 404, so ids cannot be probed.
 */
export type AccessRule = 'public' | 'user' | 'admin' | { resource: Resource, action: string, param: string }

export interface RouteSummary {
  method: string
  url: string
  access: AccessRule | undefined
  /** Hidden from the OpenAPI document: the docs UI's own routes. */
  hidden: boolean
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: AccessRule
  }
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyInstance {
    /** Every route registered on the app, with its rule: for tests that walk the router. */
    routeTable: RouteSummary[]
    /**
     * Watches a live stream (log follow, MCP event stream, WebSocket): `end` is called, within
     * seconds, once the caller's credential is revoked or expires or the user is deleted, or once
     * `need` is no longer allowed. Returns the function that stops watching (call it when the
     * stream ends on its own).
     */
    watchStream(stream: WatchedStream): () => void
  }
}

export interface WatchedStream {
  principal: Principal
  /** What the stream goes on needing: an action on an object, or any check of the principal as it stands. */
  need: { resource: Resource, id: string, action: string } | ((principal: Principal) => Promise<boolean>)
  end: () => void
  /** Whether the stream also ends when a bearer token expires (default); not for MCP sessions, which outlive one token of their login. */
  expires?: boolean
}

/**
 * The caller of a request, for routes whose rule is not `public` (the access check has already
 * refused anonymous requests to them, so this throws only if a route is misconfigured).
 */
export function principalOf (request: FastifyRequest): Principal {
  if (request.principal === null) throw authenticationFailed()
  return request.principal
}

/** Routes served by the docs UI plugin, public by the contract. */
const DOCS_PREFIX = '/docs'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export const AUTHENTICATED = [{ bearerAuth: [] }, { apiKey: [] }]

/**
 * Enforces each route's access rule with the access module. Each route declares `config.access`;
 * a route without one stops the app from starting. The rule also sets the route's documented
 * security and its 401/403/404 responses, so the document and the enforcement cannot disagree.
 */
export default fp(async (app) => {
  const routeTable: RouteSummary[] = []
  app.decorate('routeTable', routeTable)
  // The database and the records epoch are decorated after this plugin, and are there by the time streams open.
  const live = new LiveAccess({ db: () => app.db, epoch: () => app.records.current, now: Date.now, onError: (error) => app.log.warn({ err: error }, 'could not check live streams') })
  app.addHook('onClose', async () => { live.close() })
  app.decorate('watchStream', ({ principal, need, end, expires = true }: WatchedStream) => live.watch({
    principal,
    ...(expires && principal.expiresAt !== undefined ? { expiresAt: principal.expiresAt } : {}),
    allowed: typeof need === 'function' ? need : async (current) => await authorize(app.db, current, need.resource, need.id, need.action) === 'allow',
    end
  }))
  app.decorateRequest('principal', null)

  app.addHook('onRoute', (route) => {
    const access = route.config?.access
    const docsUi = route.url.startsWith(DOCS_PREFIX)
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routeTable.push({ method, url: route.url, access, hidden: docsUi || route.schema?.hide === true })
    }
    if (docsUi) return
    if (access === undefined) throw new Error(`Route ${String(route.method)} ${route.url} declares no access rule (config.access)`)
    const check = checkOf(access)
    if (check !== undefined) route.preParsing = [check, ...[route.preParsing ?? []].flat()]
    if (route.schema === undefined || route.schema.hide === true) return
    const schema = route.schema as { security?: unknown, response?: Record<number, unknown> }
    schema.security = access === 'public' ? [] : AUTHENTICATED
    const statuses = access === 'public' ? [] : access === 'user' ? [401] : access === 'admin' ? [401, 403] : [401, 403, 404]
    // 429 on every route: the per-caller budget (plugins/rate-limit.ts, unless the route sets
    // `rateLimit: false`) and the per-address budget of invalid credentials (plugins/auth.ts),
    // which is spent before any route is chosen.
    schema.response = { ...errorResponses(...statuses, 429), ...schema.response }
  })

  /** The checks that need no database: who the caller is, and what a read-only key may do. */
  function checkCaller (request: FastifyRequest, access: Exclude<AccessRule, 'public'>): Principal {
    const principal = principalOf(request)
    if (principal.readOnly && !SAFE_METHODS.has(request.method)) throw authorizationFailed('This API key is read-only')
    if (access === 'admin' && !isAdmin(principal)) throw authorizationFailed('Admin only')
    return principal
  }

  async function checkObject (request: FastifyRequest, access: Extract<AccessRule, object>): Promise<void> {
    const principal = checkCaller(request, access)
    const id = (request.params as Record<string, string | undefined>)[access.param]
    if (id === undefined) throw new Error(`Route has no parameter ${access.param}`)
    // The database is decorated after this plugin, and is there by the time requests arrive.
    const verdict = await authorize(app.db, principal, access.resource, id, access.action)
    if (verdict === 'hide') throw notFound(access.resource[0]!.toUpperCase() + access.resource.slice(1))
    if (verdict === 'forbid') throw authorizationFailed()
  }

  /**
   * The route's check, in preParsing: after authentication and rate limiting (onRequest), before
   * the body is read; ahead of the route's own preParsing hooks. Public routes get none, and
   * those of `user` and `admin` a callback hook (no promise per request).
   */
  function checkOf (access: AccessRule): preParsingHookHandler | undefined {
    if (access === 'public') return undefined
    if (access === 'user' || access === 'admin') {
      return (request, _reply, payload, done) => {
        try {
          checkCaller(request, access)
        } catch (error) {
          done(error as FastifyError)
          return
        }
        done(null, payload)
      }
    }
    return async (request, _reply, payload) => {
      await checkObject(request, access)
      return payload
    }
  }
}, { name: 'access' })
