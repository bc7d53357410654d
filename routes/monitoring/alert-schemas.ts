import { Type } from 'typebox'
import { AlertSeverity } from '../../events/schemas.ts'
import { PAGING } from '../../lib/list.ts'
import { Envelope, Nullable, PageEnvelope, Ref, Timestamp } from '../../lib/schemas.ts'
import { RULE_NAMES } from '../../alerts/rules.ts'

const AlertState = Type.Enum(['firing', 'resolved'])

export const Alert = Type.Object({
  id: Type.String({ format: 'uuid' }),
  fingerprint: Type.String({ description: 'The rule and its subject (`serverError:<serverId>`, `signInFailures`, `signInFailures:account:<username>`…): at most one alert per fingerprint fires' }),
  rule: Type.Enum(RULE_NAMES, { description: 'The rule of the settings (`alerts.<rule>`) that raised it' }),
  severity: AlertSeverity,
  state: AlertState,
  serverId: Nullable(Type.String({ format: 'uuid', description: 'The server it is about; null for hub-wide alerts (admins only)' })),
  message: Type.String({ description: 'What happened, in one line' }),
  details: Type.Record(Type.String(), Type.Unknown(), { description: 'The figures behind it: counts, rates, thresholds' }),
  firedAt: Timestamp,
  resolvedAt: Nullable(Timestamp),
  notifiedAt: Nullable(Type.String({ format: 'date-time', description: 'When notifications were last queued while it fired (repeats wait for `repeatIntervalMinutes`)' }))
}, { $id: 'Alert', description: 'An alert: a rule\'s condition that holds (`firing`) or held (`resolved`)' })

const ALERT_EXAMPLE = {
  id: '5d0c3f0e-8a4b-4c47-9c1e-2a9c6f3b7d10',
  fingerprint: 'serverError:9a7b3c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d',
  rule: 'serverError' as const,
  severity: 'critical' as const,
  state: 'firing' as const,
  serverId: '9a7b3c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d',
  message: 'filesystem is crash-looping: 5 restarts in 10 min',
  details: { state: 'backoff', restarts: 5, withinMinutes: 10, threshold: 5 },
  firedAt: '2026-01-01T12:00:00.000Z',
  resolvedAt: null,
  notifiedAt: '2026-01-01T12:00:00.000Z'
}

export const AlertPage = PageEnvelope('AlertPage', Ref(Alert), ALERT_EXAMPLE)

export const AlertDelivery = Type.Object({
  id: Type.String({ format: 'uuid' }),
  channel: Type.Enum(['email', 'slack', 'webhook']),
  kind: Type.Enum(['firing', 'resolved', 'test']),
  status: Type.Enum(['pending', 'delivered', 'failed'], { description: '`failed`: given up after the last attempt' }),
  createdAt: Timestamp,
  nextAttemptAt: Nullable(Type.String({ format: 'date-time', description: 'When it is tried next (pending only)' })),
  deliveredAt: Nullable(Timestamp),
  lastError: Nullable(Type.String()),
  attempts: Type.Array(Type.Object({
    attempt: Type.Integer({ minimum: 1 }),
    at: Timestamp,
    outcome: Type.Enum(['delivered', 'failed']),
    error: Nullable(Type.String({ description: 'In plain words: refused address, TLS, authentication, the HTTP status…' })),
    durationMs: Type.Integer({ minimum: 0 })
  }), { description: 'Each attempt, oldest first' })
}, { $id: 'AlertDelivery', description: 'One notification of an alert on one channel (`firing` or `resolved`) and its attempts' })

export const AlertDetail = Type.Object({
  ...Alert.properties,
  deliveries: Type.Array(Ref(AlertDelivery), { description: 'Its notifications, oldest first' })
}, { $id: 'AlertDetail' })

export const AlertDetailEnvelope = Envelope('AlertDetailEnvelope', Ref(AlertDetail))

export const AlertQuery = Type.Object({
  ...PAGING,
  state: Type.Optional(AlertState),
  severity: Type.Optional(AlertSeverity),
  serverId: Type.Optional(Type.String({ format: 'uuid', description: 'Only the alerts about this server' }))
}, { additionalProperties: false })

export const AlertParams = Type.Object({ alertId: Type.String({ format: 'uuid' }) })

export const SCHEMAS = [Alert, AlertPage, AlertDelivery, AlertDetail, AlertDetailEnvelope]
