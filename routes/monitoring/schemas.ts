import { Type } from 'typebox'
import { ActivityEvent } from '../../events/schemas.ts'
import { PAGING } from '../../lib/list.ts'
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

/** The named schemas of the monitoring API (ActivityEvent is registered with the bus's schemas). */
export const SCHEMAS = [ActivityPage]

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
