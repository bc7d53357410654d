import { sql } from 'drizzle-orm'
import { bigint, bigserial, boolean, check, doublePrecision, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core'

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()

export interface UserProfile {
  firstName?: string
  lastName?: string
  department?: string
}

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  username: text('username').notNull(),
  email: text('email'),
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['admin', 'user'] }).notNull().default('user'),
  profile: jsonb('profile').$type<UserProfile>().notNull().default({}),
  /** TOTP secret, encrypted; set once enrolment is confirmed. */
  mfaSecret: text('mfa_secret'),
  /** TOTP secret awaiting confirmation with a first code, encrypted. */
  mfaPendingSecret: text('mfa_pending_secret'),
  /** Last accepted TOTP time step: a code is never accepted twice. */
  mfaLastStep: bigint('mfa_last_step', { mode: 'number' }),
  createdAt: createdAt(),
  updatedAt: updatedAt()
}, (table) => [
  uniqueIndex('users_username_lower_key').on(sql`lower(${table.username})`),
  uniqueIndex('users_email_lower_key').on(sql`lower(${table.email})`),
  check('users_role_check', sql`${table.role} in ('admin', 'user')`)
])

export type UserRow = typeof users.$inferSelect

/** A login: its refresh tokens rotate, its access tokens carry its id. */
export const sessions = pgTable('sessions', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  createdAt: createdAt(),
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' })
}, (table) => [index('sessions_user_id_idx').on(table.userId)])

/** Refresh tokens, stored as SHA-256 only. A spent one presented again revokes its session. */
export const refreshTokens = pgTable('refresh_tokens', {
  id: uuid('id').primaryKey().defaultRandom(),
  sessionId: uuid('session_id').notNull().references(() => sessions.id, { onDelete: 'cascade' }),
  tokenHash: text('token_hash').notNull(),
  spentAt: timestamp('spent_at', { withTimezone: true, mode: 'date' }),
  createdAt: createdAt()
}, (table) => [
  uniqueIndex('refresh_tokens_token_hash_key').on(table.tokenHash),
  index('refresh_tokens_session_id_idx').on(table.sessionId)
])

/** Long-lived keys: a public prefix for lookup, the SHA-256 of the secret part. */
export const apiKeys = pgTable('api_keys', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  name: text('name').notNull(),
  prefix: text('prefix').notNull(),
  secretHash: text('secret_hash').notNull(),
  readOnly: boolean('read_only').notNull().default(false),
  createdAt: createdAt(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' })
}, (table) => [
  uniqueIndex('api_keys_prefix_key').on(table.prefix),
  index('api_keys_user_id_idx').on(table.userId)
])

export type ApiKeyRow = typeof apiKeys.$inferSelect

export type ServerAction = 'read' | 'write' | 'execute'
export type ToolAction = 'read' | 'execute'

export interface GroupPermissions {
  servers: ServerAction[]
  tools: ToolAction[]
}

export interface GroupSettings {
  autoAssign: boolean
  /** null: no limit. */
  maxMembers: number | null
  requireApproval: boolean
}

/** Groups form a tree through `parentId`; members of a group count as members of its ancestors. */
export const groups = pgTable('groups', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  displayName: text('display_name'),
  description: text('description'),
  parentId: uuid('parent_id').references((): AnyPgColumn => groups.id, { onDelete: 'restrict' }),
  permissions: jsonb('permissions').$type<GroupPermissions>().notNull().default({ servers: [], tools: [] }),
  settings: jsonb('settings').$type<GroupSettings>().notNull().default({ autoAssign: false, maxMembers: null, requireApproval: false }),
  createdAt: createdAt(),
  updatedAt: updatedAt()
}, (table) => [
  uniqueIndex('groups_name_key').on(table.name),
  index('groups_parent_id_idx').on(table.parentId)
])

export type GroupRow = typeof groups.$inferSelect

export const groupMembers = pgTable('group_members', {
  groupId: uuid('group_id').notNull().references(() => groups.id, { onDelete: 'cascade' }),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  role: text('role', { enum: ['member', 'admin'] }).notNull().default('member'),
  /** `pending` members (awaiting approval) get no access. */
  status: text('status', { enum: ['active', 'pending'] }).notNull().default('active'),
  /** Who added the member (null: the hub itself, or a user deleted since): they may not approve it. */
  addedBy: uuid('added_by').references(() => users.id, { onDelete: 'set null' }),
  createdAt: createdAt()
}, (table) => [
  primaryKey({ name: 'group_members_pkey', columns: [table.groupId, table.userId] }),
  index('group_members_user_id_idx').on(table.userId)
])

export type GroupMemberRow = typeof groupMembers.$inferSelect

/** A managed MCP server: the only thing processes are ever spawned from. `env` values are sealed. */
export const servers = pgTable('servers', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  /** Stable ASCII key: the server's path (`/mcp/servers/{key}`) and its tools' namespace. */
  key: text('key').notNull(),
  description: text('description'),
  /** How the hub reaches the server: `stdio` runs `command`; `streamable-http` and `sse` connect to `url`. */
  type: text('type', { enum: ['stdio', 'streamable-http', 'sse'] }).notNull().default('stdio'),
  /** The program of a stdio server; null for a remote one. */
  command: text('command'),
  args: jsonb('args').$type<string[]>().notNull().default([]),
  env: jsonb('env').$type<Record<string, string>>().notNull().default({}),
  cwd: text('cwd'),
  enabled: boolean('enabled').notNull().default(true),
  tags: jsonb('tags').$type<string[]>().notNull().default([]),
  /** How long a call through the gateway may take before it is cancelled upstream. */
  callTimeoutMs: integer('call_timeout_ms').notNull().default(60_000),
  /** How long a start may take; null: the default for its command (longer for package runners such as npx). */
  startTimeoutMs: integer('start_timeout_ms'),
  /** A remote server's URL; null for stdio. */
  url: text('url'),
  /** Headers sent to a remote server, values encrypted like env values. */
  headers: jsonb('headers').$type<Record<string, string>>().notNull().default({}),
  /** ms between pings of a remote server; null: the default. */
  keepAliveMs: integer('keep_alive_ms'),
  createdAt: createdAt(),
  updatedAt: updatedAt()
}, (table) => [
  uniqueIndex('servers_name_key').on(table.name),
  uniqueIndex('servers_key_key').on(table.key),
  // The list's other sort orders (with the id as tie-breaker): a page is read from the index, not a sort of every row.
  index('servers_created_at_idx').on(table.createdAt, table.id),
  index('servers_updated_at_idx').on(table.updatedAt, table.id),
  // A stdio server runs a command; a remote one connects to a URL: never both, never neither.
  check('servers_type_check', sql`(${table.type} = 'stdio' and ${table.command} is not null and ${table.url} is null)
    or (${table.type} in ('streamable-http', 'sse') and ${table.url} is not null and ${table.command} is null)`)
])

export type ServerRow = typeof servers.$inferSelect

/** A server assigned to a group with the permissions the assignment grants. */
export const groupServers = pgTable('group_servers', {
  groupId: uuid('group_id').notNull().references(() => groups.id, { onDelete: 'cascade' }),
  serverId: uuid('server_id').notNull().references(() => servers.id, { onDelete: 'cascade' }),
  permissions: jsonb('permissions').$type<ServerAction[]>().notNull(),
  createdAt: createdAt()
}, (table) => [
  primaryKey({ name: 'group_servers_pkey', columns: [table.groupId, table.serverId] }),
  index('group_servers_server_id_idx').on(table.serverId)
])

/** An admin's choice about one tool, prompt or resource (by URI) of a server: hidden, or redescribed. */
export const serverItemSettings = pgTable('server_item_settings', {
  serverId: uuid('server_id').notNull().references(() => servers.id, { onDelete: 'cascade' }),
  kind: text('kind', { enum: ['tool', 'prompt', 'resource'] }).notNull(),
  name: text('name').notNull(),
  enabled: boolean('enabled').notNull().default(true),
  /** Replaces a tool's description; null keeps the server's own. */
  description: text('description'),
  updatedAt: updatedAt()
}, (table) => [primaryKey({ name: 'server_item_settings_pkey', columns: [table.serverId, table.kind, table.name] })])

export type ServerItemSetting = typeof serverItemSettings.$inferSelect

/**
 * Every tool call through the gateway: who, which server and tool, how long, how it ended. An
 * account of what happened: the ids stay as recorded when the user or server is deleted later,
 * and no foreign key is checked on the hot insert path.
 */
export const toolCalls = pgTable('tool_calls', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  userId: uuid('user_id'),
  serverId: uuid('server_id'),
  tool: text('tool').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull(),
  durationMs: integer('duration_ms').notNull(),
  ok: boolean('ok').notNull(),
  error: text('error')
}, (table) => [index('tool_calls_started_at_idx').on(table.startedAt), index('tool_calls_server_id_idx').on(table.serverId)])

/** Captured log lines of a server (stderr, MCP log messages, supervisor events), kept for a while. */
export const serverLogs = pgTable('server_logs', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  serverId: uuid('server_id').notNull().references(() => servers.id, { onDelete: 'cascade' }),
  time: timestamp('time', { withTimezone: true, mode: 'date' }).notNull(),
  level: text('level').notNull(),
  source: text('source').notNull(),
  message: text('message').notNull()
}, (table) => [index('server_logs_server_time_idx').on(table.serverId, table.time)])

/**
 * The audit trail: who did what to which object, from where, and how it ended. An account of
 * what happened: no foreign keys (the history outlives deleted users and objects), names kept
 * as they were. Written in batches (plugins/activity.ts), pruned after the retention period.
 */
export const activity = pgTable('activity', {
  id: uuid('id').primaryKey(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
  /** `<object>.<verb>`: `auth.login`, `server.update`, `group.member.add`… */
  action: text('action').notNull(),
  outcome: text('outcome', { enum: ['success', 'failure'] }).notNull(),
  /** Why it failed: the error code, or what was detected (`bad-password`, `throttled`…). */
  reason: text('reason'),
  actorId: uuid('actor_id'),
  /** The actor's username; for a failed sign-in, the name that was tried. */
  actorName: text('actor_name'),
  targetType: text('target_type'),
  targetId: text('target_id'),
  targetName: text('target_name'),
  /** A second object involved: the member of a membership change, the server of an assignment. */
  relatedType: text('related_type'),
  relatedId: text('related_id'),
  relatedName: text('related_name'),
  /** The names of the fields sent (never their values). */
  fields: jsonb('fields').$type<string[]>(),
  ip: text('ip'),
  userAgent: text('user_agent')
}, (table) => [
  index('activity_at_idx').on(table.at),
  index('activity_actor_at_idx').on(table.actorId, table.at),
  index('activity_action_at_idx').on(table.action, table.at),
  // A user's own trail also holds what was done to their account.
  index('activity_target_at_idx').on(table.targetId, table.at),
  index('activity_related_at_idx').on(table.relatedId, table.at),
  check('activity_outcome_check', sql`${table.outcome} in ('success', 'failure')`)
])

export type ActivityRow = typeof activity.$inferSelect

/**
 * The hub's measurements over time (metrics/): one row per metric, series (its labels) and
 * bucket, at three resolutions: `1m` written once a minute, rolled up into `1h` and `1d`, each
 * kept for its own retention. A row summarises what was recorded in its bucket: how many
 * values (`n`), their sum, least and greatest, and for histograms the count per bucket bound.
 */
export const metricBuckets = pgTable('metric_buckets', {
  resolution: text('resolution', { enum: ['1m', '1h', '1d'] }).notNull(),
  bucketStart: timestamp('bucket_start', { withTimezone: true, mode: 'date' }).notNull(),
  name: text('name').notNull(),
  /** The labels as one canonical string (`server=fs,tool=read`): the series' identity. */
  series: text('series').notNull(),
  labels: jsonb('labels').$type<Record<string, string>>().notNull(),
  /** The server the series is about, for who may read it; null for hub-wide series. */
  serverId: uuid('server_id'),
  n: doublePrecision('n').notNull(),
  sum: doublePrecision('sum').notNull(),
  min: doublePrecision('min').notNull(),
  max: doublePrecision('max').notNull(),
  /** Histograms: values counted per bound of the metric's catalog entry (the last: above all bounds). */
  histogram: jsonb('histogram').$type<number[]>()
}, (table) => [
  primaryKey({ columns: [table.resolution, table.name, table.series, table.bucketStart] }),
  index('metric_buckets_resolution_start_idx').on(table.resolution, table.bucketStart),
  check('metric_buckets_resolution_check', sql`${table.resolution} in ('1m', '1h', '1d')`)
])

export type MetricBucketRow = typeof metricBuckets.$inferSelect

/**
 * The hub's own log (pino entries at or above the configured level), teed from the logger in
 * batches and kept for a retention period; servers' lines stay in `server_logs`.
 */
export const hubLogs = pgTable('hub_logs', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  time: timestamp('time', { withTimezone: true, mode: 'date' }).notNull(),
  level: text('level').notNull(),
  /** Where it came from: `http`, `auth`, `supervisor`, `gateway`, `database`, `hub`… */
  source: text('source').notNull(),
  message: text('message').notNull(),
  /** The entry's other fields (request id, route, status, error…), already redacted. */
  fields: jsonb('fields').$type<Record<string, unknown>>()
}, (table) => [
  index('hub_logs_time_idx').on(table.time),
  index('hub_logs_source_time_idx').on(table.source, table.time)
])

export type HubLogRow = typeof hubLogs.$inferSelect

/**
 * The settings an admin edits at `/api/config` (SMTP, notification channels, alert rules), one
 * row. Secrets inside `value` are sealed with the hub's SecretBox. `version` grows with every
 * change and is the `ETag`, so two admins do not overwrite each other.
 */
export const hubConfig = pgTable('hub_config', {
  id: integer('id').primaryKey().default(1),
  value: jsonb('value').$type<Record<string, unknown>>().notNull(),
  version: integer('version').notNull().default(1),
  updatedAt: updatedAt(),
  updatedBy: uuid('updated_by').references(() => users.id, { onDelete: 'set null' })
}, () => [
  check('hub_config_single_row_check', sql`id = 1`)
])

export type HubConfigRow = typeof hubConfig.$inferSelect

/**
 * An alert: a rule's condition that holds (`firing`) or held (`resolved`). `fingerprint` names
 * the condition (rule and subject, e.g. `server-error:<serverId>`); at most one alert per
 * fingerprint fires at a time.
 */
export const alerts = pgTable('alerts', {
  id: uuid('id').primaryKey().defaultRandom(),
  fingerprint: text('fingerprint').notNull(),
  rule: text('rule').notNull(),
  severity: text('severity', { enum: ['info', 'warning', 'critical'] }).notNull(),
  state: text('state', { enum: ['firing', 'resolved'] }).notNull().default('firing'),
  /** The server it is about, when it is about one: who may read it follows. */
  serverId: uuid('server_id').references((): AnyPgColumn => servers.id, { onDelete: 'set null' }),
  /** One line: what happened. */
  summary: text('summary').notNull(),
  /** The figures behind it (restarts counted, error rate, threshold…); never secrets. */
  details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  firedAt: timestamp('fired_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  resolvedAt: timestamp('resolved_at', { withTimezone: true, mode: 'date' }),
  /** When notifications were last queued for it while firing: repeats wait for the repeat interval. */
  notifiedAt: timestamp('notified_at', { withTimezone: true, mode: 'date' }),
  updatedAt: updatedAt()
}, (table) => [
  uniqueIndex('alerts_firing_fingerprint_key').on(table.fingerprint).where(sql`${table.state} = 'firing'`),
  index('alerts_state_fired_at_idx').on(table.state, table.firedAt),
  index('alerts_server_idx').on(table.serverId),
  check('alerts_state_check', sql`${table.state} in ('firing', 'resolved')`),
  check('alerts_severity_check', sql`${table.severity} in ('info', 'warning', 'critical')`)
])

export type AlertRow = typeof alerts.$inferSelect

/**
 * The outbox: one row per notification and channel, written before any attempt to send it,
 * then delivered by the worker with retries. What it says is rendered when it is queued; where
 * it goes (addresses, URLs, secrets) is read from `hub_config` when it is sent.
 */
export const notifications = pgTable('notifications', {
  id: uuid('id').primaryKey().defaultRandom(),
  alertId: uuid('alert_id').references(() => alerts.id, { onDelete: 'cascade' }),
  channel: text('channel', { enum: ['email', 'slack', 'webhook'] }).notNull(),
  /** `firing`, `resolved`, or `test`. */
  kind: text('kind', { enum: ['firing', 'resolved', 'test'] }).notNull(),
  /** The message as every channel renders it (subject, text, the webhook's JSON body). */
  payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
  status: text('status', { enum: ['pending', 'delivered', 'failed'] }).notNull().default('pending'),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  lastError: text('last_error'),
  createdAt: createdAt(),
  deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' })
}, (table) => [
  index('notifications_pending_idx').on(table.nextAttemptAt).where(sql`${table.status} = 'pending'`),
  index('notifications_alert_idx').on(table.alertId),
  check('notifications_channel_check', sql`${table.channel} in ('email', 'slack', 'webhook')`),
  check('notifications_kind_check', sql`${table.kind} in ('firing', 'resolved', 'test')`),
  check('notifications_status_check', sql`${table.status} in ('pending', 'delivered', 'failed')`)
])

export type NotificationRow = typeof notifications.$inferSelect

/** Each attempt to deliver a notification and its outcome, kept with it. */
export const notificationAttempts = pgTable('notification_attempts', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  notificationId: uuid('notification_id').notNull().references(() => notifications.id, { onDelete: 'cascade' }),
  attempt: integer('attempt').notNull(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  outcome: text('outcome', { enum: ['delivered', 'failed'] }).notNull(),
  /** In plain words: refused address, TLS, authentication, the HTTP status… Never a secret. */
  error: text('error'),
  durationMs: integer('duration_ms').notNull()
}, (table) => [
  index('notification_attempts_notification_idx').on(table.notificationId, table.attempt),
  check('notification_attempts_outcome_check', sql`${table.outcome} in ('delivered', 'failed')`)
])

export type NotificationAttemptRow = typeof notificationAttempts.$inferSelect

/** Unique constraints and the API field each protects, for 409 details. */
export const UNIQUE_FIELDS: Record<string, string> = {
  users_username_lower_key: 'username',
  users_email_lower_key: 'email',
  groups_name_key: 'name',
  servers_name_key: 'name',
  servers_key_key: 'key',
  group_members_pkey: 'userId',
  group_servers_pkey: 'serverId'
}
