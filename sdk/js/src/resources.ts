import { MCPHubError } from './errors.js'
import { AuthResource, ConfigResource, ServersResource, type ConfigUpdateOptions } from './generated/resources.js'
import type { HubConfig, Login, LogLine, Refresh, TokenPair, UpdateConfig } from './generated/types.js'
import type { RequestOptions, Transport } from './http.js'
import type { Session } from './session.js'

/** `client.auth`: as generated, with the session kept up to date by sign-in, refresh and sign-out. */
export class Auth extends AuthResource {
  readonly #session: Session

  constructor (http: Transport, session: Session) {
    super(http)
    this.#session = session
  }

  /** Signs in (with the client's username, password and MFA code when `body` is left out) and keeps the token pair. */
  override async login (body?: Login, options: RequestOptions = {}): Promise<TokenPair> {
    const pair = await super.login(body ?? this.#session.loginBody(), options)
    this.#session.store(pair)
    return pair
  }

  /**
   * Rotates the token pair: with `body`, that refresh token's pair (kept by the client); without,
   * the client's own, sharing a refresh already under way.
   */
  override async refresh (body?: Refresh, options: RequestOptions = {}): Promise<TokenPair> {
    if (body === undefined) return await this.#session.refresh()
    const pair = await super.refresh(body, options)
    this.#session.store(pair)
    return pair
  }

  /** Signs out: the hub ends the session, and the client forgets its tokens. */
  override async logout (options: RequestOptions = {}): Promise<void> {
    await super.logout(options)
    this.#session.clear()
  }
}

export interface FollowLogsOptions {
  /** Lines of this level or more severe. */
  level?: LogLine['level']
  /** Lines from this instant on (ISO 8601). */
  since?: string
  /** Ends the stream: the loop over it then finishes without an error. */
  signal?: AbortSignal
}

/** `client.servers`: as generated, with `followLogs`. */
export class Servers extends ServersResource {
  /**
   * The server's log lines as they come: the recent ones, then each new one, until `signal`
   * aborts (or the loop breaks, or the hub ends the stream: the server was deleted, the hub
   * stopped). `GET /api/servers/{serverId}/logs?follow=true`, read as NDJSON.
   */
  async * followLogs (serverId: string, options: FollowLogsOptions = {}): AsyncGenerator<LogLine> {
    const { signal } = options
    let response: Response
    try {
      response = await this.http.stream({
        method: 'GET',
        path: '/api/servers/{serverId}/logs',
        pathParams: { serverId },
        query: { follow: true, level: options.level, since: options.since },
        options: { signal }
      })
    } catch (error) {
      if (error instanceof MCPHubError && error.code === 'ABORTED') return
      throw error
    }
    if (response.body === null) return
    const reader = response.body.getReader()
    const decoder = new TextDecoder()
    let buffered = ''
    try {
      for (;;) {
        const chunk = await reader.read().catch((error: unknown) => {
          if (signal?.aborted === true) return { done: true as const, value: undefined }
          throw new MCPHubError({ code: 'NETWORK_ERROR', message: `The log stream from ${this.http.origin} broke`, cause: error })
        })
        if (chunk.done) return
        buffered += decoder.decode(chunk.value, { stream: true })
        const lines = buffered.split('\n')
        buffered = lines.pop()!
        for (const line of lines) {
          if (signal?.aborted === true) return
          if (line.trim() !== '') yield JSON.parse(line) as LogLine
        }
      }
    } finally {
      await reader.cancel().catch(() => {})
    }
  }
}

/** `client.config`: as generated, with `getWithETag` for the version `update` takes as `ifMatch`. */
export class Config extends ConfigResource {
  /** The settings and their version (`ETag`), to send back as `ifMatch` with `update`. */
  async getWithETag (options: RequestOptions = {}): Promise<{ config: HubConfig, etag: string }> {
    let etag = ''
    const config = await this.get({ ...options, onResponse: (response) => { etag = response.headers.get('etag') ?? '' } })
    return { config, etag }
  }

  /** Changes the settings only if they are still at `etag`'s version (else a 409 `RESOURCE_CONFLICT`); answers the new settings and version. */
  async updateWithETag (body: UpdateConfig, etag: string, options: ConfigUpdateOptions = {}): Promise<{ config: HubConfig, etag: string }> {
    let newEtag = ''
    const config = await this.update(body, { ...options, ifMatch: etag, onResponse: (response) => { newEtag = response.headers.get('etag') ?? '' } })
    return { config, etag: newEtag }
  }
}
