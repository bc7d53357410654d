import type { Rules } from '../settings/schemas.ts'
import type { ALERT_SEVERITIES } from '../events/schemas.ts'

/** The rules, by their names in the settings (`alerts.<rule>`). */
export const RULE_NAMES = ['serverError', 'serverStopped', 'toolErrorRate', 'toolLatency', 'signInFailures', 'refreshTokenReuse', 'databaseUnreachable'] as const
export type RuleName = typeof RULE_NAMES[number]
export type Severity = typeof ALERT_SEVERITIES[number]

export const SEVERITY: Record<RuleName, Severity> = {
  serverError: 'critical',
  serverStopped: 'warning',
  toolErrorRate: 'warning',
  toolLatency: 'warning',
  signInFailures: 'warning',
  refreshTokenReuse: 'critical',
  databaseUnreachable: 'critical'
}

/** A condition that holds now: what an alert says when it fires. */
export interface Candidate {
  /** The rule and its subject: at most one alert per fingerprint fires. */
  fingerprint: string
  rule: RuleName
  severity: Severity
  serverId: string | null
  summary: string
  details: Record<string, unknown>
}

export function candidate (rule: RuleName, subject: string | null, fields: Pick<Candidate, 'serverId' | 'summary' | 'details'>): Candidate {
  return { fingerprint: subject === null ? rule : `${rule}:${subject}`, rule, severity: SEVERITY[rule], ...fields }
}

/** Tool calls are judged over this window. */
export const TOOL_WINDOW_MS = 5 * 60_000
/** p95 over fewer calls than this says little: no latency alert. */
export const LATENCY_MIN_CALLS = 10
/** Sign-in failures are counted over this window. */
export const SIGN_IN_WINDOW_MS = 60_000
/** A refresh-token reuse alert resolves once no reuse of that account was seen for this long. */
export const REUSE_QUIET_MS = 10 * 60_000
/** Failed probes in a row before the database is reported unreachable. */
export const DATABASE_FAILURES = 2

/** One server's tool calls over the window. */
export interface ToolStats {
  serverId: string
  name: string
  calls: number
  failed: number
  p95Ms: number
}

export function toolCandidates (rules: Rules, stats: ToolStats[]): Candidate[] {
  const found: Candidate[] = []
  for (const server of stats) {
    const percent = server.calls === 0 ? 0 : (server.failed / server.calls) * 100
    const errorRate = rules.toolErrorRate
    if (errorRate.enabled && server.calls >= errorRate.minCalls && percent > errorRate.percent) {
      found.push(candidate('toolErrorRate', server.serverId, {
        serverId: server.serverId,
        summary: `${server.name}: ${percent.toFixed(1)}% of tool calls failed over 5 minutes (${server.failed} of ${server.calls}; threshold ${errorRate.percent}%)`,
        details: { calls: server.calls, failed: server.failed, percent: Number(percent.toFixed(1)), threshold: errorRate.percent }
      }))
    }
    const latency = rules.toolLatency
    if (latency.enabled && server.calls >= LATENCY_MIN_CALLS && server.p95Ms > latency.p95Ms) {
      found.push(candidate('toolLatency', server.serverId, {
        serverId: server.serverId,
        summary: `${server.name}: p95 tool-call time ${Math.round(server.p95Ms)} ms over 5 minutes (threshold ${latency.p95Ms} ms)`,
        details: { calls: server.calls, p95Ms: Math.round(server.p95Ms), threshold: latency.p95Ms }
      }))
    }
  }
  return found
}

/** Event times per key, counted over a sliding window and forgotten as they leave it. */
export class SlidingWindow<Key> {
  readonly #times = new Map<Key, number[]>()

  add (key: Key, at: number): void {
    const times = this.#times.get(key)
    if (times === undefined) this.#times.set(key, [at])
    else times.push(at)
  }

  /** The keys with their counts within the `windowMs` ending at `now` (older events are forgotten). */
  counts (now: number, windowMs: number): Map<Key, number> {
    const counts = new Map<Key, number>()
    for (const [key, times] of this.#times) {
      const young = times.filter((at) => now - at < windowMs)
      if (young.length === 0) this.#times.delete(key)
      else {
        this.#times.set(key, young)
        counts.set(key, young.length)
      }
    }
    return counts
  }

  forget (key: Key): void {
    this.#times.delete(key)
  }
}
