import { MCPHubClient, MCPHubError, type BrowserSession, type Login, type SessionUser } from '../../sdk/js/src/index.ts'

/**
 * The browser session (`/api/auth/session`): the refresh token stays in an HttpOnly cookie the
 * page never sees; the access token lives in memory only, in the client made for the session.
 */
export interface Session {
  client: MCPHubClient
  user: SessionUser
}

const baseURL = location.origin

/** Opening, renewing and closing the session are public operations: this client's (empty) token is never sent. */
const hub = new MCPHubClient({ baseURL, token: '' })

/** The CSRF token the hub set beside the refresh cookie, sent back as a header to prove the request comes from this page. */
function csrfToken (): string | undefined {
  const cookie = document.cookie.split('; ').find((entry) => entry.startsWith('mcphub_csrf='))
  return cookie?.slice('mcphub_csrf='.length)
}

/** Whether a session may be open: the hub set its CSRF cookie, and sign-out has not cleared it. */
export const mayHaveSession = (): boolean => csrfToken() !== undefined

const renew = async () => await hub.auth.refreshSession({ xCsrfToken: csrfToken() })

/** The signed-in user's client: it renews its token by the session cookie before it expires, after a 401, and when `/ws` closes for it. */
const sessionOf = ({ token, user }: BrowserSession): Session => ({ client: new MCPHubClient({ baseURL, token, refresh: renew }), user })

export const signIn = async (credentials: Login): Promise<Session> => sessionOf(await hub.auth.openSession(credentials))

/** The session of the cookie, after a reload (the access token went with the page). */
export const resumeSession = async (): Promise<Session> => sessionOf(await renew())

export const signOut = async (): Promise<void> => await hub.auth.closeSession({ xCsrfToken: csrfToken() })

/** The hub asks for the second factor: the password was right, the code is missing. */
export const needsMfaCode = (error: unknown): boolean =>
  error instanceof MCPHubError && error.code === 'AUTHENTICATION_FAILED' && /MFA code required/i.test(error.message)

/** The session ended (signed out elsewhere, expired, revoked): only signing in again helps. */
export const sessionEnded = (error: unknown): boolean => error instanceof MCPHubError && error.code === 'AUTHENTICATION_FAILED'
