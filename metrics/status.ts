import { inArray } from 'drizzle-orm'
import { isAdmin, readableServerIds, type Principal } from '../access/index.ts'
import type { Database } from '../db/client.ts'
import { servers } from '../db/schema.ts'
import packageJson from '../package.json' with { type: 'json' }
import { SERVER_STATES, type ServerState } from '../supervisor/managed-server.ts'
import type { MetricName } from './catalog.ts'
import { floorTo, MINUTE_MS } from './history.ts'
import { gatherBuckets } from './query.ts'
import type { MetricRecorder } from './recorder.ts'

/** Performance figures cover the current minute and the four before it. */
const WINDOW_MINUTES = 5

/** What performance is measured from: the hub's HTTP traffic for admins, the tool calls of their servers for users. */
const PERFORMANCE_METRICS = {
  hub: { calls: 'requests', latency: 'responseTime', errors: 'errors' },
  servers: { calls: 'toolCalls', latency: 'toolLatency', errors: 'toolErrors' }
} as const satisfies Record<string, { calls: MetricName, latency: MetricName, errors: MetricName }>

const oneDecimal = (value: number) => Math.round(value * 10) / 10

/** The servers the principal may read, counted by state (a stored server the supervisor does not run is stopped). */
async function serverCounts (db: Database, principal: Principal, stateOf: (id: string) => ServerState | undefined) {
  const readable = await readableServerIds(db, principal)
  const rows = readable?.length === 0
    ? []
    : await db.select({ id: servers.id }).from(servers).where(readable === undefined ? undefined : inArray(servers.id, readable))
  const counts = Object.fromEntries(SERVER_STATES.map((state) => [state, 0])) as Record<ServerState, number>
  for (const row of rows) counts[stateOf(row.id) ?? 'stopped']++
  return { readable, counts: { total: rows.length, ...counts } }
}

/**
 * `GET /api/monitoring/status`: the hub process, the servers the caller may read by state, and
 * the last minutes' throughput, mean latency and error rate (admins: HTTP requests; users: the
 * tool calls of their servers).
 */
export async function monitoringStatus (db: Database, recorder: MetricRecorder, principal: Principal, options: {
  now: number
  stateOf: (id: string) => ServerState | undefined
}) {
  const { readable, counts } = await serverCounts(db, principal, options.stateOf)
  const metrics = PERFORMANCE_METRICS[isAdmin(principal) ? 'hub' : 'servers']
  const from = floorTo(options.now, MINUTE_MS) - (WINDOW_MINUTES - 1) * MINUTE_MS
  const gathered = await gatherBuckets(db, recorder, {
    names: [metrics.calls, metrics.latency, metrics.errors],
    readable,
    from,
    now: options.now,
    bucketMs: MINUTE_MS,
    resolution: '1m'
  })
  const total = (name: MetricName, field: 'n' | 'sum') => gathered
    .filter((series) => series.name === name)
    .reduce((sum, series) => sum + [...series.buckets.values()].reduce((inner, figures) => inner + figures[field], 0), 0)
  const calls = total(metrics.calls, 'sum')
  const observed = total(metrics.latency, 'n')
  const errors = total(metrics.errors, 'sum')
  return {
    system: { uptime: Math.floor(process.uptime()), version: packageJson.version, nodeVersion: process.versions.node },
    servers: counts,
    performance: {
      requestsPerMinute: oneDecimal(calls / ((options.now - from) / MINUTE_MS)),
      avgResponseTime: `${observed === 0 ? 0 : Math.round(total(metrics.latency, 'sum') / observed)}ms`,
      errorRate: `${calls === 0 ? 0 : oneDecimal(errors / calls * 100)}%`
    }
  }
}
