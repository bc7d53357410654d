import { Type, type Static } from 'typebox'
import { ERROR_CODES } from '../lib/errors.ts'
import { Id, Nullable, Ref, Timestamp } from '../lib/schemas.ts'
import { LOG_LEVELS } from '../supervisor/log-buffer.ts'
import { SERVER_STATES } from '../supervisor/managed-server.ts'

/** The live channels, as `/ws` subscribes to them. */
export const CHANNELS = ['server-status', 'server-logs', 'monitoring', 'alerts', 'user-activity'] as const
export type Channel = typeof CHANNELS[number]

export const ServerStateName = Type.Enum(SERVER_STATES)
export const LogLevel = Type.Enum(LOG_LEVELS)

export const ServerStatusEvent = Type.Object({
  serverId: Id,
  name: Type.String(),
  key: Type.String(),
  from: Type.Union([ServerStateName, Type.Null()], { description: 'null for the first change the hub saw' }),
  to: ServerStateName,
  pid: Nullable(Type.Integer()),
  reason: Nullable(Type.Object({
    exitCode: Nullable(Type.Integer()),
    signal: Nullable(Type.String()),
    lastError: Nullable(Type.String())
  }, { description: 'Why the server left `running` or gave up: its last exit and last error, when there was one' })),
  nextRetryAt: Nullable(Timestamp),
  at: Timestamp
}, { $id: 'ServerStatusEvent', description: 'A server changed state (`server-status`)' })

export const ServerLogEvent = Type.Object({
  serverId: Id,
  name: Type.String(),
  time: Timestamp,
  level: LogLevel,
  source: Type.Enum(['stderr', 'mcp', 'supervisor']),
  message: Type.String()
}, { $id: 'ServerLogEvent', description: 'One log line of a server (`server-logs`): its stderr, an MCP log message or a supervisor event' })

export const MONITORING_METRICS = ['cpu', 'memory', 'heapUsed', 'uptime', 'eventLoopDelay', 'eventLoopUtilization', 'requests', 'mcpSessions', 'wsConnections'] as const
export const MonitoringMetric = Type.Enum(MONITORING_METRICS)

export const MonitoringEvent = Type.Object({
  at: Timestamp,
  metrics: Type.Object({
    cpu: Type.Optional(Type.Number({ description: 'The hub process\'s CPU use since the previous sample, percent of one core' })),
    memory: Type.Optional(Type.Integer({ description: 'Resident set size of the hub process, bytes' })),
    heapUsed: Type.Optional(Type.Integer({ description: 'V8 heap in use, bytes' })),
    uptime: Type.Optional(Type.Integer({ description: 'Seconds since the hub started' })),
    eventLoopDelay: Type.Optional(Type.Number({ description: 'Mean event-loop delay since the previous sample, ms' })),
    eventLoopUtilization: Type.Optional(Type.Number({ description: 'Share of the time since the previous sample the event loop was busy, 0 to 1' })),
    requests: Type.Optional(Type.Number({ description: 'HTTP requests answered per minute (REST, MCP, /ws upgrades), over the time since the previous sample' })),
    mcpSessions: Type.Optional(Type.Integer({ description: 'MCP sessions open' })),
    wsConnections: Type.Optional(Type.Integer({ description: 'WebSocket connections open on /ws' }))
  })
}, { $id: 'MonitoringEvent', description: 'A sample of the hub\'s own figures (`monitoring`), with the metrics the subscription asked for' })

/** What an activity's target or related object can be. */
export const ACTIVITY_OBJECT_TYPES = ['user', 'group', 'server', 'api-key'] as const

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const
export const AlertSeverity = Type.Enum(ALERT_SEVERITIES)

export const AlertEvent = Type.Object({
  id: Id,
  fingerprint: Type.String(),
  rule: Type.String(),
  severity: AlertSeverity,
  state: Type.Enum(['firing', 'resolved']),
  serverId: Nullable(Id),
  message: Type.String(),
  at: Timestamp
}, { $id: 'AlertEvent', description: 'An alert fired or resolved (`alerts`)' })

const ActivityObject = (description: string) => Nullable(Type.Object({
  type: Type.Enum(ACTIVITY_OBJECT_TYPES),
  id: Nullable(Id),
  name: Nullable(Type.String({ description: 'Its name when the action began (kept after it is deleted or renamed); only on success' }))
}, { description }))

export const ActivityEvent = Type.Object({
  id: Id,
  action: Type.String({ description: 'What happened, `<object>.<verb>`: e.g. `auth.login`, `server.update`, `group.member.add`' }),
  outcome: Type.Enum(['success', 'failure']),
  reason: Nullable(Type.String({ description: 'Why it failed: the error code, or for sign-ins what failed (`unknown-user`, `bad-password`, `mfa-required`, `mfa-invalid`, `throttled`)' })),
  actor: Nullable(Type.Object({ userId: Nullable(Id), username: Type.String() }, { description: 'Who did it; for a failed sign-in, the name that was tried (userId null when no such user exists)' })),
  target: ActivityObject('The object acted upon'),
  related: ActivityObject('A second object involved: the member of a membership change, the server of an assignment'),
  fields: Nullable(Type.Array(Type.String(), { description: 'The names of the body fields sent (never their values)' })),
  ip: Nullable(Type.String()),
  userAgent: Nullable(Type.String()),
  at: Timestamp
}, { $id: 'ActivityEvent', description: 'One entry of the audit trail (`user-activity`)' })

/** What each channel's events carry. */
export interface ChannelData {
  'server-status': Static<typeof ServerStatusEvent>
  'server-logs': Static<typeof ServerLogEvent>
  monitoring: Static<typeof MonitoringEvent>
  alerts: Static<typeof AlertEvent>
  'user-activity': Static<typeof ActivityEvent>
}

export const CHANNEL_SCHEMAS = {
  'server-status': ServerStatusEvent,
  'server-logs': ServerLogEvent,
  monitoring: MonitoringEvent,
  alerts: AlertEvent,
  'user-activity': ActivityEvent
} as const

// The WebSocket's messages. Client → hub:

const ChannelName = Type.Enum(CHANNELS)
const OneOrMany = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Union([item, Type.Array(item, { minItems: 1, maxItems: 100 })])

export const SubscriptionFilters = Type.Object({
  serverId: Type.Optional(OneOrMany(Id)),
  level: Type.Optional(LogLevel),
  severity: Type.Optional(AlertSeverity),
  userId: Type.Optional(Id),
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  interval: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000, description: 'ms between `monitoring` samples (default 5000)' }))
}, {
  $id: 'SubscriptionFilters',
  additionalProperties: false,
  description: '`serverId` for `server-status`, `server-logs` and `alerts`; `level` (the lowest) for `server-logs`; `interval` for `monitoring`; `severity` (the lowest) for `alerts`; `userId` (the actor) and `action` for `user-activity`'
})

export const WsAuth = Type.Object({
  type: Type.Literal('auth'),
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })),
  apiKey: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 }))
}, { $id: 'WsAuth', additionalProperties: false, description: 'The first message: an access token (JWT) or an API key, in `token` or `apiKey`' })

export const WsSubscribe = Type.Object({
  type: Type.Literal('subscribe'),
  channel: ChannelName,
  filters: Type.Optional(SubscriptionFilters),
  metrics: Type.Optional(Type.Array(MonitoringMetric, { minItems: 1, uniqueItems: true, description: 'For `monitoring`: which metrics each sample carries (all when left out)' })),
  since: Type.Optional(Type.Integer({ minimum: 0, description: 'Replay the events after this sequence number of the channel that the hub still holds, then go live' }))
}, { $id: 'WsSubscribe', additionalProperties: false })

export const WsUnsubscribe = Type.Object({
  type: Type.Literal('unsubscribe'),
  subscriptionId: Type.String({ minLength: 1, maxLength: 100 })
}, { $id: 'WsUnsubscribe', additionalProperties: false })

export const WsPing = Type.Object({
  type: Type.Literal('ping'),
  id: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Number()]))
}, { $id: 'WsPing', additionalProperties: false, description: 'Answered with `pong` (carrying the same `id`)' })

// Hub → client:

export const WsAuthenticated = Type.Object({
  type: Type.Literal('authenticated'),
  user: Type.Object({ id: Id, username: Type.String(), role: Type.Enum(['admin', 'user']) })
}, { $id: 'WsAuthenticated' })

export const WsSubscribed = Type.Object({
  type: Type.Literal('subscribed'),
  channel: ChannelName,
  subscriptionId: Type.String()
}, { $id: 'WsSubscribed' })

export const WsUnsubscribed = Type.Object({
  type: Type.Literal('unsubscribed'),
  subscriptionId: Type.String()
}, { $id: 'WsUnsubscribed' })

export const WsEvent = Type.Object({
  type: Type.Literal('event'),
  channel: ChannelName,
  seq: Type.Integer({ minimum: 1, description: 'The event\'s number in its channel: resume with `since` from the last one seen' }),
  timestamp: Timestamp,
  data: Type.Union([Ref(ServerStatusEvent), Ref(ServerLogEvent), Ref(MonitoringEvent), Ref(AlertEvent), Ref(ActivityEvent)])
}, { $id: 'WsEvent', description: '`data` is the channel\'s event: ServerStatusEvent, ServerLogEvent, MonitoringEvent, AlertEvent or ActivityEvent' })

export const WsReset = Type.Object({
  type: Type.Literal('reset'),
  channel: ChannelName,
  subscriptionId: Type.String()
}, { $id: 'WsReset', description: 'The hub no longer holds the events after `since`: refetch by REST, then go on with the live events that follow' })

export const WsDropped = Type.Object({
  type: Type.Literal('dropped'),
  channel: ChannelName,
  count: Type.Integer({ minimum: 1 })
}, { $id: 'WsDropped', description: 'This many events were not sent because the client did not keep up' })

export const WsPong = Type.Object({
  type: Type.Literal('pong'),
  id: Type.Optional(Type.Union([Type.String(), Type.Number()]))
}, { $id: 'WsPong' })

export const WsError = Type.Object({
  type: Type.Literal('error'),
  code: Type.Enum(ERROR_CODES),
  message: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown()))
}, { $id: 'WsError', description: 'A message the hub could not take; the socket stays open unless the error is about authentication' })

/** Registered with `app.addSchema`: they appear under the document's components for generators. */
export const SCHEMAS = [
  ServerStatusEvent, ServerLogEvent, MonitoringEvent, AlertEvent, ActivityEvent,
  SubscriptionFilters, WsAuth, WsSubscribe, WsUnsubscribe, WsPing,
  WsAuthenticated, WsSubscribed, WsUnsubscribed, WsEvent, WsReset, WsDropped, WsPong, WsError
]
