import type { FastifyBaseLogger } from 'fastify'
import type { Static } from 'typebox'
import { WebSocket, type RawData } from 'ws'
import type { Principal } from '../access/index.ts'
import type { EventBus } from '../events/bus.ts'
import type { Channel, WsAuth, WsSubscribe } from '../events/schemas.ts'
import { authenticationFailed, HubError, invalidRequest, notFound, rateLimited, serverError, toHubError, validationFailed } from '../lib/errors.ts'
import type { Credentials } from '../plugins/auth.ts'
import { subscriptionFilter, visible, type AnyEvent, type Viewer } from './filters.ts'
import type { WsLimits } from './limits.ts'
import { errorMessage, eventFrame, parseMessage, type HubMessage } from './messages.ts'
import { projected, Subscriptions, type Selection } from './subscriptions.ts'

/** What a connection needs from the hub that holds it. */
export interface ConnectionHost {
  readonly limits: WsLimits
  readonly events: EventBus
  readonly log: FastifyBaseLogger
  authenticate(credentials: Credentials, ip: string): Promise<Principal | null>
  /** The servers the principal may read; undefined: all. */
  readableServers(principal: Principal): Promise<ReadonlySet<string> | undefined>
  /** Counts the socket against its user's cap: false when the user has as many as allowed. */
  admit(connection: Connection, userId: string): boolean
  /**
   * Ends the connection (`end`) once its credential is revoked or expires; `refresh` is called
   * with the principal as it stands whenever stored records change. Returns the function that stops watching.
   */
  watch(principal: Principal, refresh: (current: Principal) => Promise<void>, end: () => void): () => void
  /** The connection hears the channel's live events (`deliver`) until it leaves it. */
  join(channel: Channel, connection: Connection): void
  leave(channel: Channel, connection: Connection): void
  /** The connection is closed. */
  forget(connection: Connection): void
}

/** Close codes of the contract (and RFC 6455's for the slow consumer and shutdown). */
export const CLOSE = { unauthenticated: 4401, tooManySockets: 4429, tooSlow: 1013, goingAway: 1001, serverError: 1011 } as const

/** Messages a client may send while its authentication is looked up: they are handled after it. */
const MAX_QUEUED = 16
/** How often a socket past its soft bound is looked at. */
const LAG_CHECK_MS = 100
/** Frames are text, also when given as a Buffer (an event serialized once for every socket). */
const TEXT = { binary: false }
/** The one channel whose events are dropped rather than queued for a slow socket. */
const DROPPABLE: Channel = 'server-logs'

type State = 'waiting' | 'authenticating' | 'open' | 'closed'

/**
 * One `/ws` socket: waits for its credential, then takes subscriptions and sends their events,
 * within a bound of queued bytes. Everything after authentication is synchronous, so a
 * subscription's replay and its live events follow each other without gap or repeat.
 */
export class Connection {
  readonly #socket: WebSocket
  readonly #ip: string
  readonly #host: ConnectionHost
  readonly #subscriptions = new Subscriptions()
  #state: State = 'waiting'
  #viewer: Viewer | undefined
  #queued: Array<[RawData, boolean]> = []
  #authTimer: NodeJS.Timeout | undefined
  #unwatch: (() => void) | undefined
  #lagTimer: NodeJS.Timeout | undefined
  /** Log lines not sent since the socket went past its soft bound. */
  #dropped = 0
  #awaitingPong = false

  /** Listens to the socket at once: nothing the client sends is missed. */
  constructor (socket: WebSocket, ip: string, host: ConnectionHost) {
    this.#socket = socket
    this.#ip = ip
    this.#host = host
    socket.on('message', (data, isBinary) => { this.#onMessage(data, isBinary) })
    socket.on('pong', () => { this.#awaitingPong = false })
    socket.on('close', () => { this.#end() })
  }

  /** Starts with the principal of the upgrade request's credentials, or waits for an `auth` message. */
  start (principal: Principal | null): void {
    this.#authTimer = setTimeout(() => { this.close(CLOSE.unauthenticated, 'Authentication timeout') }, this.#host.limits.authTimeoutMs)
    this.#authTimer.unref()
    if (principal !== null) this.#open(principal).catch((error: unknown) => { this.#fail(error) })
  }

  /** Sends a live event if the socket may see it and one of its subscriptions wants it; `shared` is the frame every socket sends as it is. */
  deliver (event: AnyEvent, shared: () => Buffer): void {
    const viewer = this.#viewer
    if (viewer === undefined || !visible(viewer, event)) return
    this.#emit(event, this.#subscriptions.select(event), shared)
  }

  /** Pings the peer; one that did not answer the previous ping is cut off. */
  heartbeat (): void {
    if (this.#awaitingPong) {
      this.#end()
      this.#socket.terminate()
      return
    }
    this.#awaitingPong = true
    this.#socket.ping()
  }

  get closed (): boolean {
    return this.#state === 'closed'
  }

  close (code: number, reason: string): void {
    if (this.closed) return
    this.#end()
    this.#socket.close(code, reason)
  }

  #onMessage (data: RawData, isBinary: boolean): void {
    if (this.#state === 'closed') return
    if (this.#state === 'authenticating') {
      if (this.#queued.length < MAX_QUEUED) this.#queued.push([data, isBinary])
      else this.#send(errorMessage(invalidRequest('Too many messages before authentication completed')))
      return
    }
    const message = parseMessage(data, isBinary)
    if (this.#state === 'waiting') {
      if (message instanceof HubError) {
        this.#refuse(authenticationFailed(`Authenticate first with {"type":"auth","token":"..."}: ${message.message}`))
      } else if (message.type !== 'auth') {
        this.#refuse(authenticationFailed('Authenticate first: send {"type":"auth","token":"..."}'))
      } else {
        this.#authenticate(message).catch((error: unknown) => { this.#fail(error) })
      }
      return
    }
    if (message instanceof HubError) {
      this.#send(errorMessage(message))
      return
    }
    switch (message.type) {
      case 'auth':
        this.#send(errorMessage(invalidRequest('Already authenticated')))
        break
      case 'subscribe':
        this.#subscribe(message)
        break
      case 'unsubscribe':
        this.#unsubscribe(message.subscriptionId)
        break
      case 'ping':
        this.#send({ type: 'pong', ...(message.id === undefined ? {} : { id: message.id }) })
        break
    }
  }

  async #authenticate ({ token, apiKey }: Static<typeof WsAuth>): Promise<void> {
    if (token === undefined && apiKey === undefined) {
      this.#refuse(authenticationFailed('Send a token or an apiKey'))
      return
    }
    this.#state = 'authenticating'
    let principal: Principal | null
    try {
      principal = await this.#host.authenticate({ token, apiKey }, this.#ip)
    } catch (error) {
      this.#refuse(toHubError(error))
      return
    }
    if (principal === null) this.#refuse(authenticationFailed('Invalid or expired credentials'))
    else await this.#open(principal)
  }

  async #open (principal: Principal): Promise<void> {
    if (this.closed) return
    this.#state = 'authenticating'
    const readable = await this.#host.readableServers(principal)
    if (this.closed) return
    if (!this.#host.admit(this, principal.userId)) {
      this.#send(errorMessage(rateLimited(`Too many sockets: at most ${this.#host.limits.maxSocketsPerUser} per user`)))
      this.close(CLOSE.tooManySockets, 'Too many sockets')
      return
    }
    clearTimeout(this.#authTimer)
    this.#viewer = { principal, readable }
    this.#state = 'open'
    // What the socket may see is the principal's as it stands: its role, the servers it may read now.
    const refresh = async (current: Principal) => {
      this.#viewer = { principal: current, readable: await this.#host.readableServers(current) }
    }
    this.#unwatch = this.#host.watch(principal, refresh, () => { this.close(CLOSE.unauthenticated, 'Credential revoked or expired') })
    this.#send({ type: 'authenticated', user: { id: principal.userId, username: principal.username, role: principal.role } })
    for (const [data, isBinary] of this.#queued.splice(0)) this.#onMessage(data, isBinary)
  }

  #subscribe (message: Static<typeof WsSubscribe>): void {
    const viewer = this.#viewer!
    const { limits, events } = this.#host
    if (this.#subscriptions.size >= limits.maxSubscriptions) {
      this.#send(errorMessage(validationFailed('subscriptions', `at most ${limits.maxSubscriptions} per socket`)))
      return
    }
    let accepts
    try {
      accepts = subscriptionFilter(viewer, message)
    } catch (error) {
      this.#send(errorMessage(toHubError(error)))
      return
    }
    const { channel, since } = message
    const subscription = this.#subscriptions.add({ channel, accepts, metrics: message.metrics, intervalMs: message.filters?.interval, heardAfter: events.lastSeq(channel) })
    this.#host.join(channel, this)
    this.#send({ type: 'subscribed', channel, subscriptionId: subscription.id })
    if (since === undefined) return
    const missed = events.since(channel, since) as AnyEvent[] | undefined
    if (missed === undefined) {
      this.#send({ type: 'reset', channel, subscriptionId: subscription.id })
      return
    }
    for (const event of missed) {
      if (this.closed) return
      if (visible(viewer, event)) this.#emit(event, this.#subscriptions.replay(subscription, event), () => eventFrame(event))
    }
    subscription.heardAfter = since
  }

  #unsubscribe (id: string): void {
    const subscription = this.#subscriptions.remove(id)
    if (subscription === undefined) {
      this.#send(errorMessage(notFound('Subscription')))
      return
    }
    if (!this.#subscriptions.channels().includes(subscription.channel)) this.#host.leave(subscription.channel, this)
    this.#send({ type: 'unsubscribed', subscriptionId: id })
  }

  #emit (event: AnyEvent, selection: Selection, shared: () => Buffer): void {
    if (selection === false) return
    if (selection !== 'whole' && event.channel === 'monitoring') {
      this.#write(eventFrame(event, projected(event, selection)))
      return
    }
    if (event.channel === DROPPABLE && this.#socket.bufferedAmount > this.#host.limits.softBytes) {
      this.#dropped++
      this.#watchLag()
      return
    }
    this.#write(shared())
  }

  #send (message: HubMessage): void {
    this.#write(JSON.stringify(message))
  }

  /** Queues a frame, unless that would take the socket past its hard bound: it is closed (1013) instead. */
  #write (frame: Buffer | string): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return
    const { softBytes, hardBytes } = this.#host.limits
    if (this.#socket.bufferedAmount + frame.length > hardBytes) {
      this.close(CLOSE.tooSlow, 'Consumer too slow')
      return
    }
    this.#socket.send(frame, TEXT)
    if (this.#socket.bufferedAmount > softBytes) this.#watchLag()
  }

  /**
   * Watches a socket past its soft bound: once it drains below, it hears how many log lines it
   * missed; still past it after `lagMs`, it is closed (1013).
   */
  #watchLag (): void {
    if (this.#lagTimer !== undefined) return
    const { softBytes, lagMs } = this.#host.limits
    const since = Date.now()
    this.#lagTimer = setInterval(() => {
      if (this.#socket.bufferedAmount <= softBytes) {
        clearInterval(this.#lagTimer)
        this.#lagTimer = undefined
        if (this.#dropped > 0) {
          this.#send({ type: 'dropped', channel: DROPPABLE, count: this.#dropped })
          this.#dropped = 0
        }
      } else if (Date.now() - since >= lagMs) {
        this.close(CLOSE.tooSlow, 'Consumer too slow')
      }
    }, LAG_CHECK_MS)
    this.#lagTimer.unref()
  }

  /** Refuses an unauthenticated socket: the error, then 4401. */
  #refuse (error: HubError): void {
    this.#send(errorMessage(error))
    this.close(CLOSE.unauthenticated, error.code === 'RATE_LIMIT_EXCEEDED' ? 'Too many failed credentials' : 'Authentication failed')
  }

  #fail (error: unknown): void {
    this.#host.log.error({ err: error }, 'WebSocket authentication failed')
    this.#send(errorMessage(serverError()))
    this.close(CLOSE.serverError, 'Internal error')
  }

  /** Stops everything the connection holds; idempotent. */
  #end (): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    clearTimeout(this.#authTimer)
    clearInterval(this.#lagTimer)
    this.#unwatch?.()
    for (const channel of this.#subscriptions.channels()) this.#host.leave(channel, this)
    this.#host.forget(this)
  }
}
