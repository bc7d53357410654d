/**
 * Brute-force protection for logins: failures are counted per key (an account, an IP); past a
 * free allowance each further failure blocks the key for a growing delay, capped, never
 * forever. A success resets the account's count.
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

export class LoginThrottle {
  readonly #policy: ThrottlePolicy
  readonly #now: () => number
  readonly #entries = new Map<string, Entry>()

  constructor (policy: ThrottlePolicy, now: () => number) {
    this.#policy = policy
    this.#now = now
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs (key: string): number {
    const entry = this.#live(key)
    return entry === undefined ? 0 : Math.max(0, entry.blockedUntil - this.#now())
  }

  fail (key: string): void {
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
  }

  reset (key: string): void {
    this.#entries.delete(key)
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
