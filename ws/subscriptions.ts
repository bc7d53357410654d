import type { BusEvent } from '../events/bus.ts'
import type { Channel, ChannelData, MONITORING_METRICS } from '../events/schemas.ts'
import type { AnyEvent, EventFilter } from './filters.ts'

type MonitoringMetric = typeof MONITORING_METRICS[number]

export interface Subscription {
  id: string
  channel: Channel
  accepts: EventFilter
  /** `monitoring`: the metrics its samples carry (all when undefined). */
  metrics: readonly MonitoringMetric[] | undefined
  /** `monitoring`: ms between its samples (`DEFAULT_MONITORING_INTERVAL_MS` when undefined). */
  intervalMs: number | undefined
  /** When its last sample was taken (ms). */
  lastSampleAt: number
  /** The socket has had (or will have) every event after this sequence number that this subscription wants: live ones, and those it replayed. */
  heardAfter: number
  /** The channel's last sequence number when it subscribed: live delivery starts after it (what came before is replayed, or not sent). */
  joinedAt: number
}

/** How an event goes to a socket: not at all, whole, or (`monitoring`) with only these metrics. */
export type Selection = false | 'whole' | readonly MonitoringMetric[]

/**
 * A sample is due once its subscription's interval has nearly passed: the sampler's ticks
 * drift by a few ms, and a 2 s interval must not slip to 3 s because of it.
 */
const INTERVAL_SLACK = 0.9
/** A `monitoring` subscription without `interval` gets a sample this often. */
export const DEFAULT_MONITORING_INTERVAL_MS = 5000

/** One socket's subscriptions, by id and by channel. */
export class Subscriptions {
  readonly #byId = new Map<string, Subscription>()
  readonly #byChannel = new Map<Channel, Subscription[]>()
  #counter = 0

  get size (): number {
    return this.#byId.size
  }

  /** The channels with at least one subscription. */
  channels (): Channel[] {
    return [...this.#byChannel.keys()]
  }

  add (fields: Omit<Subscription, 'id' | 'lastSampleAt'>): Subscription {
    const subscription = { ...fields, id: `s${++this.#counter}`, lastSampleAt: 0 }
    this.#byId.set(subscription.id, subscription)
    this.#byChannel.set(subscription.channel, [...this.#byChannel.get(subscription.channel) ?? [], subscription])
    return subscription
  }

  /** Removes a subscription; returns it, or undefined if there was none with this id. */
  remove (id: string): Subscription | undefined {
    const subscription = this.#byId.get(id)
    if (subscription === undefined) return undefined
    this.#byId.delete(id)
    const rest = this.#byChannel.get(subscription.channel)!.filter((other) => other !== subscription)
    if (rest.length === 0) this.#byChannel.delete(subscription.channel)
    else this.#byChannel.set(subscription.channel, rest)
    return subscription
  }

  /**
   * How a live event goes to the socket: once, whatever the number of its subscriptions that
   * want it. Log lines are fanned out a little after they are published: a subscription made
   * in between does not get them live (its replay has them).
   */
  select (event: AnyEvent): Selection {
    return selection(event, this.#byChannel.get(event.channel) ?? [], true)
  }

  /**
   * How an event replayed for `subscription` (after `since`) goes to the socket: not at all if
   * another of its subscriptions has already sent it (live, or replayed).
   */
  replay (subscription: Subscription, event: AnyEvent): Selection {
    const sentBefore = (this.#byChannel.get(event.channel) ?? []).some((other) =>
      other !== subscription && other.heardAfter < event.seq && other.accepts(event.data))
    return sentBefore ? false : selection(event, [subscription], false)
  }
}

/** `live`: only subscriptions made before the event count (what came before is replayed). */
function selection (event: AnyEvent, subscriptions: readonly Subscription[], live: boolean): Selection {
  const wants = (subscription: Subscription) => (!live || subscription.joinedAt < event.seq) && subscription.accepts(event.data)
  if (event.channel !== 'monitoring') return subscriptions.some(wants) ? 'whole' : false
  const at = Date.parse(event.timestamp)
  const metrics = new Set<MonitoringMetric>()
  let due = false
  let whole = false
  for (const subscription of subscriptions) {
    if (!wants(subscription)) continue
    if (at - subscription.lastSampleAt < (subscription.intervalMs ?? DEFAULT_MONITORING_INTERVAL_MS) * INTERVAL_SLACK) continue
    subscription.lastSampleAt = at
    due = true
    if (subscription.metrics === undefined) whole = true
    else for (const metric of subscription.metrics) metrics.add(metric)
  }
  if (!due) return false
  return whole ? 'whole' : [...metrics]
}

/** A monitoring sample with only the given metrics. */
export function projected (event: BusEvent<'monitoring'>, metrics: readonly MonitoringMetric[]): ChannelData['monitoring'] {
  const picked: ChannelData['monitoring']['metrics'] = {}
  for (const metric of metrics) {
    const value = event.data.metrics[metric]
    if (value !== undefined) picked[metric] = value
  }
  return { at: event.data.at, metrics: picked }
}
