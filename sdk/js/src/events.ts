import { MCPHubError, type ErrorCode } from './errors.js'
import type { ActivityEvent, AlertEvent, MonitoringEvent, ServerLogEvent, ServerStatusEvent, SubscriptionFilters } from './generated/types.js'
import type { Session } from './session.js'

/** Each `/ws` channel with the type of its events' `data`. */
export interface ChannelEvents {
  'server-status': ServerStatusEvent
  'server-logs': ServerLogEvent
  monitoring: MonitoringEvent
  alerts: AlertEvent
  'user-activity': ActivityEvent
}

export type Channel = keyof ChannelEvents

/** What `onEvent` receives besides `data`: the event's number in its channel, and when the hub published it. */
export interface EventInfo<C extends Channel = Channel> {
  channel: C
  seq: number
  timestamp: string
}

export interface SubscribeOptions {
  filters?: SubscriptionFilters
  /** `monitoring` only: the metrics each sample carries (all by default). */
  metrics?: string[]
  /** Replay the events after this sequence number the hub still holds, then go live. */
  since?: number
  /** The subscription is live (again, after each reconnect). */
  onSubscribed?: () => void
  /** The hub no longer holds the events since the last one received: refetch by REST what you show. */
  onReset?: () => void
  /** An error the hub sent (a refused filter…), or the reason the subscription gave up. */
  onError?: (error: MCPHubError) => void
}

/** The WebSocket surface the client uses: the global `WebSocket`, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number
  send (data: string): void
  close (code?: number, reason?: string): void
  // The events' types differ between implementations: each listener reads what it needs.
  addEventListener (type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void): void
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface ReconnectOptions {
  /** ms before the first reconnect (default 500); doubled each failed try, with jitter. */
  initialDelay?: number
  /** The longest wait between tries, ms (default 30 000). */
  maxDelay?: number
}

/** How many 4401 closes in a row (without a successful sign-in between) end a subscription. */
const AUTH_FAILURES_TO_GIVE_UP = 2

interface HubMessage {
  type?: string
  channel?: Channel
  seq?: number
  timestamp?: string
  data?: unknown
  code?: ErrorCode
  message?: string
  details?: Record<string, unknown>
}

/** `client.events`: live events over the hub's `/ws` WebSocket. */
export class Events {
  readonly #url: string
  readonly #session: Session
  readonly #WebSocket: WebSocketConstructor | undefined
  readonly #reconnect: Required<ReconnectOptions>

  constructor (baseURL: string, session: Session, options: { WebSocket?: WebSocketConstructor | undefined, reconnect?: ReconnectOptions | undefined }) {
    this.#url = `${baseURL.replace(/^http/, 'ws')}/ws`
    this.#session = session
    this.#WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    this.#reconnect = { initialDelay: options.reconnect?.initialDelay ?? 500, maxDelay: options.reconnect?.maxDelay ?? 30_000 }
  }

  /**
   * Calls `onEvent` with each event of `channel` (narrowed by `options.filters`). The socket
   * authenticates by its first message (so it works in browsers), reconnects after a drop with
   * exponential backoff and jitter, and resumes from the last event received (`since`), with a
   * fresh access token when the hub closed it because the token expired. Answers the function
   * that ends the subscription.
   */
  subscribe<C extends Channel> (channel: C, options: SubscribeOptions, onEvent: (data: ChannelEvents[C], event: EventInfo<C>) => void): () => void {
    const WebSocketClass = this.#WebSocket
    if (WebSocketClass === undefined) throw new TypeError('no WebSocket here: on Node 20, pass `{ WebSocket }` from the `ws` package in the client options')
    let socket: WebSocketLike | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    let stopped = false
    let failures = 0
    let authFailures = 0
    let lastSeq = options.since
    const fail = (error: MCPHubError) => options.onError?.(error)

    const retry = () => {
      if (stopped) return
      const delay = Math.min(this.#reconnect.maxDelay, this.#reconnect.initialDelay * 2 ** failures++)
      timer = setTimeout(connect, delay * (0.5 + Math.random() / 2))
    }

    const connect = async () => {
      let auth: { token: string } | { apiKey: string }
      try {
        const apiKey = this.#session.apiKey
        auth = apiKey === undefined ? { token: await this.#session.accessToken() } : { apiKey }
      } catch (error) {
        fail(error instanceof MCPHubError ? error : new MCPHubError({ code: 'AUTHENTICATION_FAILED', message: 'Cannot sign in for live events', cause: error }))
        retry()
        return
      }
      if (stopped) return
      const ws = new WebSocketClass(this.#url)
      socket = ws
      ws.addEventListener('open', () => {
        ws.send(JSON.stringify({ type: 'auth', ...auth }))
        const subscribe: Record<string, unknown> = { type: 'subscribe', channel }
        if (options.filters !== undefined) subscribe.filters = options.filters
        if (options.metrics !== undefined) subscribe.metrics = options.metrics
        if (lastSeq !== undefined) subscribe.since = lastSeq
        ws.send(JSON.stringify(subscribe))
      })
      ws.addEventListener('message', (event: { data: unknown }) => {
        if (stopped || typeof event.data !== 'string') return
        let message: HubMessage
        try {
          message = JSON.parse(event.data) as HubMessage
        } catch {
          return
        }
        switch (message.type) {
          case 'authenticated':
            authFailures = 0
            break
          case 'subscribed':
            failures = 0
            options.onSubscribed?.()
            break
          case 'event':
            if (message.channel !== channel || typeof message.seq !== 'number') return
            lastSeq = message.seq
            onEvent(message.data as ChannelEvents[C], { channel, seq: message.seq, timestamp: message.timestamp ?? '' })
            break
          case 'reset':
            options.onReset?.()
            break
          case 'error':
            fail(new MCPHubError({ code: message.code ?? 'SERVER_ERROR', message: message.message ?? 'error', ...(message.details === undefined ? {} : { details: message.details }) }))
            break
        }
      })
      ws.addEventListener('close', (event: { code: number }) => {
        if (socket === ws) socket = undefined
        if (stopped) return
        if (event.code === 4401) {
          // The credential ended (most often: the access token expired): renew it before reconnecting.
          if ('token' in auth) this.#session.expire(auth.token)
          if (++authFailures >= AUTH_FAILURES_TO_GIVE_UP) {
            stopped = true
            fail(new MCPHubError({ code: 'AUTHENTICATION_FAILED', message: 'The hub refused the credential for live events' }))
            return
          }
        }
        retry()
      })
      // A failed connection also closes; the close decides what comes next.
      ws.addEventListener('error', () => {})
    }

    connect().catch(retry)
    return () => {
      stopped = true
      clearTimeout(timer)
      if (socket !== undefined && socket.readyState <= 1) socket.close(1000)
      socket = undefined
    }
  }
}
