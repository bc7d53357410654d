import type { SharedRedis } from './redis.ts'

export interface WindowCount {
  /** Events counted in the current window. */
  count: number
  /** Milliseconds until the window ends (0 when none is open). */
  resetInMs: number
}

interface Window {
  count: number
  endsAt: number
}

/** Bounded: the oldest windows are dropped first when full. */
const MAX_KEYS = 100_000

// Fixed window: the first event opens it, the key expires with it.
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`

const READ = `
local count = redis.call('GET', KEYS[1])
if not count then return {0, 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return {0, 0} end
return {tonumber(count), ttl}`

/**
 * Events per key per fixed window (e.g. requests per minute per address). Kept in Redis when
 * one is given (several hubs share the counts), in memory otherwise and while Redis fails.
 */
export class WindowCounter {
  readonly #windows = new Map<string, Window>()
  readonly #redis: SharedRedis | undefined
  readonly #now: () => number
  readonly #prefix: string

  constructor (options: { redis: SharedRedis | undefined, now: () => number, name: string }) {
    this.#redis = options.redis
    this.#now = options.now
    this.#prefix = `${options.redis?.keyPrefix ?? ''}${options.name}:`
  }

  async increment (key: string, windowMs: number): Promise<WindowCount> {
    return await this.#run(async (redis) => {
      const [count, ttl] = await redis.eval(INCREMENT, 1, this.#prefix + key, windowMs) as [number, number]
      return { count, resetInMs: ttl }
    }, () => this.#incrementInMemory(key, windowMs))
  }

  async read (key: string): Promise<WindowCount> {
    return await this.#run(async (redis) => {
      const [count, ttl] = await redis.eval(READ, 1, this.#prefix + key) as [number, number]
      return { count, resetInMs: ttl }
    }, () => this.#readInMemory(key))
  }

  async #run (op: (redis: SharedRedis['client']) => Promise<WindowCount>, fallback: () => WindowCount): Promise<WindowCount> {
    return this.#redis === undefined ? fallback() : await this.#redis.run(op, fallback)
  }

  #readInMemory (key: string): WindowCount {
    const window = this.#windows.get(key)
    const now = this.#now()
    if (window === undefined || window.endsAt <= now) return { count: 0, resetInMs: 0 }
    return { count: window.count, resetInMs: window.endsAt - now }
  }

  #incrementInMemory (key: string, windowMs: number): WindowCount {
    const now = this.#now()
    let window = this.#windows.get(key)
    if (window === undefined || window.endsAt <= now) {
      window = { count: 0, endsAt: now + windowMs }
      this.#windows.delete(key)
      this.#windows.set(key, window)
      if (this.#windows.size > MAX_KEYS) this.#windows.delete(this.#windows.keys().next().value!)
    }
    window.count += 1
    return { count: window.count, resetInMs: window.endsAt - now }
  }
}
