import { ProtocolError, ProtocolErrorCode, type LoggingMessageNotification } from '@modelcontextprotocol/client'

/** The requests a server may send its client while serving a call. */
export const CLIENT_REQUESTS = ['sampling/createMessage', 'elicitation/create', 'roots/list'] as const
export type ClientRequestMethod = typeof CLIENT_REQUESTS[number]

/** Whoever made one call being served (one object per call), from one client session. */
export interface Caller {
  /** Calls with the same key come from the same client. */
  key: string
  /** Forwards a request of the server to this client; undefined when the client cannot take it. */
  ask: (method: ClientRequestMethod, params: Record<string, unknown> | undefined, signal: AbortSignal) => Promise<unknown> | undefined
  /** Forwards a log message of the server to this client. */
  log: (params: LoggingMessageNotification['params']) => void
}

/**
 * The calls in flight on one server, and who they came from. Over stdio a server's requests
 * (sampling, elicitation, roots) and log messages say nothing of the call they belong to, so
 * they go to the one client with calls in flight. When a server asks while calls of several
 * clients are in flight, the request is refused (never guessed: that could show one user's
 * data to another), and from then on calls of different clients to that server take turns.
 */
export class Callers {
  readonly #inFlight = new Set<Caller>()
  /** Keys of the clients whose calls are running (while taking turns: only one). */
  readonly #running = new Map<string, number>()
  readonly #waiting: Array<{ key: string, go: () => void }> = []
  #takeTurns = false

  /** Whether calls of different clients take turns on this server (it was seen asking its clients). */
  get takingTurns (): boolean {
    return this.#takeTurns
  }

  async run<T> (caller: Caller, call: () => Promise<T>): Promise<T> {
    await this.#enter(caller.key)
    this.#inFlight.add(caller)
    try {
      return await call()
    } finally {
      this.#inFlight.delete(caller)
      this.#leave(caller.key)
    }
  }

  /** A request of the server: forwarded to the client whose call it serves. */
  async ask (method: ClientRequestMethod, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<unknown> {
    const callers = [...this.#inFlight]
    const keys = new Set(callers.map((caller) => caller.key))
    if (keys.size === 0) throw new ProtocolError(ProtocolErrorCode.MethodNotFound, `${method} is only answered while the hub is calling this server for a client`)
    if (keys.size > 1) {
      this.#takeTurns = true
      throw new ProtocolError(ProtocolErrorCode.InternalError, `${method} cannot be relayed: calls of several clients are in flight; from now on they take turns`)
    }
    for (const caller of callers) {
      const answer = caller.ask(method, params, signal)
      if (answer !== undefined) return await answer
    }
    throw new ProtocolError(ProtocolErrorCode.MethodNotFound, `The calling client does not support ${method}`)
  }

  /** A log message of the server: to the one client with calls in flight, if there is one. */
  log (params: LoggingMessageNotification['params']): void {
    const callers = [...this.#inFlight]
    if (callers.length > 0 && callers.every((caller) => caller.key === callers[0]!.key)) callers[0]!.log(params)
  }

  async #enter (key: string): Promise<void> {
    const free = this.#running.size === 0 || (this.#running.size === 1 && this.#running.has(key) && this.#waiting.length === 0)
    // A waiting call is counted as running by the one that lets it go.
    if (this.#takeTurns && !free) return await new Promise<void>((resolve) => this.#waiting.push({ key, go: resolve }))
    this.#running.set(key, (this.#running.get(key) ?? 0) + 1)
  }

  #leave (key: string): void {
    const left = this.#running.get(key)! - 1
    if (left > 0) {
      this.#running.set(key, left)
      return
    }
    this.#running.delete(key)
    if (this.#running.size > 0 || this.#waiting.length === 0) return
    // The next client in line goes, with every call of its own that was waiting.
    const next = this.#waiting[0]!.key
    for (const waiter of this.#waiting.filter((entry) => entry.key === next)) {
      this.#running.set(next, (this.#running.get(next) ?? 0) + 1)
      waiter.go()
    }
    this.#waiting.splice(0, this.#waiting.length, ...this.#waiting.filter((entry) => entry.key !== next))
  }
}
