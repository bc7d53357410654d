import type { SharedRedis } from '../../lib/redis.ts'

/**
 * Brute-force protection for logins and MFA codes: failures are counted per key (an account, an
 * IP); past a free allowance each further failure blocks the key for a growing delay, capped,
 * never forever. A success resets the account's count. With Redis the counts are shared by every
 * hub using it (in memory while Redis fails); without, they live in this process.
 */
export interface ThrottlePolicy {
  /** Failures allowed before delays start. */
  free: number
  /** First delay, doubled for each further failure. */
  baseDelayMs: number
  maxDelayMs: number
  /** A key with no failure for this long starts over. */
  forgetAfterMs: number
}

export const ACCOUNT_POLICY: ThrottlePolicy = { free: 5, baseDelayMs: 30_000, maxDelayMs: 15 * 60_000, forgetAfterMs: 60 * 60_000 }
export const IP_POLICY: ThrottlePolicy = { free: 20, baseDelayMs: 30_000, maxDelayMs: 15 * 60_000, forgetAfterMs: 60 * 60_000 }

interface Entry {
  failures: number
  lastFailureAt: number
  blockedUntil: number
}

/** Bounded: the oldest keys are dropped first when full. */
const MAX_KEYS = 100_000

// The same rules as #failInMemory, in one atomic step; returns the milliseconds blocked.
const FAIL = `
local now, free, base, max, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local entry = redis.call('HMGET', KEYS[1], 'failures', 'last', 'until')
local failures, last, blocked = tonumber(entry[1]) or 0, tonumber(entry[2]) or 0, tonumber(entry[3]) or 0
if now - last > forget and now >= blocked then failures, blocked = 0, 0 end
failures = failures + 1
if failures > free then blocked = now + math.min(max, base * 2 ^ (failures - free - 1)) end
redis.call('HSET', KEYS[1], 'failures', failures, 'last', now, 'until', blocked)
redis.call('PEXPIRE', KEYS[1], math.max(forget, blocked - now) + 1000)
return math.max(0, blocked - now)`

const RETRY_AFTER = `
local blocked = tonumber(redis.call('HGET', KEYS[1], 'until')) or 0
return math.max(0, blocked - tonumber(ARGV[1]))`

export class LoginThrottle {
  readonly #policy: ThrottlePolicy
  readonly #now: () => number
  readonly #entries = new Map<string, Entry>()
  readonly #redis: SharedRedis | undefined
  readonly #prefix: string

  constructor (options: { policy: ThrottlePolicy, now: () => number, redis?: SharedRedis | undefined, name: string }) {
    this.#policy = options.policy
    this.#now = options.now
    this.#redis = options.redis
    this.#prefix = `${options.redis?.keyPrefix ?? ''}throttle:${options.name}:`
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  async retryAfterMs (key: string): Promise<number> {
    return await this.#run(
      async (redis) => Number(await redis.eval(RETRY_AFTER, 1, this.#prefix + key, this.#now())),
      () => {
        const entry = this.#live(key)
        return entry === undefined ? 0 : Math.max(0, entry.blockedUntil - this.#now())
      })
  }

  async fail (key: string): Promise<void> {
    const { free, baseDelayMs, maxDelayMs, forgetAfterMs } = this.#policy
    await this.#run(
      async (redis) => Number(await redis.eval(FAIL, 1, this.#prefix + key, this.#now(), free, baseDelayMs, maxDelayMs, forgetAfterMs)),
      () => this.#failInMemory(key))
  }

  async reset (key: string): Promise<void> {
    this.#entries.delete(key)
    await this.#run(async (redis) => await redis.del(this.#prefix + key), () => 0)
  }

  async #run (op: (redis: SharedRedis['client']) => Promise<number>, fallback: () => number): Promise<number> {
    return this.#redis === undefined ? fallback() : await this.#redis.run(op, fallback)
  }

  #failInMemory (key: string): number {
    const now = this.#now()
    const entry = this.#live(key) ?? { failures: 0, lastFailureAt: now, blockedUntil: 0 }
    entry.failures += 1
    entry.lastFailureAt = now
    const over = entry.failures - this.#policy.free
    if (over > 0) {
      entry.blockedUntil = now + Math.min(this.#policy.maxDelayMs, this.#policy.baseDelayMs * 2 ** (over - 1))
    }
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    if (this.#entries.size > MAX_KEYS) this.#entries.delete(this.#entries.keys().next().value as string)
    return Math.max(0, entry.blockedUntil - now)
  }

  #live (key: string): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry !== undefined && this.#now() - entry.lastFailureAt > this.#policy.forgetAfterMs && this.#now() >= entry.blockedUntil) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }
}
