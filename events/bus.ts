import { CHANNELS, type Channel, type ChannelData } from './schemas.ts'

/** One event as every consumer sees it: numbered within its channel and stamped when published. */
export interface BusEvent<C extends Channel = Channel> {
  channel: C
  seq: number
  timestamp: string
  data: ChannelData[C]
}

export type Listener<C extends Channel = Channel> = (event: BusEvent<C>) => void

export interface RingLimits {
  /** Most events kept per channel for resumption. */
  maxEvents: number
  /** Events older than this (ms) are not replayed. */
  maxAgeMs: number
}

export interface EventBusOptions {
  /** Per channel; channels not named get `DEFAULT_RING`. */
  rings?: Partial<Record<Channel, RingLimits>>
  now?: () => number
}

export const DEFAULT_RING: RingLimits = { maxEvents: 1000, maxAgeMs: 5 * 60_000 }

/** The recent events of one channel, oldest first, in a fixed-size circular buffer. */
class Ring {
  readonly #slots: Array<{ event: BusEvent, at: number } | undefined>
  readonly #maxAgeMs: number
  #next = 0
  #size = 0

  constructor ({ maxEvents, maxAgeMs }: RingLimits) {
    this.#slots = new Array<undefined>(maxEvents)
    this.#maxAgeMs = maxAgeMs
  }

  push (event: BusEvent, at: number): void {
    this.#slots[this.#next] = { event, at }
    this.#next = (this.#next + 1) % this.#slots.length
    this.#size = Math.min(this.#size + 1, this.#slots.length)
  }

  /** The events after `seq` still held and young enough, or undefined when the ring no longer reaches back to `seq + 1`. */
  after (seq: number, lastSeq: number, now: number): BusEvent[] | undefined {
    if (seq > lastSeq) return undefined
    if (seq === lastSeq) return []
    const capacity = this.#slots.length
    const young: BusEvent[] = []
    for (let i = 0; i < this.#size; i++) {
      const { event, at } = this.#slots[(this.#next - this.#size + i + capacity) % capacity]!
      if (now - at <= this.#maxAgeMs) young.push(event)
    }
    const oldest = young[0]
    if (oldest === undefined || oldest.seq > seq + 1) return undefined
    return young.filter((event) => event.seq > seq)
  }
}

/**
 * The hub's one event bus: producers publish typed events to a channel, consumers (the
 * WebSocket, the activity trail's writer) listen. Each channel numbers its events and keeps the
 * recent ones, bounded in count and age, so a consumer can resume after the last it saw.
 *
 * Listeners run synchronously in publish order and must not block: they queue their work.
 * Fanning out across several hubs would be one more listener that forwards local events (to
 * Redis pub/sub or PostgreSQL NOTIFY) and calls `publish` for the events of other hubs.
 */
export class EventBus {
  readonly #listeners = new Map<Channel, Set<Listener>>()
  readonly #rings = new Map<Channel, Ring>()
  readonly #seqs = new Map<Channel, number>()
  readonly #now: () => number

  constructor (options: EventBusOptions = {}) {
    this.#now = options.now ?? Date.now
    for (const channel of CHANNELS) {
      this.#listeners.set(channel, new Set())
      this.#rings.set(channel, new Ring(options.rings?.[channel] ?? DEFAULT_RING))
      this.#seqs.set(channel, 0)
    }
  }

  publish<C extends Channel> (channel: C, data: ChannelData[C]): BusEvent<C> {
    const at = this.#now()
    const seq = this.#seqs.get(channel)! + 1
    this.#seqs.set(channel, seq)
    const event: BusEvent<C> = { channel, seq, timestamp: new Date(at).toISOString(), data }
    this.#rings.get(channel)!.push(event, at)
    for (const listener of this.#listeners.get(channel)!) listener(event)
    return event
  }

  /** Calls `listener` with every event of the channel from now on; returns the function that stops it. */
  listen<C extends Channel> (channel: C, listener: Listener<C>): () => void {
    const listeners = this.#listeners.get(channel)!
    listeners.add(listener as Listener)
    return () => { listeners.delete(listener as Listener) }
  }

  /** Whether anyone listens to the channel (producers of costly samples skip their work otherwise). */
  hasListeners (channel: Channel): boolean {
    return this.#listeners.get(channel)!.size > 0
  }

  /** The number of the channel's last event (0 before the first). */
  lastSeq (channel: Channel): number {
    return this.#seqs.get(channel)!
  }

  /**
   * The channel's events after `seq`, oldest first; undefined when they are no longer all held
   * (too many or too old since, or `seq` is from before the hub restarted): the consumer must
   * refetch what it shows.
   */
  since<C extends Channel> (channel: C, seq: number): Array<BusEvent<C>> | undefined {
    return this.#rings.get(channel)!.after(seq, this.lastSeq(channel), this.#now()) as Array<BusEvent<C>> | undefined
  }
}
