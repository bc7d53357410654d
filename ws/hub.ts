import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import type { Principal } from '../access/index.ts'
import type { EventBus } from '../events/bus.ts'
import type { Channel } from '../events/schemas.ts'
import type { Credentials } from '../plugins/auth.ts'
import { CLOSE, Connection, DROPPABLE, type ConnectionHost } from './connection.ts'
import type { AnyEvent } from './filters.ts'
import type { WsLimits } from './limits.ts'
import { eventFrame } from './messages.ts'

export interface SocketHubOptions {
  events: EventBus
  limits: WsLimits
  log: FastifyBaseLogger
  authenticate: (credentials: Credentials, ip: string) => Promise<Principal | null>
  readableServers: (principal: Principal) => Promise<ReadonlySet<string> | undefined>
  watchStream: FastifyInstance['watchStream']
}

/**
 * Every open `/ws` socket: counts them per user, listens to a channel of the bus while any
 * socket subscribes to it and hands each event to those sockets (serialized once for all),
 * pings them, and closes them all when the hub shuts down.
 */
export class SocketHub implements ConnectionHost {
  readonly limits: WsLimits
  readonly events: EventBus
  readonly log: FastifyBaseLogger
  readonly #options: SocketHubOptions
  readonly #connections = new Set<Connection>()
  readonly #byUser = new Map<string, Set<Connection>>()
  readonly #userOf = new Map<Connection, string>()
  readonly #members = new Map<Channel, Set<Connection>>()
  readonly #stopListening = new Map<Channel, () => void>()
  readonly #heartbeat: NodeJS.Timeout
  /** Log lines published and not yet fanned out, oldest first. */
  #pendingLines: AnyEvent[] = []
  #draining = false

  constructor (options: SocketHubOptions) {
    this.#options = options
    this.limits = options.limits
    this.events = options.events
    this.log = options.log
    this.#heartbeat = setInterval(() => {
      for (const connection of this.#connections) connection.heartbeat()
    }, options.limits.heartbeatMs)
    this.#heartbeat.unref()
  }

  /** Sockets open. */
  get size (): number {
    return this.#connections.size
  }

  /** Takes a socket just upgraded, authenticated already when its request carried credentials. */
  accept (socket: WebSocket, request: { ip: string, principal: Principal | null }): void {
    const connection = new Connection(socket, request.ip, this)
    this.#connections.add(connection)
    connection.start(request.principal)
  }

  /** Closes every socket (1001) and stops pinging. */
  close (): void {
    clearInterval(this.#heartbeat)
    this.#pendingLines = []
    for (const connection of this.#connections) connection.close(CLOSE.goingAway, 'Hub shutting down')
  }

  async authenticate (credentials: Credentials, ip: string): Promise<Principal | null> {
    return await this.#options.authenticate(credentials, ip)
  }

  async readableServers (principal: Principal): Promise<ReadonlySet<string> | undefined> {
    return await this.#options.readableServers(principal)
  }

  admit (connection: Connection, userId: string): boolean {
    const sockets = this.#byUser.get(userId) ?? new Set()
    if (sockets.size >= this.limits.maxSocketsPerUser) return false
    sockets.add(connection)
    this.#byUser.set(userId, sockets)
    this.#userOf.set(connection, userId)
    return true
  }

  watch (principal: Principal, refresh: (current: Principal) => Promise<void>, end: () => void): () => void {
    const need = async (current: Principal) => {
      await refresh(current)
      return true
    }
    return this.#options.watchStream({ principal, need, end })
  }

  join (channel: Channel, connection: Connection): void {
    const members = this.#members.get(channel) ?? new Set()
    members.add(connection)
    this.#members.set(channel, members)
    if (!this.#stopListening.has(channel)) {
      this.#stopListening.set(channel, this.events.listen(channel, (event) => { this.#fanOut(event as AnyEvent, members) }))
    }
  }

  leave (channel: Channel, connection: Connection): void {
    const members = this.#members.get(channel)
    if (members === undefined || !members.delete(connection) || members.size > 0) return
    this.#members.delete(channel)
    this.#stopListening.get(channel)?.()
    this.#stopListening.delete(channel)
  }

  forget (connection: Connection): void {
    this.#connections.delete(connection)
    const userId = this.#userOf.get(connection)
    if (userId === undefined) return
    this.#userOf.delete(connection)
    const sockets = this.#byUser.get(userId)!
    sockets.delete(connection)
    if (sockets.size === 0) this.#byUser.delete(userId)
  }

  /**
   * Log lines can come faster than a thousand sockets can be sent them: they are fanned out in
   * turns that leave the event loop to other work in between (requests, other channels), and
   * those beyond a bounded backlog are dropped, each socket told how many it missed. Other
   * channels are rare and go out at once.
   */
  #fanOut (event: AnyEvent, members: Set<Connection>): void {
    if (event.channel !== DROPPABLE) {
      this.#send(event, members)
      return
    }
    if (this.#pendingLines.length >= this.limits.maxPendingLines) {
      for (const connection of members) connection.miss(event)
      return
    }
    this.#pendingLines.push(event)
    if (this.#draining) return
    this.#draining = true
    setImmediate(() => { this.#drainLines() })
  }

  #drainLines (): void {
    const until = performance.now() + this.limits.fanOutSliceMs
    do {
      const event = this.#pendingLines.shift()
      if (event === undefined) break
      this.#send(event, this.#members.get(DROPPABLE) ?? new Set())
    } while (performance.now() < until)
    if (this.#pendingLines.length === 0) this.#draining = false
    else setImmediate(() => { this.#drainLines() })
  }

  /** One event to every socket of its channel; serialized at most once, when the first socket sends it. */
  #send (event: AnyEvent, members: Set<Connection>): void {
    let frame: Buffer | undefined
    const shared = () => (frame ??= eventFrame(event))
    for (const connection of members) {
      // One socket's failure must neither reach the publisher nor keep the event from the others.
      try {
        connection.deliver(event, shared)
      } catch (error) {
        this.log.error({ err: error, channel: event.channel }, 'could not send an event to a WebSocket')
        connection.close(CLOSE.serverError, 'Internal error')
      }
    }
  }
}
