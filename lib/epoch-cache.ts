/**
 * The version of everything stored: bumped after every change made through the API, so that
 * values derived from stored records know when they may be stale.
 */
export class RecordsEpoch {
  #current = 0

  get current (): number {
    return this.#current
  }

  bump (): void {
    this.#current++
  }
}

export interface EpochCacheOptions {
  /** The epochs an entry depends on: it holds only while they are all unchanged. */
  epochs: () => number[]
  /** At most this long, so that changes made by another process sharing the database are seen soon after. */
  ttlMs: number
  maxEntries: number
  now: () => number
}

interface Entry<V> {
  epochs: number[]
  computedAt: number
  value: Promise<V>
  /** Set once the computation succeeded. */
  settled?: { value: V }
}

/**
 * Values derived from stored records, reused until the records may have changed. Concurrent
 * lookups of the same key share one computation; a failed computation is not kept.
 */
export class EpochCache<V> {
  readonly #entries = new Map<string, Entry<V>>()
  readonly #options: EpochCacheOptions

  constructor (options: EpochCacheOptions) {
    this.#options = options
  }

  async get (key: string, compute: () => Promise<V>): Promise<V> {
    const entry = this.#entries.get(key)
    if (entry !== undefined && this.#holds(entry)) return await entry.value
    // Full: the entry computed longest ago goes (entries are kept in the order they were computed).
    this.#entries.delete(key)
    if (this.#entries.size >= this.#options.maxEntries) this.#entries.delete(this.#entries.keys().next().value!)
    const epochs = this.#options.epochs()
    const computedAt = this.#options.now()
    const value = compute()
    const computed: Entry<V> = { epochs, computedAt, value }
    this.#entries.set(key, computed)
    value.then((settled) => { computed.settled = { value: settled } }, () => {
      if (this.#entries.get(key) === computed) this.#entries.delete(key)
    })
    return await value
  }

  /** The value `get` would answer at once, without a promise: undefined unless it is computed and still holds. */
  peek (key: string): { value: V } | undefined {
    const entry = this.#entries.get(key)
    return entry?.settled !== undefined && this.#holds(entry) ? entry.settled : undefined
  }

  #holds (entry: Entry<V>): boolean {
    return this.#options.now() - entry.computedAt < this.#options.ttlMs && sameEpochs(entry.epochs, this.#options.epochs())
  }
}

function sameEpochs (a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((epoch, index) => epoch === b[index])
}
