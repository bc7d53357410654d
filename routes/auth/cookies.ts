import type { FastifyReply, FastifyRequest } from 'fastify'
import { randomToken, safeEqual } from '../../lib/crypto.ts'
import { authenticationFailed, authorizationFailed } from '../../lib/errors.ts'

/** The refresh token: HttpOnly, sent only to the browser session's own path. */
export const REFRESH_COOKIE = 'mcphub_refresh'
/** The double-submit CSRF token: the page reads it and sends it back as `X-CSRF-Token`. */
export const CSRF_COOKIE = 'mcphub_csrf'
const CSRF_HEADER = 'x-csrf-token'

/**
 * The browser session's cookies (issue 18). SameSite=Strict keeps them off cross-site requests;
 * the CSRF token guards those the cookie would still authenticate. Secure when the request came
 * over https.
 */
export class BrowserSessionCookies {
  readonly #path: string
  readonly #now: () => number

  /** `path`: where the refresh cookie is sent (`/api/auth/session`). */
  constructor (path: string, now: () => number) {
    this.#path = path
    this.#now = now
  }

  /** A new session: its refresh token and a new CSRF token. */
  open (request: FastifyRequest, reply: FastifyReply, grant: { refreshToken: string, expiresAt: Date }): void {
    this.renew(request, reply, grant)
    reply.setCookie(CSRF_COOKIE, randomToken(32), { sameSite: 'strict', secure: request.protocol === 'https', path: '/' })
  }

  /** The session's next refresh token, for as long as the session lasts. */
  renew (request: FastifyRequest, reply: FastifyReply, grant: { refreshToken: string, expiresAt: Date }): void {
    const maxAge = Math.max(0, Math.floor((grant.expiresAt.getTime() - this.#now()) / 1000))
    reply.setCookie(REFRESH_COOKIE, grant.refreshToken, { httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https', path: this.#path, maxAge })
  }

  /** Clears both cookies (Max-Age=0). */
  close (request: FastifyRequest, reply: FastifyReply): void {
    const secure = request.protocol === 'https'
    reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, sameSite: 'strict', secure, path: this.#path })
    reply.clearCookie(CSRF_COOKIE, { sameSite: 'strict', secure, path: '/' })
  }

  /**
   * The request's refresh token, when the request shows it comes from the page: 401 without the
   * cookie, 403 unless `X-CSRF-Token` equals the CSRF cookie (compared in constant time).
   */
  refreshToken (request: FastifyRequest): string {
    const refreshToken = request.cookies[REFRESH_COOKIE]
    if (refreshToken === undefined || refreshToken === '') throw authenticationFailed('No browser session: sign in with POST /api/auth/session')
    const expected = request.cookies[CSRF_COOKIE]
    const sent = request.headers[CSRF_HEADER]
    if (expected === undefined || expected === '' || typeof sent !== 'string' || !safeEqual(sent, expected)) {
      throw authorizationFailed('Missing or wrong X-CSRF-Token header: send the mcphub_csrf cookie\'s value')
    }
    return refreshToken
  }
}
