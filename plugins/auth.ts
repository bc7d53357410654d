import jwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { SecretBox, sha256 } from '../lib/crypto.ts'
import { EpochCache } from '../lib/epoch-cache.ts'
import { invalidRequest, rateLimited } from '../lib/errors.ts'
import { WindowCounter } from '../lib/window-counter.ts'
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
  }
}

export interface AuthOptions {
  jwtSecret: string
  now: () => number
  /**
   * Requests per address per minute whose credentials may fail before API keys from that
   * address are refused (429) without being looked up; 0 turns the limit off.
   */
  failedCredentialsPerMinute: number
}

const FAILURE_WINDOW_MS = 60_000

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
export default fp<AuthOptions>(async (app, { jwtSecret, now, failedCredentialsPerMinute }) => {
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
   * The signature and expiry (by the app's clock) are checked on every request, without database
   * work; only the session's liveness is looked up, and cached.
   */
  async function principalForToken (token: string): Promise<Principal | null> {
    let claims: AccessTokenClaims
    try {
      claims = app.jwt.verify<AccessTokenClaims>(token, { clockTimestamp: now() })
    } catch {
      return null
    }
    const principal = await principals.get(`bearer:${token}`, async () => await principalForSession(ctx, claims.sub, claims.sid))
    // Live streams opened with the token end when it expires.
    return principal === null ? null : { ...principal, expiresAt: claims.exp * 1000 }
  }

  // Per address (IPv6: per /64), shared through Redis when configured.
  const failures = new WindowCounter({ redis: app.sharedRedis, now, name: 'failed-credentials' })

  async function lookUpApiKey (request: FastifyRequest, reply: FastifyReply, key: string): Promise<Principal | null> {
    if (failedCredentialsPerMinute > 0) {
      const { count, resetInMs } = await failures.read(addressKey(request.ip))
      if (count >= failedCredentialsPerMinute) {
        reply.header('retry-after', Math.max(1, Math.ceil(resetInMs / 1000)))
        throw rateLimited('Too many requests with invalid credentials from this address; try again later')
      }
    }
    return await principals.get(`key:${sha256(key)}`, async () => await principalForApiKey(ctx, key))
  }

  async function authenticate (request: FastifyRequest, reply: FastifyReply): Promise<Principal | null> {
    const apiKey = request.headers['x-api-key']
    const key = typeof apiKey === 'string' ? apiKey : undefined
    const token = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
    if (key === undefined && token === undefined) return null
    const byToken = token === undefined ? undefined : await principalForToken(token)
    // A request whose token failed is anonymous anyway: its key is not looked up.
    const byKey = key === undefined || byToken === null ? undefined : await lookUpApiKey(request, reply, key)
    if (byToken === null || byKey === null) {
      if (failedCredentialsPerMinute > 0) await failures.increment(addressKey(request.ip), FAILURE_WINDOW_MS)
      return null
    }
    if (byToken !== undefined && byKey !== undefined && byToken.userId !== byKey.userId) {
      throw invalidRequest('X-API-Key and the bearer token belong to different users; send one credential')
    }
    return byKey ?? byToken ?? null
  }

  app.addHook('onRequest', async (request, reply) => {
    request.principal = await authenticate(request, reply)
  })
}, { name: 'auth', dependencies: ['db', 'access', 'redis'] })
