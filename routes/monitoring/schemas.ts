import { Type } from 'typebox'
import { ActivityEvent } from '../../events/schemas.ts'
import { PAGING } from '../../lib/list.ts'
import { DateOrDateTime, PageEnvelope, Ref } from '../../lib/schemas.ts'

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

/** The named schemas of the monitoring API (ActivityEvent is registered with the bus's schemas). */
export const SCHEMAS = [ActivityPage]
