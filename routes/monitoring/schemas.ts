import { Type } from 'typebox'
import { ActivityEvent } from '../../events/schemas.ts'
import { PAGING } from '../../lib/list.ts'
import { METRIC_NAMES } from '../../metrics/catalog.ts'
import { GRANULARITIES, MAX_POINTS, TIME_RANGES, type Granularity, type TimeRange } from '../../metrics/query.ts'
import { SERVER_STATES } from '../../supervisor/managed-server.ts'
import { DateOrDateTime, Envelope, Nullable, PageEnvelope, Ref, Timestamp } from '../../lib/schemas.ts'
import { HUB_LOG_LEVELS, HUB_LOG_SOURCES } from '../../logs/hub-log.ts'
import { DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT } from '../../logs/store.ts'
import { SERVER_KEY_PATTERN } from '../servers/key.ts'

export const ACTIVITY_EXAMPLE = {
  id: '0b6f2f4e-2f5c-4d0e-9a39-5d1f6c1f0a42',
  action: 'server.update',
  outcome: 'success' as const,
  reason: null,
  actor: { userId: '3f1c1c5e-6a0f-4f57-9d6a-0c7b8f6f2a10', username: 'admin' },
  target: { type: 'server' as const, id: '9a7b3c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d', name: 'filesystem' },
  related: null,
  fields: ['args', 'env'],
  ip: '192.0.2.10',
  userAgent: 'curl/8.5.0',
  at: '2026-01-01T12:00:00.000Z'
}

export const ActivityQuery = Type.Object({
  ...PAGING,
  'filter[action]': Type.Optional(Type.String({
    pattern: '^[a-z][a-z0-9-]*(\\.[a-z0-9-]+)*\\.?$',
    maxLength: 100,
    description: 'An action (`server.update`), or a prefix ending in a dot (`auth.`, `group.member.`)'
  })),
  'filter[userId]': Type.Optional(Type.String({ format: 'uuid', description: 'Only what this user did (users: only their own id, 403 otherwise)' })),
  since: Type.Optional(DateOrDateTime('Entries at or after this instant (a date means its midnight UTC)')),
  until: Type.Optional(DateOrDateTime('Entries before this instant'))
}, { additionalProperties: false })

export const ActivityPage = PageEnvelope('ActivityPage', Ref(ActivityEvent), ACTIVITY_EXAMPLE)

const TIME_RANGE_NAMES = Object.keys(TIME_RANGES) as TimeRange[]
const GRANULARITY_NAMES = Object.keys(GRANULARITIES) as Granularity[]
const MetricName = Type.Enum(METRIC_NAMES, { description: 'A metric of the catalog (README, "Monitoring")' })

export const MetricsQuery = Type.Object({
  timeRange: Type.Optional(Type.Enum(TIME_RANGE_NAMES, { default: '1h', description: 'How far back from now' })),
  granularity: Type.Optional(Type.Enum(GRANULARITY_NAMES, {
    description: `The bucket length; by default 1m for 1h, 5m for 24h, 1h for 7d and 30d. A granularity not finer than the range, older than its buckets are kept, or giving more than ${MAX_POINTS} points per series is a 422 naming one to use instead`
  })),
  metrics: Type.Optional(Type.Array(MetricName, {
    minItems: 1,
    maxItems: METRIC_NAMES.length,
    description: 'Comma-separated metric names; by default every metric the caller may read. A hub-wide metric named by a non-admin is a 403',
    examples: [['requests', 'responseTime']]
  }))
  // `style` and `explode` apply to each parameter of the document: `metrics=a,b`, not `metrics=a&metrics=b`.
}, { additionalProperties: false, style: 'form', explode: false })

const MetricPoint = Type.Object({
  t: Type.String({ format: 'date-time', description: 'The bucket\'s start' }),
  value: Type.Number({ description: 'Counters: the total over the bucket; gauges and histograms: the mean' }),
  count: Type.Optional(Type.Number({ description: 'Histograms: values observed' })),
  p50: Type.Optional(Type.Number({ description: 'Histograms: median, estimated from the bucket bounds' })),
  p95: Type.Optional(Type.Number({ description: 'Histograms: 95th percentile' })),
  p99: Type.Optional(Type.Number({ description: 'Histograms: 99th percentile' })),
  max: Type.Optional(Type.Number({ description: 'Gauges and histograms: the highest value seen' }))
})

export const MetricSeries = Type.Object({
  name: MetricName,
  labels: Type.Record(Type.String(), Type.String(), { description: 'The series\' labels (e.g. `server`, the server\'s key)' }),
  unit: Type.String({ examples: ['ms'] }),
  kind: Type.Enum(['counter', 'gauge', 'histogram']),
  points: Type.Array(MetricPoint, { description: 'One per bucket holding data, oldest first' })
}, { $id: 'MetricSeries' })

export const MetricSeriesSet = Type.Object({
  timeRange: Type.Enum(TIME_RANGE_NAMES),
  granularity: Type.Enum(GRANULARITY_NAMES),
  from: Timestamp,
  to: Timestamp,
  series: Type.Array(Ref(MetricSeries))
}, { $id: 'MetricSeriesSet' })

export const MetricSeriesEnvelope = Envelope('MetricSeriesEnvelope', Ref(MetricSeriesSet), {
  timeRange: '1h',
  granularity: '1m',
  from: '2026-01-01T11:00:00.000Z',
  to: '2026-01-01T12:00:00.000Z',
  series: [{
    name: 'toolLatency',
    labels: { server: 'filesystem', tool: 'read_file' },
    unit: 'ms',
    kind: 'histogram',
    points: [{ t: '2026-01-01T11:59:00.000Z', count: 42, value: 31.5, p50: 18.2, p95: 96, p99: 240, max: 412 }]
  }]
})

export const MonitoringStatus = Type.Object({
  system: Type.Object({
    uptime: Type.Integer({ description: 'Seconds since the hub process started' }),
    version: Type.String({ examples: ['0.1.0'] }),
    nodeVersion: Type.String({ examples: ['24.11.0'] })
  }),
  servers: Type.Object({
    total: Type.Integer(),
    ...Object.fromEntries(SERVER_STATES.map((state) => [state, Type.Integer()])) as Record<typeof SERVER_STATES[number], ReturnType<typeof Type.Integer>>
  }, { description: 'The servers the caller may read, by state' }),
  performance: Type.Object({
    requestsPerMinute: Type.Number({ description: 'Over the current minute and the four before it' }),
    avgResponseTime: Type.String({ examples: ['245ms'] }),
    errorRate: Type.String({ examples: ['0.3%'] })
  }, { description: 'Admins: the hub\'s HTTP requests (errors: 5xx answers); users: the tool calls of the servers they may read (errors: failed calls)' })
}, { $id: 'MonitoringStatus' })

export const MonitoringStatusEnvelope = Envelope('MonitoringStatusEnvelope', Ref(MonitoringStatus), {
  system: { uptime: 86_400, version: '0.1.0', nodeVersion: '24.11.0' },
  servers: { total: 12, running: 10, stopped: 1, error: 1, starting: 0, stopping: 0, backoff: 0 },
  performance: { requestsPerMinute: 85, avgResponseTime: '245ms', errorRate: '0.3%' }
})

/** The named schemas of the monitoring API (ActivityEvent is registered with the bus's schemas). */
export const SCHEMAS = [ActivityPage, MetricSeries, MetricSeriesSet, MetricSeriesEnvelope, MonitoringStatus, MonitoringStatusEnvelope]

export const HUB_LOG_EXAMPLE = {
  id: '48213',
  time: '2026-01-01T12:00:00.000Z',
  level: 'info' as const,
  source: 'auth',
  message: 'sign-in failed',
  fields: { reqId: 'req-2f', username: 'ada' }
}

const SOURCE_PATTERN = `^(${HUB_LOG_SOURCES.join('|')})$|^server:${SERVER_KEY_PATTERN.slice(1)}`

export const HubLogQuery = Type.Object({
  level: Type.Optional(Type.Enum(HUB_LOG_LEVELS, { description: 'The lowest level returned' })),
  source: Type.Optional(Type.String({
    pattern: SOURCE_PATTERN,
    description: `Only the hub's entries from this source (${HUB_LOG_SOURCES.map((name) => `\`${name}\``).join(', ')}), or \`server:<key>\` for that server's captured lines (404 for an unknown key). Without it: every source of the hub's own entries, not servers' lines`
  })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LOG_LIMIT, default: DEFAULT_LOG_LIMIT, description: 'Entries per page' })),
  since: Type.Optional(DateOrDateTime('Entries at or after this instant (a date means its midnight UTC)')),
  until: Type.Optional(DateOrDateTime('Entries before this instant')),
  cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'The `nextCursor` of the previous page, with the same other parameters' }))
}, { additionalProperties: false })

export const HubLogEntry = Type.Object({
  id: Type.String({ description: 'Opaque; unique within the hub\'s entries, or within a server\'s lines' }),
  time: Timestamp,
  level: Type.Enum(HUB_LOG_LEVELS, { description: 'pino\'s level; a server line\'s own (MCP) level is in `fields.level`' }),
  source: Type.String({ description: 'Where the entry comes from, or `server:<key>`' }),
  message: Type.String({ description: 'At most 8 KiB; a longer one is cut and says so' }),
  fields: Nullable(Type.Record(Type.String(), Type.Unknown(), {
    description: 'The entry\'s other fields (request id, status, server id, error…), redacted; for a server\'s line `{ serverId, level, source }` (stderr, mcp or supervisor)'
  }))
}, { $id: 'HubLogEntry' })

export const CursorPagination = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: MAX_LOG_LIMIT }),
  hasNext: Type.Boolean(),
  nextCursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next (older) page; null on the last page' }))
}, { $id: 'CursorPagination' })

export const HubLogPage = Envelope('HubLogPage', Type.Object({
  items: Type.Array(Ref(HubLogEntry)),
  pagination: Ref(CursorPagination)
}), { items: [HUB_LOG_EXAMPLE], pagination: { limit: 100, hasNext: true, nextCursor: 'MTc2NzI2ODgwMDAwMDo0ODIxMw' } })

/** The named schemas of `GET /api/monitoring/logs` (registered by its route plugin). */
export const LOG_SCHEMAS = [HubLogEntry, CursorPagination, HubLogPage]
