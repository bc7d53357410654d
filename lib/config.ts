import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import ipaddr from 'ipaddr.js'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { MAX_PASSWORD_LENGTH } from './passwords.ts'

/** Open `/ws` sockets per user unless MCPHUB_WS_MAX_SOCKETS_PER_USER says otherwise. */
export const WS_MAX_SOCKETS_PER_USER = 16

const LogLevel = Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/** The environment variables MCPHub reads, with their defaults. Nothing else reads process.env. */
export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  // libpq's names, read when DATABASE_URL is unset: a password needs no URL encoding there.
  PGHOST: Type.Optional(Type.String({ minLength: 1 })),
  PGPORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  PGUSER: Type.Optional(Type.String({ minLength: 1 })),
  PGPASSWORD: Type.Optional(Type.String()),
  // pg decodes the URL's path with decodeURI, which leaves these characters encoded.
  PGDATABASE: Type.Optional(Type.String({ pattern: '^[^;/?:@&=+$,#]+$' })),
  MCPHUB_DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  MCPHUB_JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  MCPHUB_ADMIN_USERNAME: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', default: 'admin' }),
  MCPHUB_ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 12, maxLength: MAX_PASSWORD_LENGTH })),
  LOG_LEVEL: Type.Optional(LogLevel),
  LOG_FORMAT: Type.Optional(Type.Enum(['pretty', 'json'])),
  MCPHUB_RATE_LIMIT_ANON: Type.Integer({ minimum: 0, default: 100 }),
  MCPHUB_RATE_LIMIT_USER: Type.Integer({ minimum: 0, default: 1000 }),
  MCPHUB_RATE_LIMIT_ADMIN: Type.Integer({ minimum: 0, default: 5000 }),
  MCPHUB_RATE_LIMIT_MCP: Type.Integer({ minimum: 0, default: 6000 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  MCPHUB_REDIS_PREFIX: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$', default: 'mcphub:' }),
  MCPHUB_SETTINGS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  MCPHUB_REQUEST_TIMEOUT: Type.Integer({ minimum: 1000, maximum: 600_000, default: 30_000 }),
  MCPHUB_DB_STATEMENT_TIMEOUT: Type.Integer({ minimum: 100, maximum: 600_000, default: 5000 }),
  MCPHUB_ACTIVITY_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 36_500, default: 90 }),
  MCPHUB_CHILD_ENV: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$' })),
  MCPHUB_ALLOWED_HOSTS: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]+(,[A-Za-z0-9.:\\[\\]-]+)*$' })),
  MCPHUB_WS_ALLOWED_ORIGINS: Type.Optional(Type.String({
    pattern: '^https?://[A-Za-z0-9.:\\[\\]-]+(,https?://[A-Za-z0-9.:\\[\\]-]+)*$',
    description: 'comma-separated browser origins, besides the hub\'s own, whose pages may open /ws'
  })),
  MCPHUB_WS_MAX_SOCKETS_PER_USER: Type.Integer({ minimum: 1, maximum: 10_000, default: WS_MAX_SOCKETS_PER_USER, description: '/ws sockets one user may have open at once' }),
  MCPHUB_METRICS: Type.Enum(['on', 'off'], { default: 'on' }),
  MCPHUB_METRICS_TOKEN: Type.Optional(Type.String({ minLength: 32, maxLength: 1024, pattern: '^[\\x21-\\x7e]+$' })),
  MCPHUB_METRICS_RETENTION_1M_DAYS: Type.Integer({ minimum: 1, maximum: 90, default: 7 }),
  MCPHUB_METRICS_RETENTION_1H_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 90 }),
  MCPHUB_METRICS_RETENTION_1D_DAYS: Type.Integer({ minimum: 1, maximum: 36_500, default: 730 }),
  MCPHUB_LOG_STORE_LEVEL: Type.Optional(LogLevel),
  MCPHUB_LOG_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 14 }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  OTEL_SERVICE_NAME: Type.String({ minLength: 1, maxLength: 200, default: 'mcphub' }),
  MCPHUB_PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'the URL people open the hub at, for links in notifications' })),
  MCPHUB_EGRESS_ALLOW: Type.Optional(Type.String({ pattern: '^[^,\\s]+(,[^,\\s]+)*$', description: 'comma-separated host names and CIDRs the hub may connect to although they are private (loopback, LAN, link-local…)' })),
  MCPHUB_SMTP_HOST: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  MCPHUB_SMTP_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  MCPHUB_SMTP_SECURE: Type.Optional(Type.Enum(['true', 'false'])),
  MCPHUB_SMTP_USER: Type.Optional(Type.String({ maxLength: 320 })),
  MCPHUB_SMTP_PASS: Type.Optional(Type.String({ maxLength: 2048 })),
  MCPHUB_SMTP_FROM: Type.Optional(Type.String({ maxLength: 320 })),
  MCPHUB_NOTIFY_EMAIL_TO: Type.Optional(Type.String({ pattern: '^[^,\\s]+(,[^,\\s]+)*$', description: 'comma-separated addresses alerts are emailed to; turns email notifications on' })),
  MCPHUB_SLACK_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
  MCPHUB_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
  MCPHUB_WEBHOOK_SECRET: Type.Optional(Type.String({ pattern: '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$', description: 'a Standard Webhooks secret: whsec_ and base64 of 24 to 64 bytes' }))
})

export type Env = Static<typeof EnvSchema>

export interface Config {
  port: number
  host: string
  /** PostgreSQL URL (DATABASE_URL, or built from PG*); undefined selects the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined
  dataDir: string
  jwtSecret: string
  adminUsername: string
  /** Password for the first admin; undefined means one is generated and printed once. */
  adminPassword: string | undefined
  logLevel: Static<typeof LogLevel>
  /** How log lines are written; undefined means human-readable on a terminal, JSON otherwise. */
  logFormat?: 'pretty' | 'json' | undefined
  /** Requests per minute per tier; 0 turns that tier's limit off. */
  rateLimits: RateLimits
  /** Redis for rate-limit counters and sign-in throttling shared by several hubs; in memory when undefined. */
  redisUrl: string | undefined
  /** Put before every Redis key, so that several deployments can share one Redis. */
  redisKeyPrefix: string
  /** A `{ "mcpServers": {...} }` file whose servers are imported at start (existing names kept). */
  settingsFile: string | undefined
  /** What every MCP server process starts from: a few harmless variables of the hub's and those of MCPHUB_CHILD_ENV, nothing else. */
  childBaseEnv: Record<string, string>
  /**
   * Host names the MCP endpoints answer to (DNS rebinding protection); undefined means any,
   * which is only the default when the hub listens beyond loopback.
   */
  allowedHosts: string[] | undefined
  /** Days the activity trail (the audit log) keeps its entries. */
  activityRetentionDays: number
  /** ms a client has to send a request's headers and body (not the response: streams stay open). */
  requestTimeoutMs: number
  /** ms any one database statement may take (PostgreSQL) before it is cancelled and answered 503. */
  statementTimeoutMs: number
  /** Browser origins, besides the hub's own, whose pages may open `/ws` (`scheme://host[:port]`); none when undefined. */
  wsAllowedOrigins?: string[] | undefined
  /** Most `/ws` sockets one user may have open at once; WS_MAX_SOCKETS_PER_USER when undefined. */
  wsMaxSocketsPerUser?: number | undefined
  /** Whether the hub records its metrics (history, `/metrics`); true unless MCPHUB_METRICS=off. */
  metricsEnabled?: boolean | undefined
  /** A bearer token that may read `/metrics` (a Prometheus scraper), besides admins. */
  metricsToken?: string | undefined
  /** Days each resolution of the metrics history is kept. */
  metricsRetentionDays?: MetricsRetention | undefined
  /** The lowest level of the hub's own log entries kept in the database; LOG_LEVEL's when undefined. */
  logStoreLevel?: Static<typeof LogLevel> | undefined
  /** Days the stored hub log keeps its entries. */
  logRetentionDays?: number | undefined
  /** OTLP/HTTP endpoint traces are exported to; no tracing when undefined. */
  otlpEndpoint?: string | undefined
  /** The `service.name` of exported traces. */
  otelServiceName?: string | undefined
  /** The URL people open the hub at (links in notifications); none when undefined. */
  publicUrl?: string | undefined
  /** Host names and CIDRs the egress guard lets the hub reach although they are private. */
  egressAllow?: string[] | undefined
  /** Settings of `/api/config` given by the environment, used until an admin stores that section. */
  settingsPreset?: SettingsPreset | undefined
}

/** The MCPHUB_SMTP_*, MCPHUB_NOTIFY_EMAIL_TO, MCPHUB_SLACK_WEBHOOK_URL and MCPHUB_WEBHOOK_* presets, as `/api/config` fields. */
export interface SettingsPreset {
  smtp?: { host?: string, port?: number, secure?: boolean, auth?: { user?: string, pass?: string }, from?: string }
  notifications?: { email?: boolean, emailTo?: string[], slack?: boolean, slackWebhookUrl?: string, webhook?: string, webhookSecret?: string }
}

export interface MetricsRetention {
  '1m': number
  '1h': number
  '1d': number
}

export const DEFAULT_METRICS_RETENTION: MetricsRetention = { '1m': 7, '1h': 90, '1d': 730 }

export interface RateLimits {
  anonymous: number
  user: number
  admin: number
  /** MCP requests per minute per user, a budget of its own. */
  mcp: number
}

/** Secrets that appear in examples and tutorials: never accepted, whatever their length. */
const KNOWN_EXAMPLE_SECRETS = new Set([
  'your-super-secret-jwt-key-change-in-production',
  'your-secret-key-change-this-in-production',
  'change-this-to-a-long-random-secret-value',
  'please-change-me-to-a-random-string-of-32-chars'
])

export class ConfigError extends Error {
  readonly problems: string[]

  constructor (problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const ENV_KEYS = Object.keys(EnvSchema.properties) as Array<keyof Env>

function describe (error: { instancePath: string, message: string, params: unknown }, input: Record<string, unknown>): string {
  const name = error.instancePath.slice(1)
  const shown = /SECRET|PASS|TOKEN|SLACK_WEBHOOK/.test(name) ? '(hidden)' : JSON.stringify(input[name])
  const params = error.params as { allowedValues?: unknown[], limit?: number, pattern?: string }
  const rule = params.allowedValues
    ? `must be one of ${params.allowedValues.join(', ')}`
    : error.message
  return `${name}: ${rule}, got ${shown}`
}

/** Parses and validates the environment: one error line per bad variable. */
export function parseEnv (env: Record<string, string | undefined>): Env {
  const input: Record<string, unknown> = {}
  for (const key of ENV_KEYS) {
    const value = env[key]
    if (value !== undefined && value !== '') input[key] = value
  }
  const converted = Value.Convert(EnvSchema, Value.Default(EnvSchema, input))
  const problems = new Map<string, string>()
  for (const error of Value.Errors(EnvSchema, converted)) {
    if (!problems.has(error.instancePath)) problems.set(error.instancePath, describe(error, input))
  }
  const passed = typeof input.MCPHUB_CHILD_ENV === 'string' ? input.MCPHUB_CHILD_ENV.split(',') : []
  const refused = passed.filter(hubOwnVariable)
  if (refused.length > 0) {
    problems.set('/MCPHUB_CHILD_ENV', `MCPHUB_CHILD_ENV: ${refused.join(', ')} ${refused.length === 1 ? 'is' : 'are'} the hub's own configuration or secret and never passed to servers; give a server its secrets in its own env`)
  }
  const origins = typeof input.MCPHUB_WS_ALLOWED_ORIGINS === 'string' && !problems.has('/MCPHUB_WS_ALLOWED_ORIGINS') ? input.MCPHUB_WS_ALLOWED_ORIGINS.split(',') : []
  const notOrigins = origins.filter((origin) => !URL.canParse(origin))
  if (notOrigins.length > 0) {
    problems.set('/MCPHUB_WS_ALLOWED_ORIGINS', `MCPHUB_WS_ALLOWED_ORIGINS: ${notOrigins.join(', ')} ${notOrigins.length === 1 ? 'is not an origin' : 'are not origins'} (scheme://host[:port])`)
  }
  const allowed = typeof input.MCPHUB_EGRESS_ALLOW === 'string' && !problems.has('/MCPHUB_EGRESS_ALLOW') ? input.MCPHUB_EGRESS_ALLOW.split(',') : []
  const badRanges = allowed.filter((entry) => entry.includes('/') && !ipaddr.isValidCIDR(entry))
  if (badRanges.length > 0) {
    problems.set('/MCPHUB_EGRESS_ALLOW', `MCPHUB_EGRESS_ALLOW: ${badRanges.join(', ')} ${badRanges.length === 1 ? 'is not a CIDR' : 'are not CIDRs'} (10.0.0.0/8, fd00::/8)`)
  }
  if (input.MCPHUB_WEBHOOK_URL !== undefined && input.MCPHUB_WEBHOOK_SECRET === undefined) {
    problems.set('/MCPHUB_WEBHOOK_SECRET', 'MCPHUB_WEBHOOK_SECRET: is required with MCPHUB_WEBHOOK_URL, to sign what it receives; generate one with `echo whsec_$(openssl rand -base64 32)`')
  }
  const secret = input.MCPHUB_JWT_SECRET
  if (typeof secret === 'string' && KNOWN_EXAMPLE_SECRETS.has(secret)) {
    problems.set('/MCPHUB_JWT_SECRET', 'MCPHUB_JWT_SECRET: is a published example value; generate one with `openssl rand -base64 48`')
  }
  if (problems.size > 0) throw new ConfigError([...problems.values()])
  return converted as Env
}

/** Reads the JWT secret kept in the data dir, creating it (mode 0600) on first use. */
function persistedJwtSecret (dataDir: string): string {
  const file = join(dataDir, 'jwt-secret')
  try {
    const stored = readFileSync(file, 'utf8').trim()
    if (stored.length >= 32) return stored
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const secret = randomBytes(48).toString('base64url')
  writeFileSync(file, secret + '\n', { mode: 0o600 })
  return secret
}

/**
 * The PostgreSQL URL of the PG* variables, each part percent-encoded so that any password
 * (`@ : / #` included) survives; undefined without PGHOST. Unset parts keep pg's defaults.
 */
function postgresUrlOf (env: Env): string | undefined {
  if (env.PGHOST === undefined) return undefined
  const host = env.PGHOST.includes(':') ? `[${env.PGHOST}]` : encodeURIComponent(env.PGHOST)
  const password = env.PGPASSWORD === undefined ? '' : `:${encodeURIComponent(env.PGPASSWORD)}`
  const credentials = env.PGUSER === undefined && password === '' ? '' : `${encodeURIComponent(env.PGUSER ?? '')}${password}@`
  const port = env.PGPORT === undefined ? '' : `:${env.PGPORT}`
  const database = env.PGDATABASE === undefined ? '' : encodeURIComponent(env.PGDATABASE)
  return `postgres://${credentials}${host}${port}/${database}`
}

/** Builds the hub's configuration from the environment (process.env unless given). */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  const parsed = parseEnv(env)
  const dataDir = resolve(parsed.MCPHUB_DATA_DIR)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  return {
    port: parsed.PORT,
    host: parsed.HOST,
    databaseUrl: parsed.DATABASE_URL ?? postgresUrlOf(parsed),
    dataDir,
    jwtSecret: parsed.MCPHUB_JWT_SECRET ?? persistedJwtSecret(dataDir),
    adminUsername: parsed.MCPHUB_ADMIN_USERNAME,
    adminPassword: parsed.MCPHUB_ADMIN_PASSWORD,
    logLevel: parsed.LOG_LEVEL ?? 'info',
    logFormat: parsed.LOG_FORMAT,
    rateLimits: { anonymous: parsed.MCPHUB_RATE_LIMIT_ANON, user: parsed.MCPHUB_RATE_LIMIT_USER, admin: parsed.MCPHUB_RATE_LIMIT_ADMIN, mcp: parsed.MCPHUB_RATE_LIMIT_MCP },
    redisUrl: parsed.REDIS_URL,
    redisKeyPrefix: parsed.MCPHUB_REDIS_PREFIX,
    settingsFile: parsed.MCPHUB_SETTINGS_FILE,
    childBaseEnv: childBaseEnv(env, parsed.MCPHUB_CHILD_ENV?.split(',') ?? DEFAULT_CHILD_ENV),
    allowedHosts: parsed.MCPHUB_ALLOWED_HOSTS?.split(',') ?? (isWideBind(parsed.HOST) ? undefined : ['localhost', '127.0.0.1', '[::1]']),
    activityRetentionDays: parsed.MCPHUB_ACTIVITY_RETENTION_DAYS,
    requestTimeoutMs: parsed.MCPHUB_REQUEST_TIMEOUT,
    statementTimeoutMs: parsed.MCPHUB_DB_STATEMENT_TIMEOUT,
    wsAllowedOrigins: parsed.MCPHUB_WS_ALLOWED_ORIGINS?.split(',').map((origin) => new URL(origin).origin) ?? [],
    wsMaxSocketsPerUser: parsed.MCPHUB_WS_MAX_SOCKETS_PER_USER,
    metricsEnabled: parsed.MCPHUB_METRICS === 'on',
    metricsToken: parsed.MCPHUB_METRICS_TOKEN,
    metricsRetentionDays: { '1m': parsed.MCPHUB_METRICS_RETENTION_1M_DAYS, '1h': parsed.MCPHUB_METRICS_RETENTION_1H_DAYS, '1d': parsed.MCPHUB_METRICS_RETENTION_1D_DAYS },
    logStoreLevel: parsed.MCPHUB_LOG_STORE_LEVEL,
    logRetentionDays: parsed.MCPHUB_LOG_RETENTION_DAYS,
    otlpEndpoint: parsed.OTEL_EXPORTER_OTLP_ENDPOINT,
    otelServiceName: parsed.OTEL_SERVICE_NAME,
    publicUrl: parsed.MCPHUB_PUBLIC_URL,
    egressAllow: parsed.MCPHUB_EGRESS_ALLOW?.split(',') ?? [],
    settingsPreset: settingsPresetOf(parsed)
  }
}

function settingsPresetOf (env: Env): SettingsPreset {
  const smtp = {
    ...(env.MCPHUB_SMTP_HOST === undefined ? {} : { host: env.MCPHUB_SMTP_HOST }),
    ...(env.MCPHUB_SMTP_PORT === undefined ? {} : { port: env.MCPHUB_SMTP_PORT }),
    ...(env.MCPHUB_SMTP_SECURE === undefined ? {} : { secure: env.MCPHUB_SMTP_SECURE === 'true' }),
    ...(env.MCPHUB_SMTP_USER === undefined && env.MCPHUB_SMTP_PASS === undefined
      ? {}
      : { auth: { ...(env.MCPHUB_SMTP_USER === undefined ? {} : { user: env.MCPHUB_SMTP_USER }), ...(env.MCPHUB_SMTP_PASS === undefined ? {} : { pass: env.MCPHUB_SMTP_PASS }) } }),
    ...(env.MCPHUB_SMTP_FROM === undefined ? {} : { from: env.MCPHUB_SMTP_FROM })
  }
  const notifications = {
    ...(env.MCPHUB_NOTIFY_EMAIL_TO === undefined ? {} : { email: true, emailTo: env.MCPHUB_NOTIFY_EMAIL_TO.split(',') }),
    ...(env.MCPHUB_SLACK_WEBHOOK_URL === undefined ? {} : { slack: true, slackWebhookUrl: env.MCPHUB_SLACK_WEBHOOK_URL }),
    ...(env.MCPHUB_WEBHOOK_URL === undefined ? {} : { webhook: env.MCPHUB_WEBHOOK_URL }),
    ...(env.MCPHUB_WEBHOOK_SECRET === undefined ? {} : { webhookSecret: env.MCPHUB_WEBHOOK_SECRET })
  }
  return {
    ...(Object.keys(smtp).length === 0 ? {} : { smtp }),
    ...(Object.keys(notifications).length === 0 ? {} : { notifications })
  }
}

/** The variables a child inherits from the hub: locale, paths, identity. Never secrets. */
const CHILD_BASE_KEYS = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'LOGNAME']

/** What MCPHUB_CHILD_ENV passes when unset: what network access (npx, uvx) needs behind a proxy or a private CA. */
export const DEFAULT_CHILD_ENV = [
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy',
  'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR'
]

/**
 * The hub's own configuration and secrets, never passed to a child whatever MCPHUB_CHILD_ENV
 * says: DATABASE_URL, REDIS_URL, every MCPHUB_* and PG* variable, and any name that says it holds
 * a secret (SECRET, PASSWORD, PASSWD, TOKEN, KEY, CREDENTIAL), whatever its case.
 */
export function hubOwnVariable (name: string): boolean {
  const upper = name.toUpperCase()
  return upper === 'DATABASE_URL' || upper === 'REDIS_URL' || upper.startsWith('MCPHUB_') || upper.startsWith('PG') ||
    /SECRET|PASSWORD|PASSWD|TOKEN|KEY|CREDENTIAL/.test(upper)
}

/** The base keys, and the `passed` variables that are set (never the hub's own). */
export function childBaseEnv (env: Record<string, string | undefined>, passed: string[] = DEFAULT_CHILD_ENV): Record<string, string> {
  const base: Record<string, string> = {}
  for (const key of [...CHILD_BASE_KEYS, ...passed.filter((name) => !hubOwnVariable(name))]) {
    const value = env[key]
    if (value !== undefined) base[key] = value
  }
  return base
}

/** True when the hub listens on more than the loopback interface. */
export function isWideBind (host: string): boolean {
  return !['127.0.0.1', '::1', 'localhost'].includes(host)
}
