import { MCPHubClient, MCPHubError, type ErrorCode, type User } from '../../sdk/js/src/index.ts'

/**
 * The browser session (`/api/auth/session`): the refresh token stays in an HttpOnly cookie the
 * page never sees; the access token lives in memory only, in the client built from it.
 */
export interface Session {
  client: MCPHubClient
  user: User
  /** Seconds until the access token expires. */
  expiresIn: number
}

export interface Credentials {
  username: string
  password: string
  mfaCode?: string
}

const SESSION_PATH = '/api/auth/session'

/** The CSRF token the hub set next to the refresh cookie, sent back as a header to prove the request comes from this page. */
function csrfToken (): string | undefined {
  const cookie = document.cookie.split('; ').find((entry) => entry.startsWith('mcphub_csrf='))
  return cookie?.slice('mcphub_csrf='.length)
}

/** Whether a session may be open: the hub set its CSRF cookie and it is still there. */
export const mayHaveSession = (): boolean => csrfToken() !== undefined

async function send (method: 'POST' | 'DELETE', path: string, body?: Credentials): Promise<Session | undefined> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const csrf = csrfToken()
  if (csrf !== undefined) headers['x-csrf-token'] = csrf
  let response: Response
  try {
    response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  } catch (error) {
    throw new MCPHubError({ code: 'NETWORK_ERROR', message: 'Cannot reach the hub', cause: error })
  }
  if (response.status === 204) return undefined
  const envelope = await response.json().catch(() => undefined) as { data?: { token: string, expiresIn: number, user: User }, error?: { code: ErrorCode, message: string } } | undefined
  if (!response.ok || envelope?.data === undefined) {
    throw new MCPHubError({ code: envelope?.error?.code ?? 'INVALID_RESPONSE', message: envelope?.error?.message ?? `HTTP ${response.status}`, status: response.status })
  }
  const { token, expiresIn, user } = envelope.data
  return { client: new MCPHubClient({ baseURL: location.origin, token }), user, expiresIn }
}

export const signIn = async (credentials: Credentials) => (await send('POST', SESSION_PATH, credentials))!

/** A new access token for the session of the cookie (after a reload, or before the token expires). */
export const refreshSession = async () => (await send('POST', `${SESSION_PATH}/refresh`))!

export const signOut = async () => { await send('DELETE', SESSION_PATH) }

/** The hub asks for the second factor: the password was right, the code is missing. */
export const needsMfaCode = (error: unknown): boolean =>
  error instanceof MCPHubError && error.code === 'AUTHENTICATION_FAILED' && /MFA code required/i.test(error.message)
