import { Redis } from 'ioredis'

export interface SharedRedisOptions {
  url: string
  /** Put before every key, so that several deployments (or test runs) can share one Redis. */
  keyPrefix: string
  now: () => number
  onError: (error: Error) => void
  /** How long a command may take before it counts as a failure. */
  timeoutMs?: number
  /** How long Redis is left alone after a failure (state is kept in memory meanwhile). */
  pauseMs?: number
}

/**
 * Redis for state several hubs share (rate-limit counters, sign-in throttling), failing fast:
 * a command is tried only while the connection is ready and Redis has not failed in the last
 * `pauseMs`; it never waits for a reconnection and is given up after `timeoutMs`. Whoever calls
 * `run` supplies the in-memory fallback used meanwhile, so a Redis outage never slows a request
 * by more than one timeout per pause.
 */
export class SharedRedis {
  readonly client: Redis
  readonly keyPrefix: string
  readonly #now: () => number
  readonly #pauseMs: number
  readonly #timeoutMs: number
  #pausedUntil = 0

  constructor ({ url, keyPrefix, now, onError, timeoutMs = 250, pauseMs = 30_000 }: SharedRedisOptions) {
    this.keyPrefix = keyPrefix
    this.#now = now
    this.#pauseMs = pauseMs
    this.#timeoutMs = timeoutMs
    this.client = new Redis(url, {
      connectTimeout: timeoutMs * 4,
      commandTimeout: timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Reconnect in the background, at most every 5 s.
      retryStrategy: (attempt) => Math.min(attempt * 500, 5000)
    })
    this.client.on('error', onError)
  }

  /** Resolves once connected, or after the connection timeout (then callers use their fallbacks until it is). */
  async connected (): Promise<void> {
    if (this.client.status === 'ready') return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#timeoutMs * 4)
      this.client.once('ready', done)
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  /** Whether commands are tried now (otherwise callers use their fallback at once). */
  get available (): boolean {
    return this.client.status === 'ready' && this.#now() >= this.#pausedUntil
  }

  /** `op` on Redis when available, else (or when it fails) `fallback`. */
  async run<T> (op: (redis: Redis) => Promise<T>, fallback: () => T): Promise<T> {
    if (!this.available) return fallback()
    try {
      return await op(this.client)
    } catch {
      this.#pausedUntil = this.#now() + this.#pauseMs
      return fallback()
    }
  }

  async close (): Promise<void> {
    if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect())
    else this.client.disconnect()
  }
}
