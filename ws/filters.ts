import type { Static } from 'typebox'
import { isAdmin, type Principal } from '../access/index.ts'
import type { BusEvent } from '../events/bus.ts'
import { ALERT_SEVERITIES, type Channel, type SubscriptionFilters, type WsSubscribe } from '../events/schemas.ts'
import { authorizationFailed, HubError, validationFailed } from '../lib/errors.ts'
import { LOG_LEVELS } from '../supervisor/log-buffer.ts'

/** An event of any channel, narrowed by its `channel`. */
export type AnyEvent = { [C in Channel]: BusEvent<C> }[Channel]

/** Who receives a socket's events: its principal as it stands, and the servers it may read (undefined: all, for admins). */
export interface Viewer {
  principal: Principal
  readable: ReadonlySet<string> | undefined
}

/**
 * Whether the viewer may see the event, by the REST API's rules: server events of servers it
 * may read; `monitoring` for admins; alerts of servers it may read (admins: all); activity it
 * did or that concerns its own user (admins: all).
 */
export function visible ({ principal, readable }: Viewer, event: AnyEvent): boolean {
  switch (event.channel) {
    case 'server-status':
    case 'server-logs':
      return readable === undefined || readable.has(event.data.serverId)
    case 'monitoring':
      return isAdmin(principal)
    case 'alerts':
      return readable === undefined || (event.data.serverId !== null && readable.has(event.data.serverId))
    case 'user-activity': {
      if (isAdmin(principal)) return true
      const { actor, target } = event.data
      return actor?.userId === principal.userId || (target?.type === 'user' && target.id === principal.userId)
    }
  }
}

type Filters = Static<typeof SubscriptionFilters>

/** The filters each channel takes. */
const CHANNEL_FILTERS: Record<Channel, ReadonlyArray<keyof Filters>> = {
  'server-status': ['serverId'],
  'server-logs': ['serverId', 'level'],
  monitoring: ['interval'],
  alerts: ['serverId', 'severity'],
  'user-activity': ['userId', 'action']
}

/** The fields of an event's data the filters look at (each channel has some of them). */
interface Filtered {
  serverId?: string | null
  level?: string
  severity?: string
  action?: string
  actor?: { userId: string | null } | null
}

/** Whether an event's data passes a subscription's filters. */
export type EventFilter = (data: AnyEvent['data']) => boolean
type Check = (data: Filtered) => boolean

/**
 * The filter of a subscription, after checking that the viewer may subscribe: throws the
 * error to answer otherwise (a filter the channel does not take, `monitoring` for a non-admin,
 * a server the viewer may not read, another user's activity).
 */
export function subscriptionFilter (viewer: Viewer, { channel, filters = {}, metrics }: Static<typeof WsSubscribe>): EventFilter {
  for (const name of Object.keys(filters) as Array<keyof Filters>) {
    if (!CHANNEL_FILTERS[channel].includes(name)) throw validationFailed(`filters.${name}`, `does not apply to the ${channel} channel`)
  }
  if (metrics !== undefined && channel !== 'monitoring') throw validationFailed('metrics', `does not apply to the ${channel} channel`)
  const admin = isAdmin(viewer.principal)
  if (channel === 'monitoring' && !admin) throw authorizationFailed('The monitoring channel is for admins')
  if (filters.userId !== undefined && !admin && filters.userId !== viewer.principal.userId) throw authorizationFailed('Only admins see the activity of other users')

  const checks: Check[] = []
  if (filters.serverId !== undefined) {
    const ids = new Set([filters.serverId].flat())
    const hidden = viewer.readable === undefined ? undefined : [...ids].find((id) => !viewer.readable!.has(id))
    // As the REST API: a server one may not read is not found.
    if (hidden !== undefined) throw new HubError('RESOURCE_NOT_FOUND', `Server ${hidden} not found`, { field: 'filters.serverId', id: hidden })
    checks.push((data) => typeof data.serverId === 'string' && ids.has(data.serverId))
  }
  if (filters.level !== undefined) checks.push(atLeast(LOG_LEVELS, filters.level, 'level'))
  if (filters.severity !== undefined) checks.push(atLeast(ALERT_SEVERITIES, filters.severity, 'severity'))
  const { userId, action } = filters
  if (userId !== undefined) checks.push((data) => data.actor?.userId === userId)
  if (action !== undefined) checks.push((data) => data.action === action)
  return checks.length === 0 ? () => true : (data) => checks.every((check) => check(data as Filtered))
}

/** Passes data whose `field` is `lowest` or more severe (later in `scale`). */
function atLeast (scale: readonly string[], lowest: string, field: 'level' | 'severity'): Check {
  const from = scale.indexOf(lowest)
  return (data) => scale.indexOf(data[field] ?? '') >= from
}
