import type { ServerOptions } from 'node:http'
import type { Writable } from 'node:stream'
import Fastify, { type FastifyServerOptions } from 'fastify'
import pino from 'pino'
import pinoPretty from 'pino-pretty'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { openDatabase, type DatabaseHandle } from './db/client.ts'
import gateway from './gateway/index.ts'
import type { Config } from './lib/config.ts'
import { HubLog } from './logs/hub-log.ts'
import { serializeError, serializeRequest } from './lib/log-serializers.ts'
import type { RetryPolicy } from './notifications/outbox.ts'
import type { SupervisorPolicy } from './supervisor/managed-server.ts'
import type { AlertTimings } from './alerts/engine.ts'
import access from './plugins/access.ts'
import alerts from './plugins/alerts.ts'
import activity from './plugins/activity.ts'
import auth from './plugins/auth.ts'
import dashboard, { DASHBOARD_DIST } from './plugins/dashboard.ts'
import db from './plugins/db.ts'
import egress from './plugins/egress.ts'
import events from './plugins/events.ts'
import errors, { clientErrorHandler, frameworkErrors } from './plugins/errors.ts'
import firstAdmin from './plugins/first-admin.ts'
import gracefulClose from './plugins/graceful-close.ts'
import hubLogStore, { requestLogsFrom } from './plugins/hub-log.ts'
import metrics from './plugins/metrics.ts'
import notifications from './plugins/notifications.ts'
import metricHistory from './plugins/metric-history.ts'
import swagger from './plugins/swagger.ts'
import telemetry from './plugins/telemetry.ts'
import { buildSerializer } from './plugins/serialization.ts'
import { buildValidator } from './plugins/validation.ts'
import rateLimit from './plugins/rate-limit.ts'
import settings from './plugins/settings.ts'
import redis from './plugins/redis.ts'
import supervisor from './plugins/supervisor.ts'
import authRoutes from './routes/auth/index.ts'
import configRoutes from './routes/config/index.ts'
import notificationRoutes from './routes/config/notifications.ts'
import groupRoutes from './routes/groups/index.ts'
import health from './routes/health/index.ts'
import monitoringRoutes from './routes/monitoring/index.ts'
import prometheusRoutes from './routes/prometheus/index.ts'
import serverRoutes from './routes/servers/index.ts'
import userRoutes from './routes/users/index.ts'
import ws, { type WsLimits } from './ws/index.ts'

export interface AppOptions {
  config: Config
  /** An already opened database (tests); otherwise opened from `config`. */
  database?: DatabaseHandle
  /** Where logs go (tests capture them); stdout by default. */
  logStream?: Writable
  /** Shows the generated first-admin password once; stdout by default. */
  print?: (text: string) => void
  /** The clock for TOTP, sessions and login throttling (tests move it). */
  now?: () => number
  /** Supervisor timings (tests shorten backoff and timeouts). */
  supervisorPolicy?: Partial<SupervisorPolicy>
  /** `/ws` bounds and timings (tests shorten them). */
  wsLimits?: Partial<WsLimits>
  /** ms between samples of the gauges (tests shorten it); 5000 by default. */
  metricsSampleMs?: number
  /** The alert engine's evaluation interval, "stable" time and clock (tests shorten and move them). */
  alertTimings?: Partial<AlertTimings> & { now?: () => number }
  /** How notifications are retried (tests shorten it). */
  notificationRetry?: Partial<RetryPolicy>
  /** The built dashboard served at `/`; dashboard/dist by default. */
  dashboardDir?: string
}

/** Secrets pino must never write, wherever they appear in a logged object. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  '*.authorization',
  '*["x-api-key"]',
  '*.cookie',
  '*.password',
  '*.newPassword',
  '*.oldPassword',
  '*.token',
  '*.refreshToken',
  '*.apiKey',
  '*.secret',
  '*.mfaCode',
  '*.pass',
  '*.slackWebhookUrl',
  '*.webhookSecret',
  'password',
  'token',
  'refreshToken',
  'apiKey',
  'secret'
]

/**
 * Pino's options: JSON lines, or human-readable ones when `LOG_FORMAT=pretty` or, unset, when
 * stdout is a terminal; and the entries at or above the store level, as JSON whatever the
 * format, to `hubLog`. Redaction happens before both, so they hide the same secrets.
 */
export function loggerOptions (config: Config, stream?: Writable, hubLog?: HubLog): FastifyServerOptions['logger'] {
  const pretty = config.logFormat === 'pretty' || (config.logFormat === undefined && stream === undefined && process.stdout.isTTY)
  const destination = pretty
    ? pinoPretty({ destination: stream ?? 1, sync: true, colorize: stream === undefined && process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : stream ?? pino.destination({ dest: 1, sync: false })
  // Each destination gets the entries at or above its own level; nothing below both is even formatted.
  const destinations = [{ level: config.logLevel, stream: destination }, ...(hubLog === undefined ? [] : [{ level: hubLog.level, stream: hubLog.stream }])]
    .filter((entry) => entry.level !== 'silent')
  const lowest = destinations.map((entry) => entry.level).sort((a, b) => pino.levels.values[a]! - pino.levels.values[b]!)[0]
  return {
    level: lowest ?? 'silent',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // Database errors without their parameters and rows; URLs without credentials in the query.
    serializers: { err: serializeError, req: serializeRequest },
    stream: pino.multistream(destinations)
  }
}

/**
 * Bounds on receiving a request (headers, then the whole body), checked every second at most:
 * a client dripping its body is cut off with a 408. Responses are not bounded here, so MCP and
 * log-follow streams stay open as long as they need.
 */
export function receiveTimeouts (requestTimeoutMs: number): { requestTimeout: number, http: ServerOptions } {
  const headersTimeout = Math.min(requestTimeoutMs, 10_000)
  return {
    requestTimeout: requestTimeoutMs,
    http: { requestTimeout: requestTimeoutMs, headersTimeout, connectionsCheckingInterval: Math.min(1000, headersTimeout / 4) }
  }
}

/** How long one plugin may take to start before the hub gives up starting. */
const PLUGIN_START_TIMEOUT_MS = 120_000

/** Composes the hub. The one place that knows the plugin order. */
export async function buildApp (options: AppOptions) {
  const { config } = options
  // Holds what is logged from the start; written once the database is open.
  const hubLog = new HubLog(config.logStoreLevel ?? config.logLevel)
  const app = Fastify({
    logger: loggerOptions(config, options.logStream, hubLog),
    childLoggerFactory: requestLogsFrom(),
    bodyLimit: 1024 * 1024,
    // graceful-close answers 503 in the envelope instead.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Starting plugins wait on the database (migrations, the first admin's argon2 hash, another
    // hub migrating the same database): on a loaded machine that can outlast Fastify's 10 s.
    pluginTimeout: PLUGIN_START_TIMEOUT_MS,
    ...receiveTimeouts(config.requestTimeoutMs),
    clientErrorHandler,
    frameworkErrors,
    schemaController: { compilersFactory: { buildValidator, buildSerializer } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  if (config.otlpEndpoint !== undefined) await app.register(telemetry, { endpoint: config.otlpEndpoint, serviceName: config.otelServiceName ?? 'mcphub', now: options.now ?? Date.now })
  await app.register(gracefulClose)
  await app.register(access)
  await app.register(swagger)
  const database = options.database ?? await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log: app.log.child({ source: 'database' }), statementTimeoutMs: config.statementTimeoutMs })
  await app.register(db, { database })
  const now = options.now ?? Date.now
  await app.register(hubLogStore, { hubLog, retentionDays: config.logRetentionDays ?? 14, now })
  await app.register(firstAdmin, {
    username: config.adminUsername,
    password: config.adminPassword,
    print: options.print ?? ((text) => process.stdout.write(text + '\n'))
  })

  await app.register(redis, { url: config.redisUrl, keyPrefix: config.redisKeyPrefix, now })
  await app.register(auth, { jwtSecret: config.jwtSecret, now, failedCredentialsPerMinute: config.rateLimits.anonymous, metricsToken: config.metricsToken })
  await app.register(settings, { preset: config.settingsPreset })
  await app.register(rateLimit, { limits: config.rateLimits })
  await app.register(errors)
  await app.register(egress, { allow: config.egressAllow ?? [] })
  await app.register(events)
  await app.register(notifications, { publicUrl: config.publicUrl ?? null, now, ...(options.notificationRetry === undefined ? {} : { retry: options.notificationRetry }) })
  await app.register(metrics, { enabled: config.metricsEnabled ?? true, now, ...(options.metricsSampleMs === undefined ? {} : { sampleMs: options.metricsSampleMs }) })
  await app.register(metricHistory, { retention: config.metricsRetentionDays, now })
  await app.register(activity, { retentionDays: config.activityRetentionDays, now })
  await app.register(supervisor, { dataDir: config.dataDir, baseEnv: config.childBaseEnv, settingsFile: config.settingsFile, ...(options.supervisorPolicy === undefined ? {} : { policy: options.supervisorPolicy }) })
  await app.register(alerts, { now: options.alertTimings?.now ?? now, timings: options.alertTimings })

  await app.register(async (api) => {
    // Any request that may change stored records (even one that fails half-way) makes what was derived from them stale.
    api.addHook('onSend', async (request) => {
      if (request.method !== 'GET' && request.method !== 'HEAD') app.records.bump()
    })
    await api.register(health)
    await api.register(authRoutes, { prefix: '/api/auth' })
    await api.register(userRoutes, { prefix: '/api/users' })
    await api.register(groupRoutes, { prefix: '/api/groups' })
    await api.register(serverRoutes, { prefix: '/api/servers' })
    await api.register(monitoringRoutes, { prefix: '/api/monitoring' })
    await api.register(configRoutes, { prefix: '/api/config' })
    await api.register(notificationRoutes, { prefix: '/api/config' })
    await api.register(prometheusRoutes, { token: config.metricsToken })
  })
  await app.register(gateway, { rateLimit: config.rateLimits.mcp, allowedHosts: config.allowedHosts })
  await app.register(ws, {
    allowedHosts: config.allowedHosts,
    allowedOrigins: config.wsAllowedOrigins ?? [],
    limits: { ...(config.wsMaxSocketsPerUser === undefined ? {} : { maxSocketsPerUser: config.wsMaxSocketsPerUser }), ...options.wsLimits }
  })
  await app.register(dashboard, { root: options.dashboardDir ?? DASHBOARD_DIST })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
