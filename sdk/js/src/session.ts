import { MCPHubError } from './errors.js'
import type { AuthResource } from './generated/resources.js'
import type { Login, TokenPair } from './generated/types.js'
import type { Authenticator } from './http.js'

/** A renewed access token, as a `refresh` function answers it (e.g. from `POST /api/auth/session/refresh`). */
export interface RenewedToken {
  token: string
  /** Seconds until the token expires. */
  expiresIn: number
}

/**
 * How the client authenticates: an access token (and its refresh token, or a function that
 * renews it, as a browser does with its session cookie), an API key, or a sign-in.
 */
export type Credentials =
  | { token: string, refreshToken?: string }
  | { token: string, refresh: () => Promise<RenewedToken> }
  | { apiKey: string }
  | { username: string, password: string, mfaCode?: string }

export interface SessionOptions {
  /** ms before the access token expires from which it is refreshed before use (default 60 000). */
  refreshMargin?: number
}

interface TokenState {
  token: string
  refreshToken: string | undefined
  /** ms since the epoch; undefined when not known (a token given to the client). */
  expiresAt: number | undefined
}

/**
 * The client's credential. With a sign-in it signs in on first use, keeps the token pair and
 * refreshes it shortly before it expires, and once after a 401. A refresh token can be spent once
 * (the hub ends a session whose refresh token is used twice), so every caller that needs a fresh
 * token at the same time waits for the one refresh under way.
 */
export class Session implements Authenticator {
  readonly #credentials: Credentials
  readonly #auth: AuthResource
  readonly #refreshMargin: number
  #state: TokenState | undefined
  /** The last pair the hub answered. */
  #pair: TokenPair | undefined
  #pending: Promise<string> | undefined

  constructor (credentials: Credentials, auth: AuthResource, options: SessionOptions = {}) {
    this.#credentials = credentials
    this.#auth = auth
    this.#refreshMargin = options.refreshMargin ?? 60_000
    if ('token' in credentials) this.#state = { token: credentials.token, refreshToken: 'refreshToken' in credentials ? credentials.refreshToken : undefined, expiresAt: undefined }
  }

  get apiKey (): string | undefined {
    return 'apiKey' in this.#credentials ? this.#credentials.apiKey : undefined
  }

  /** The sign-in the client was given, for `auth.login()` without arguments. */
  loginBody (): Login {
    if (!('username' in this.#credentials)) throw new TypeError('this client was not given a username and password to sign in with')
    const { username, password, mfaCode } = this.#credentials
    return mfaCode === undefined ? { username, password } : { username, password, mfaCode }
  }

  /** Keeps a token pair the hub answered (a sign-in or a refresh). */
  store (pair: TokenPair): void {
    this.#pair = pair
    this.#state = { token: pair.token, refreshToken: pair.refreshToken, expiresAt: Date.now() + pair.expiresIn * 1000 }
  }

  /** Forgets the tokens (after signing out). */
  clear (): void {
    this.#state = undefined
    this.#pair = undefined
  }

  /** Marks `token` as no longer good (the hub closed a socket with 4401): the next use refreshes it. */
  expire (token: string): void {
    if (this.#state?.token === token) this.#state.expiresAt = 0
  }

  async credentials (): Promise<{ headers: Record<string, string>, token?: string }> {
    const apiKey = this.apiKey
    if (apiKey !== undefined) return { headers: { 'x-api-key': apiKey } }
    const token = await this.accessToken()
    return { headers: { authorization: `Bearer ${token}` }, token }
  }

  /** A valid access token: signs in first, or refreshes one about to expire. */
  async accessToken (): Promise<string> {
    if (this.#pending !== undefined) return await this.#pending
    const state = this.#state
    if (state === undefined) return await this.#share(() => this.#signIn())
    const expiring = state.expiresAt !== undefined && Date.now() >= state.expiresAt - this.#refreshMargin
    if (expiring && this.#canRenew()) return await this.#share(() => this.#renew())
    return state.token
  }

  /** Refreshes now (or joins the refresh under way); answers the new token pair. */
  async refresh (): Promise<TokenPair> {
    if ('refresh' in this.#credentials) throw new TypeError('this client renews its token with the refresh function it was given, not a refresh token')
    await (this.#pending ?? this.#share(() => this.#renew()))
    return this.#pair!
  }

  async recover (token: string): Promise<boolean> {
    if (this.#pending !== undefined) {
      await this.#pending
      return true
    }
    // Another caller got a fresh token since this request was sent.
    if (this.#state !== undefined && this.#state.token !== token) return true
    if (!this.#canRenew()) return false
    await this.#share(() => this.#renew())
    return true
  }

  #canRenew (): boolean {
    return this.#state?.refreshToken !== undefined || 'refresh' in this.#credentials || 'username' in this.#credentials
  }

  #share (renew: () => Promise<string>): Promise<string> {
    const pending = renew().finally(() => {
      if (this.#pending === pending) this.#pending = undefined
    })
    this.#pending = pending
    return pending
  }

  async #signIn (): Promise<string> {
    if (!('username' in this.#credentials)) {
      throw new MCPHubError({ code: 'AUTHENTICATION_FAILED', message: 'The client has no credential: give it a token, an API key, or a username and password' })
    }
    const pair = await this.#auth.login(this.loginBody())
    this.store(pair)
    return pair.token
  }

  /** A new token: by the client's refresh function, or a new pair by the refresh token when there is one, else by signing in again. */
  async #renew (): Promise<string> {
    if ('refresh' in this.#credentials) {
      const { token, expiresIn } = await this.#credentials.refresh()
      this.#state = { token, refreshToken: undefined, expiresAt: Date.now() + expiresIn * 1000 }
      return token
    }
    const refreshToken = this.#state?.refreshToken
    if (refreshToken === undefined) return await this.#signIn()
    let pair: TokenPair
    try {
      pair = await this.#auth.refresh({ refreshToken })
    } catch (error) {
      // A session the hub ended (signed out, refresh token reused): sign in again when the client can.
      if (!(error instanceof MCPHubError) || error.code !== 'AUTHENTICATION_FAILED' || !('username' in this.#credentials)) throw error
      return await this.#signIn()
    }
    this.store(pair)
    return pair.token
  }
}
