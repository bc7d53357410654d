import jwt from '@fastify/jwt'
import type { FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { SecretBox, sha256 } from '../lib/crypto.ts'
import { EpochCache } from '../lib/epoch-cache.ts'
import { invalidRequest, rateLimited } from '../lib/errors.ts'
import { WindowCounter } from '../lib/window-counter.ts'
import { carriesScrapeToken } from '../metrics/scrape-token.ts'
import { ACCESS_TOKEN_TTL_SECONDS, principalForApiKey, principalForSession, type AuthContext } from '../routes/auth/service.ts'
import type { Principal } from './access.ts'
import { addressKey } from './rate-limit.ts'

const ISSUER = 'mcphub'
const AUDIENCE = 'mcphub-api'

interface AccessTokenClaims {
  sub: string
  sid: string
  exp: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Database, secret box and clock for the identity services. */
    auth: AuthContext
    /** Signs a short-lived access token for a session. */
    issueAccessToken(session: { userId: string, role: string, sessionId: string }): string
    /**
     * Who the credentials stand for, checked as a request's are (the same caches and the same
     * per-address budget of failures, for the caller at `ip`): null when any of them fails.
     * Throws RATE_LIMIT_EXCEEDED once the address spent its budget, INVALID_REQUEST when the two
     * belong to different users. For credentials that do not come in headers (the `/ws` auth message).
     */
    authenticateCredentials(credentials: Credentials, ip: string): Promise<Principal | null>
  }
}

/** An access token, an API key, or both (they must then belong to one user). */
export interface Credentials {
  /** A JWT; for `authenticateCredentials`, an API key as well. */
  token?: string | undefined
  apiKey?: string | undefined
}

export interface AuthOptions {
  jwtSecret: string
  now: () => number
  /**
   * Requests per address per minute whose credentials may fail before API keys from that
   * address are refused (429) without being looked up; 0 turns the limit off.
   */
  failedCredentialsPerMinute: number
  /** MCPHUB_METRICS_TOKEN: no user's credential; `/metrics` checks it (routes/prometheus). */
  metricsToken?: string | undefined
}

const FAILURE_WINDOW_MS = 60_000

/** A bearer token whose signature, claims or expiry do not hold: the caller is anonymous. */
class InvalidToken extends Error {}
/** Three base64url parts: header, claims, signature. */
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/

/**
 * Authentication: a bearer access token (JWT, pinned HS256, issuer, audience, expiry, bound to a
 * live session) or an `X-API-Key`. Sets `request.principal`; an invalid credential leaves the
 * caller anonymous, and the access layer answers 401 where a user is required. Credentials of
 * two different users in one request are refused (400).
 *
 * Guessing is cheap to refuse: a forged token fails its signature check without database work,
 * and once an address has sent `failedCredentialsPerMinute` failing credentials in a minute,
 * its API keys are refused with 429 before they are looked up. Callers whose credentials work
 * never spend that budget, so legitimate users behind a shared address are not affected by the
 * address's anonymous traffic.
 */
export default fp<AuthOptions>(async (app, { jwtSecret, now, failedCredentialsPerMinute, metricsToken }) => {
  await app.register(jwt, {
    secret: jwtSecret,
    // @fastify/jwt takes a numeric lifetime in seconds.
    sign: { algorithm: 'HS256', iss: ISSUER, aud: AUDIENCE, expiresIn: ACCESS_TOKEN_TTL_SECONDS },
    verify: { algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE, requiredClaims: ['sub', 'sid', 'exp'] }
  })
  const ctx: AuthContext = { db: app.db, secrets: new SecretBox(jwtSecret), now }
  app.decorate('auth', ctx)
  app.decorate('issueAccessToken', (session: { userId: string, role: string, sessionId: string }) => {
    return app.jwt.sign({ sub: session.userId, sid: session.sessionId, role: session.role }, { clockTimestamp: now() })
  })

  // Who a credential stands for, reused until anything stored changes (logout, revocation, role change…) or a second passes.
  const principals = new EpochCache<Principal | null>({ epochs: () => [app.records.current], ttlMs: 1000, maxEntries: 10_000, now })

  /**
   * A token's signature is checked once, before any database work (a forged token never reaches
   * the cache); its session's liveness is looked up and cached with it, as any principal is.
   * Expiry is checked on every request, by the app's clock.
   */
  async function principalForToken (token: string): Promise<Principal | null> {
    let principal: Principal | null
    try {
      principal = await principals.get(`bearer:${token}`, async () => {
        const claims = verifiedClaims(token)
        const session = await principalForSession(ctx, claims.sub, claims.sid)
        // Live streams opened with the token end when it expires.
        return session === null ? null : { ...session, expiresAt: claims.exp * 1000 }
      })
    } catch (error) {
      if (error instanceof InvalidToken) return null
      throw error
    }
    return principal === null || principal.expiresAt! <= now() ? null : principal
  }

  function verifiedClaims (token: string): AccessTokenClaims {
    try {
      return app.jwt.verify<AccessTokenClaims>(token, { clockTimestamp: now() })
    } catch {
      throw new InvalidToken()
    }
  }

  // Per address (IPv6: per /64), shared through Redis when configured.
  const failures = new WindowCounter({ redis: app.sharedRedis, now, name: 'failed-credentials' })

  async function lookUpApiKey (ip: string, key: string, reply?: FastifyReply): Promise<Principal | null> {
    if (failedCredentialsPerMinute > 0) {
      const { count, resetInMs } = await failures.read(addressKey(ip))
      if (count >= failedCredentialsPerMinute) {
        reply?.header('retry-after', Math.max(1, Math.ceil(resetInMs / 1000)))
        throw rateLimited('Too many requests with invalid credentials from this address; try again later')
      }
    }
    return await principals.get(`key:${sha256(key)}`, async () => await principalForApiKey(ctx, key))
  }

  async function authenticate ({ token, apiKey }: Credentials, ip: string, reply?: FastifyReply): Promise<Principal | null> {
    if (apiKey === undefined && token === undefined) return null
    const byToken = token === undefined ? undefined : await principalForToken(token)
    // A request whose token failed is anonymous anyway: its key is not looked up.
    const byKey = apiKey === undefined || byToken === null ? undefined : await lookUpApiKey(ip, apiKey, reply)
    if (byToken === null || byKey === null) {
      if (failedCredentialsPerMinute > 0) await failures.increment(addressKey(ip), FAILURE_WINDOW_MS)
      return null
    }
    if (byToken !== undefined && byKey !== undefined && byToken.userId !== byKey.userId) {
      throw invalidRequest('The API key and the access token belong to different users; send one credential')
    }
    return byKey ?? byToken ?? null
  }

  app.decorate('authenticateCredentials', async ({ token, apiKey }: Credentials, ip: string) => {
    // The `/ws` auth message's `token` carries either kind: what is not shaped like a JWT is taken for an API key.
    if (token === undefined || JWT_SHAPE.test(token)) return await authenticate({ token, apiKey }, ip)
    if (apiKey !== undefined) throw invalidRequest('Send one API key')
    return await authenticate({ apiKey: token }, ip)
  })

  /** The caller of a request with only a token, as `authenticate` answers it, when that needs no waiting: the token was seen lately and stands. */
  function knownBearer (token: string): Principal | undefined {
    const principal = principals.peek(`bearer:${token}`)?.value
    return principal === undefined || principal === null || principal.expiresAt! <= now() ? undefined : principal
  }

  // A callback hook: most requests are answered from the caches, without a promise.
  app.addHook('onRequest', (request, reply, done) => {
    const apiKey = request.headers['x-api-key']
    const token = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
    // A scraper's token on `/metrics` is not a failed credential: the route checks it.
    if (metricsToken !== undefined && apiKey === undefined && request.routeOptions.url === '/metrics' && carriesScrapeToken(request.headers.authorization, metricsToken)) {
      done()
      return
    }
    const known = apiKey === undefined && token !== undefined ? knownBearer(token) : undefined
    if (known !== undefined) {
      request.principal = known
      done()
      return
    }
    authenticate({ token, apiKey: typeof apiKey === 'string' ? apiKey : undefined }, request.ip, reply).then((principal) => {
      request.principal = principal
      done()
    }, done)
  })
}, { name: 'auth', dependencies: ['db', 'access', 'redis'] })
