/** Who is calling: set by the auth plugin, null for anonymous callers. */
export interface Principal {
  userId: string
  username: string
  role: 'admin' | 'user'
  /** The login session of a bearer token. */
  sessionId?: string
  /** The API key used, if any. */
  apiKeyId?: string
  /** Read-only API keys may only use GET. */
  readOnly: boolean
  /** When the credential stops working by itself (a bearer token's expiry, ms since the epoch). */
  expiresAt?: number
}

/** Hub admins may do everything: the one place that says so. */
export function isAdmin (principal: Pick<Principal, 'role'>): boolean {
  return principal.role === 'admin'
}
