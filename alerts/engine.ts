import { randomUUID } from 'node:crypto'
import type { Database } from '../db/client.ts'
import type { AlertRow } from '../db/schema.ts'
import type { EventBus } from '../events/bus.ts'
import type { ChannelData } from '../events/schemas.ts'
import { driverMessage } from '../lib/batch-writer.ts'
import { withTimeout } from '../lib/timeout.ts'
import type { Rules } from '../settings/schemas.ts'
import type { ServerState } from '../supervisor/managed-server.ts'
import { candidate, DATABASE_FAILURES, REUSE_QUIET_MS, SIGN_IN_WINDOW_MS, SlidingWindow, TOOL_WINDOW_MS, toolCandidates, type Candidate } from './rules.ts'
import { firingAlerts, openAlert, probe, renotifyAlert, resolveAlert, toolStats, type Enqueue } from './store.ts'

export interface AlertTimings {
  /** ms between evaluations of the rules (and probes of the database). */
  evaluateMs: number
  /** A server counts as recovered once it has been running this long (ms). */
  stableMs: number
  /** A database probe not answered within this (ms) failed. */
  probeTimeoutMs: number
}

export const DEFAULT_TIMINGS: AlertTimings = { evaluateMs: 15_000, stableMs: 60_000, probeTimeoutMs: 5000 }

interface Log {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

export interface AlertEngineOptions {
  db: Database
  /** Where server states and sign-ins come from, and where alerts go (`alerts`). */
  bus: EventBus
  now: () => number
  /** The rules as the settings say now. */
  rules: () => Promise<Rules>
  /** Queues an alert's notifications in the transaction that writes it. */
  enqueue: Enqueue
  /** A server's state now; undefined when the hub has no such server (deleted). */
  serverState: (serverId: string) => ServerState | undefined
  log: Log
  timings: AlertTimings
}

type StatusEvent = ChannelData['server-status']
type ActivityEvent = ChannelData['user-activity']

/**
 * Watches the hub and raises alerts. Bus events (server states, sign-ins, token reuse) update
 * what it knows and ask for an evaluation; a timer evaluates periodically too (tool calls of the
 * last 5 minutes, conditions that clear with time, repeats) and probes the database.
 *
 * An evaluation compares the conditions that hold with the alerts that fire (stored): a new
 * condition fires an alert, a cleared one resolves it, and a firing one is notified again once
 * the repeat interval has passed. Evaluations run one at a time.
 */
export class AlertEngine {
  readonly #options: AlertEngineOptions
  /** Crashes and failed starts (each followed by a restart), per server. */
  readonly #restarts = new SlidingWindow<string>()
  /** Since when each running server runs. */
  readonly #runningSince = new Map<string, number>()
  /** Running servers that exited by themselves, not recovered since. */
  readonly #exited = new Map<string, { at: number, reason: StatusEvent['reason'] }>()
  readonly #serverNames = new Map<string, string>()
  readonly #signIns = new SlidingWindow<'hub'>()
  /** Failed sign-ins per account name (lower case), existing or not. */
  readonly #accountSignIns = new SlidingWindow<string>()
  /** The last refresh-token reuse per account (`unknown` without one). */
  readonly #reuses = new Map<string, { username: string | null, at: number }>()
  #probeFailures = 0
  /** An outage reported but not stored yet: the database did not answer. */
  #outage: { id: string, at: number, found: Candidate } | undefined
  #lastRules: Rules | undefined
  #tail: Promise<void> = Promise.resolve()
  #queued: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  readonly #unlisten: Array<() => void> = []

  constructor (options: AlertEngineOptions) {
    this.#options = options
  }

  start (): void {
    const { bus, timings } = this.#options
    this.#unlisten.push(bus.listen('server-status', (event) => { this.#onStatus(event.data) }))
    this.#unlisten.push(bus.listen('user-activity', (event) => { this.#onActivity(event.data) }))
    this.#timer = setInterval(() => { this.tick().catch(() => {}) }, timings.evaluateMs)
    this.#timer.unref()
  }

  /** Stops listening and evaluating; resolves once the evaluation under way has ended. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    for (const unlisten of this.#unlisten.splice(0)) unlisten()
    await this.#tail
  }

  /** Evaluates the rules now (after the evaluation under way, if any); never rejects. */
  evaluate (): Promise<void> {
    this.#queued ??= this.#then(async () => {
      this.#queued = undefined
      await this.#evaluate()
    })
    return this.#queued
  }

  /** What the timer does: probe the database, then evaluate when it answers. */
  tick (): Promise<void> {
    return this.#then(async () => {
      if (await this.#databaseAnswers()) await this.#evaluate()
    })
  }

  #then (work: () => Promise<void>): Promise<void> {
    const run = this.#tail.then(async () => {
      if (this.#stopped) return
      try {
        await work()
      } catch (error) {
        this.#options.log.warn({ err: { message: driverMessage(error) } }, 'could not evaluate the alert rules')
      }
    })
    this.#tail = run
    return run
  }

  #onStatus ({ serverId, name, from, to, reason }: StatusEvent): void {
    const now = this.#options.now()
    this.#serverNames.set(serverId, name)
    if (to === 'running') this.#runningSince.set(serverId, now)
    else this.#runningSince.delete(serverId)
    if (to === 'backoff') this.#restarts.add(serverId, now)
    if (from === 'running' && (to === 'backoff' || to === 'error')) this.#exited.set(serverId, { at: now, reason })
    this.evaluate().catch(() => {})
  }

  #onActivity ({ action, outcome, actor }: ActivityEvent): void {
    const now = this.#options.now()
    if (action === 'auth.login' && outcome === 'failure') {
      this.#signIns.add('hub', now)
      // The name tried: refused while throttled, or unknown, it is still someone's guess at an account.
      if (actor != null) this.#accountSignIns.add(actor.username.toLowerCase(), now)
    } else if (action === 'auth.refresh-reuse') {
      this.#reuses.set(actor?.userId ?? 'unknown', { username: actor?.username ?? null, at: now })
    } else return
    this.evaluate().catch(() => {})
  }

  async #evaluate (): Promise<void> {
    // While the database is away, the timer's probes say when it is back.
    if (this.#probeFailures > 0) return
    const { db, now: clock } = this.#options
    const now = clock()
    const rules = this.#lastRules = await this.#options.rules()
    const found = [
      ...this.#serverCandidates(rules, now),
      ...toolCandidates(rules, await toolStats(db, new Date(now - TOOL_WINDOW_MS))),
      ...this.#signInCandidates(rules, now),
      ...this.#reuseCandidates(rules, now)
    ]
    const firing = await firingAlerts(db)
    const fired = new Set(firing.map((alert) => alert.fingerprint))
    for (const condition of found) {
      if (!fired.has(condition.fingerprint)) await this.#fire(condition, now)
    }
    const holding = new Set(found.map((condition) => condition.fingerprint))
    const repeatMs = rules.repeatIntervalMinutes * 60_000
    for (const alert of firing) {
      if (this.#cleared(alert, holding, now)) await this.#resolve(alert, now)
      else if (alert.notifiedAt === null || now - alert.notifiedAt.getTime() >= repeatMs) await renotifyAlert(db, alert, new Date(now), this.#options.enqueue)
    }
  }

  /** Whether a server is fine again: running long enough, stopped by someone, or gone. */
  #recovered (serverId: string, now: number): boolean {
    const state = this.#options.serverState(serverId)
    if (state === undefined || state === 'stopped') return true
    if (state !== 'running') return false
    let since = this.#runningSince.get(serverId)
    if (since === undefined) this.#runningSince.set(serverId, since = now)
    return now - since >= this.#options.timings.stableMs
  }

  #forgetServer (serverId: string): void {
    this.#restarts.forget(serverId)
    this.#exited.delete(serverId)
  }

  #serverCandidates (rules: Rules, now: number): Candidate[] {
    const found: Candidate[] = []
    const { serverError, serverStopped } = rules
    const restarts = this.#restarts.counts(now, serverError.withinMinutes * 60_000)
    const servers = new Set([...restarts.keys(), ...this.#exited.keys(), ...this.#serverNames.keys()])
    for (const serverId of servers) {
      const state = this.#options.serverState(serverId)
      if (state === undefined) {
        this.#forgetServer(serverId)
        this.#serverNames.delete(serverId)
        continue
      }
      if (this.#recovered(serverId, now)) {
        this.#forgetServer(serverId)
        continue
      }
      const name = this.#serverNames.get(serverId) ?? serverId
      const count = restarts.get(serverId) ?? 0
      if (serverError.enabled && (state === 'error' || count >= serverError.restarts)) {
        found.push(candidate('serverError', serverId, {
          serverId,
          summary: state === 'error'
            ? `${name} has failed and is not restarted (error)`
            : `${name} is crash-looping: ${count} restarts in ${serverError.withinMinutes} min`,
          details: { state, restarts: count, withinMinutes: serverError.withinMinutes, threshold: serverError.restarts }
        }))
      }
      const exit = this.#exited.get(serverId)
      if (serverStopped.enabled && exit !== undefined) {
        found.push(candidate('serverStopped', serverId, {
          serverId,
          summary: `${name} stopped unexpectedly${exit.reason?.exitCode == null ? '' : ` (exit code ${exit.reason.exitCode})`}`,
          details: { exitCode: exit.reason?.exitCode ?? null, signal: exit.reason?.signal ?? null, exitedAt: new Date(exit.at).toISOString() }
        }))
      }
    }
    return found
  }

  #signInCandidates ({ signInFailures: rule }: Rules, now: number): Candidate[] {
    const hub = this.#signIns.counts(now, SIGN_IN_WINDOW_MS).get('hub') ?? 0
    const accounts = this.#accountSignIns.counts(now, SIGN_IN_WINDOW_MS)
    if (!rule.enabled) return []
    const found: Candidate[] = []
    if (hub > rule.perMinute) {
      found.push(candidate('signInFailures', null, {
        serverId: null,
        summary: `${hub} failed sign-ins in the last minute (threshold ${rule.perMinute})`,
        details: { failures: hub, threshold: rule.perMinute }
      }))
    }
    for (const [username, failures] of accounts) {
      if (failures <= rule.perAccountPerMinute) continue
      found.push(candidate('signInFailures', `account:${username}`, {
        serverId: null,
        summary: `${failures} failed sign-ins for ${username} in the last minute (threshold ${rule.perAccountPerMinute})`,
        details: { username, failures, threshold: rule.perAccountPerMinute }
      }))
    }
    return found
  }

  #reuseCandidates ({ refreshTokenReuse: rule }: Rules, now: number): Candidate[] {
    const found: Candidate[] = []
    for (const [key, reuse] of this.#reuses) {
      if (now - reuse.at >= REUSE_QUIET_MS) {
        this.#reuses.delete(key)
        continue
      }
      if (!rule.enabled) continue
      found.push(candidate('refreshTokenReuse', key, {
        serverId: null,
        summary: `A spent refresh token${reuse.username === null ? '' : ` of ${reuse.username}`} was used again; its session was revoked`,
        details: { userId: key === 'unknown' ? null : key, username: reuse.username, lastAt: new Date(reuse.at).toISOString() }
      }))
    }
    return found
  }

  #cleared (alert: AlertRow, holding: Set<string>, now: number): boolean {
    if (alert.rule === 'serverError' || alert.rule === 'serverStopped') {
      if (alert.serverId === null || this.#recovered(alert.serverId, now)) {
        if (alert.serverId !== null) this.#forgetServer(alert.serverId)
        return true
      }
      return false
    }
    // The database answers (an evaluation runs only then).
    if (alert.rule === 'databaseUnreachable') return true
    return !holding.has(alert.fingerprint)
  }

  async #fire (found: Candidate, now: number): Promise<void> {
    const row = await openAlert(this.#options.db, found, new Date(now), this.#options.enqueue)
    if (row !== undefined) this.#announce(row, 'firing', now)
  }

  async #resolve (alert: AlertRow, now: number): Promise<void> {
    const row = await resolveAlert(this.#options.db, alert.id, new Date(now), this.#options.enqueue)
    if (row !== undefined) this.#announce(row, 'resolved', now)
  }

  #announce (alert: Pick<AlertRow, 'id' | 'fingerprint' | 'rule' | 'severity' | 'serverId' | 'summary'>, state: 'firing' | 'resolved', now: number): void {
    const { log, bus } = this.#options
    const fields = { alert: { id: alert.id, rule: alert.rule, fingerprint: alert.fingerprint, severity: alert.severity, serverId: alert.serverId } }
    if (state === 'firing') log.warn(fields, `alert firing: ${alert.summary}`)
    else log.info(fields, `alert resolved: ${alert.summary}`)
    bus.publish('alerts', {
      id: alert.id,
      fingerprint: alert.fingerprint,
      rule: alert.rule,
      severity: alert.severity,
      state,
      serverId: alert.serverId,
      message: alert.summary,
      at: new Date(now).toISOString()
    })
  }

  /**
   * Probes the database. The second failure in a row raises `databaseUnreachable` on the bus and
   * in the log at once; it is stored (firing, then resolved, with their notifications) once the
   * database answers again.
   */
  async #databaseAnswers (): Promise<boolean> {
    const { db, now: clock, log, timings } = this.#options
    try {
      await withTimeout(probe(db), timings.probeTimeoutMs, `no answer within ${timings.probeTimeoutMs} ms`)
    } catch (error) {
      this.#probeFailures++
      const enabled = this.#lastRules?.databaseUnreachable.enabled ?? true
      if (this.#probeFailures >= DATABASE_FAILURES && this.#outage === undefined && enabled) {
        const at = clock()
        const found = candidate('databaseUnreachable', null, {
          serverId: null,
          summary: `The database does not answer (${this.#probeFailures} probes failed in a row: ${driverMessage(error)})`,
          details: { failedProbes: this.#probeFailures }
        })
        this.#outage = { id: randomUUID(), at, found }
        this.#announce({ ...found, id: this.#outage.id }, 'firing', at)
        log.error({ err: { message: driverMessage(error) } }, 'the database does not answer; the alert is stored once it does')
      }
      return false
    }
    this.#probeFailures = 0
    const outage = this.#outage
    if (outage !== undefined) {
      const now = clock()
      const { enqueue } = this.#options
      await openAlert(db, outage.found, new Date(outage.at), enqueue, outage.id)
      await resolveAlert(db, outage.id, new Date(now), enqueue)
      this.#outage = undefined
      this.#announce({ ...outage.found, id: outage.id }, 'resolved', now)
    }
    return true
  }
}
