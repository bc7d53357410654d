import { and, asc, eq, inArray, lte, min, sql } from 'drizzle-orm'
import type { Database, Queryable } from '../db/client.ts'
import { notificationAttempts, notifications, type NotificationRow } from '../db/schema.ts'
import { driverMessage } from '../lib/batch-writer.ts'
import { DeliveryError } from './failure.ts'
import type { Channel } from './message.ts'

/** How the worker retries, how long it holds what it claims, and how long closing waits for it. */
export interface RetryPolicy {
  /** The wait after the first failure, doubled after each further one (±20% jitter)… */
  baseMs: number
  /** …up to this. */
  maxMs: number
  /** Attempts at most; then the notification is `failed`. */
  maxAttempts: number
  /** Past this age a notification is not retried again: `failed`. */
  maxAgeMs: number
  /** How long a claimed notification is held by its hub; a hub that dies lets it go when this expires. */
  leaseMs: number
  /** How often the outbox is looked at when nothing wakes the worker (other hubs enqueue too). */
  pollMs: number
  /** How long closing the hub waits for an attempt under way (SMTP may take longer; its claim then expires and it is retried). */
  closeWaitMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  baseMs: 15_000,
  maxMs: 60 * 60_000,
  maxAttempts: 12,
  maxAgeMs: 24 * 60 * 60_000,
  leaseMs: 2 * 60_000,
  pollMs: 5000,
  closeWaitMs: 3000
}

/** Notifications one claim takes at most; they are attempted together. */
const CLAIM_BATCH = 10

/** The wait before attempt `attempts + 1`: exponential, capped, with ±20% jitter so retries of many hubs spread. */
export function retryDelay (policy: RetryPolicy, attempts: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempts - 1))
  return Math.round(exponential * (0.8 + 0.4 * random()))
}

export interface NewNotification {
  alertId: string | null
  channel: Channel
  kind: 'firing' | 'resolved' | 'test'
  payload: Record<string, unknown>
}

/** Writes notifications to the outbox, in the caller's transaction when `db` is one. */
export async function insertNotifications (db: Queryable, rows: NewNotification[]): Promise<void> {
  if (rows.length === 0) return
  await db.insert(notifications).values(rows)
}

/**
 * Takes the pending notifications due at `now` that no other hub holds (`skip locked`), and
 * holds them until `leaseUntil`: their attempt count grows now, so a notification that kills
 * its hub still runs out of attempts.
 */
export async function claimDue (db: Database, now: Date, leaseUntil: Date, limit = CLAIM_BATCH): Promise<NotificationRow[]> {
  const due = db.select({ id: notifications.id }).from(notifications)
    .where(and(eq(notifications.status, 'pending'), lte(notifications.nextAttemptAt, now)))
    .orderBy(asc(notifications.nextAttemptAt))
    .limit(limit)
    .for('update', { skipLocked: true })
  return await db.update(notifications)
    .set({ nextAttemptAt: leaseUntil, attempts: sql`${notifications.attempts} + 1` })
    .where(inArray(notifications.id, due))
    .returning()
}

/** When the next pending notification is due, if any. */
export async function nextDue (db: Database): Promise<Date | null> {
  const [row] = await db.select({ at: min(notifications.nextAttemptAt) }).from(notifications).where(eq(notifications.status, 'pending'))
  return row?.at ?? null
}

export type Outcome =
  | { status: 'delivered' }
  | { status: 'pending', error: string, nextAttemptAt: Date }
  | { status: 'failed', error: string }

/** Keeps one attempt's record and moves its notification on (delivered, retried later, or failed), together. */
export async function recordAttempt (db: Database, row: NotificationRow, at: Date, durationMs: number, outcome: Outcome): Promise<void> {
  const error = outcome.status === 'delivered' ? null : outcome.error
  await db.transaction(async (tx) => {
    await tx.insert(notificationAttempts).values({
      notificationId: row.id,
      attempt: row.attempts,
      at,
      outcome: outcome.status === 'delivered' ? 'delivered' : 'failed',
      error,
      durationMs
    })
    await tx.update(notifications).set({
      status: outcome.status,
      lastError: error,
      ...(outcome.status === 'delivered' ? { deliveredAt: at } : {}),
      ...(outcome.status === 'pending' ? { nextAttemptAt: outcome.nextAttemptAt } : {})
    }).where(and(eq(notifications.id, row.id), eq(notifications.status, 'pending')))
  })
}

interface Logger {
  info(object: object, message: string): void
  warn(object: object, message: string): void
}

export interface OutboxWorkerOptions {
  db: Database
  /** Sends one notification; a rejection (a DeliveryError, in plain words) is a failed attempt. */
  deliver: (row: NotificationRow) => Promise<void>
  policy: RetryPolicy
  now: () => number
  log: Logger
}

/**
 * Delivers the outbox: claims what is due (safely beside other hubs on the same database),
 * attempts it, records each attempt, and retries failures with a growing delay until they run
 * out of attempts or age. It sleeps until the next notification is due, or `pollMs`, or a wake.
 */
export class OutboxWorker {
  readonly #options: OutboxWorkerOptions
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity
  /** The pass under way, if any. */
  #pass: Promise<void> | undefined
  /** Woken during a pass: another follows it. */
  #again = false
  #stopped = false

  constructor (options: OutboxWorkerOptions) {
    this.#options = options
  }

  start (): void {
    this.#schedule(0)
  }

  /** Something was enqueued: look soon (`delayMs` lets the enqueuing transaction commit). */
  wake (delayMs = 0): void {
    this.#schedule(delayMs)
  }

  /** Resolves when nothing is due: every due notification was attempted (delivered, failed, or rescheduled). */
  async drain (): Promise<void> {
    for (;;) {
      await this.#run()
      const due = await nextDue(this.#options.db)
      if (this.#stopped || due === null || due.getTime() > this.#options.now()) return
    }
  }

  /** Stops claiming; waits up to `timeoutMs` for the attempts under way (a claim left behind is retried when its lease expires). */
  async stop (timeoutMs: number): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    if (this.#pass === undefined) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.#pass, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
    clearTimeout(timer)
  }

  #schedule (delayMs: number): void {
    if (this.#stopped) return
    const at = Date.now() + Math.max(0, delayMs)
    if (this.#timer !== undefined && this.#timerAt <= at) return
    clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#timerAt = Infinity
      this.#run().catch(() => {})
    }, Math.max(0, delayMs))
    this.#timer.unref()
  }

  /** One pass, or the one under way (then another follows it). */
  #run (): Promise<void> {
    if (this.#pass !== undefined) {
      this.#again = true
      return this.#pass
    }
    this.#pass = this.#claimAndAttempt().finally(() => {
      this.#pass = undefined
      if (this.#again) {
        this.#again = false
        this.#schedule(0)
      }
    })
    return this.#pass
  }

  async #claimAndAttempt (): Promise<void> {
    const { db, policy, now, log } = this.#options
    try {
      while (!this.#stopped) {
        const claimed = await claimDue(db, new Date(now()), new Date(now() + policy.leaseMs))
        if (claimed.length === 0) break
        await Promise.all(claimed.map((row) => this.#attempt(row)))
      }
      const due = await nextDue(db)
      this.#schedule(Math.min(policy.pollMs, due === null ? Infinity : due.getTime() - now()))
    } catch (error) {
      log.warn({ err: { message: driverMessage(error) } }, 'could not read the notification outbox; trying again later')
      this.#schedule(policy.pollMs)
    }
  }

  async #attempt (row: NotificationRow): Promise<void> {
    const { db, deliver, policy, now, log } = this.#options
    const started = performance.now()
    let failure: DeliveryError | undefined
    try {
      await deliver(row)
    } catch (error) {
      failure = error instanceof DeliveryError ? error : new DeliveryError(`unexpected error: ${(error as Error).message}`)
    }
    const durationMs = Math.round(performance.now() - started)
    const at = new Date(now())
    let outcome: Outcome
    if (failure === undefined) outcome = { status: 'delivered' }
    else if (failure.permanent || row.attempts >= policy.maxAttempts || at.getTime() - row.createdAt.getTime() >= policy.maxAgeMs) outcome = { status: 'failed', error: failure.message }
    else outcome = { status: 'pending', error: failure.message, nextAttemptAt: new Date(at.getTime() + retryDelay(policy, row.attempts)) }
    const about = { notificationId: row.id, alertId: row.alertId, channel: row.channel, attempt: row.attempts }
    if (outcome.status === 'delivered') log.info(about, `notification delivered by ${row.channel}`)
    else log.warn({ ...about, error: outcome.error, retryAt: outcome.status === 'pending' ? outcome.nextAttemptAt.toISOString() : null }, `notification not delivered by ${row.channel}${outcome.status === 'failed' ? ': giving up' : ''}`)
    try {
      await recordAttempt(db, row, at, durationMs, outcome)
    } catch (error) {
      // Its lease expires and it is attempted again.
      log.warn({ ...about, err: { message: driverMessage(error) } }, 'could not record a notification attempt')
    }
  }
}
