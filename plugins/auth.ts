import jwt from '@fastify/jwt'
import fp from 'fastify-plugin'
import { SecretBox, sha256 } from '../lib/crypto.ts'
import { EpochCache } from '../lib/epoch-cache.ts'
import { ACCESS_TOKEN_TTL_SECONDS, principalForApiKey, principalForSession, type AuthContext } from '../routes/auth/service.ts'
import type { Principal } from './access.ts'

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
}

/**
 * Authentication: a bearer access token (JWT, pinned HS256, issuer, audience, expiry, bound to a
 * live session) or an `X-API-Key`. Sets `request.principal`; an invalid credential leaves the
 * caller anonymous, and the access layer answers 401 where a user is required.
 */
export default fp<AuthOptions>(async (app, { jwtSecret, now }) => {
  await app.register(jwt, {
    secret: jwtSecret,
    sign: { algorithm: 'HS256', iss: ISSUER, aud: AUDIENCE, expiresIn: ACCESS_TOKEN_TTL_SECONDS * 1000 },
    verify: { algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE, requiredClaims: ['sub', 'sid', 'exp'] }
  })
  const ctx: AuthContext = { db: app.db, secrets: new SecretBox(jwtSecret), now }
  app.decorate('auth', ctx)
  app.decorate('issueAccessToken', (session: { userId: string, role: string, sessionId: string }) => {
    return app.jwt.sign({ sub: session.userId, sid: session.sessionId, role: session.role })
  })

  // Who a credential stands for, reused until anything stored changes (logout, revocation, role change…) or a second passes.
  const principals = new EpochCache<Principal | null>({ epochs: () => [app.records.current], ttlMs: 1000, maxEntries: 10_000, now })

  async function authenticate (authorization: string | undefined, apiKey: string | string[] | undefined): Promise<Principal | null> {
    if (typeof apiKey === 'string') return await principals.get(`key:${sha256(apiKey)}`, async () => await principalForApiKey(ctx, apiKey))
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1]
    if (token === undefined) return null
    // A verified token is not verified again within the second (its 15 minutes may end up to a second late).
    return await principals.get(`bearer:${token}`, async () => {
      let claims: AccessTokenClaims
      try {
        claims = app.jwt.verify<AccessTokenClaims>(token)
      } catch {
        return null
      }
      const principal = await principalForSession(ctx, claims.sub, claims.sid)
      // Live streams opened with the token end when it expires.
      return principal === null ? null : { ...principal, expiresAt: claims.exp * 1000 }
    })
  }

  app.addHook('onRequest', async (request) => {
    request.principal = await authenticate(request.headers.authorization, request.headers['x-api-key'])
  })
}, { name: 'auth', dependencies: ['db', 'access'] })
