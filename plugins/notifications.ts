import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import fp from 'fastify-plugin'
import type { Queryable } from '../db/client.ts'
import { servers, type AlertRow } from '../db/schema.ts'
import { validationFailed } from '../lib/errors.ts'
import { deliver, enabledChannels } from '../notifications/delivery.ts'
import { alertMessage, testMessage, WebhookPayload, type AlertKind, type Channel, type Message } from '../notifications/message.ts'
import { DEFAULT_RETRY, insertNotifications, OutboxWorker, type RetryPolicy } from '../notifications/outbox.ts'

export interface TestResult {
  channel: Channel
  delivered: boolean
  /** Why not, in plain words; null when delivered. */
  error: string | null
}

export interface Notifier {
  /**
   * Queues an alert's notice on every channel enabled now: one outbox row each, written with
   * `db` (the caller's transaction, so the notice exists exactly when the alert does); the
   * worker is woken to deliver them.
   */
  enqueue(db: Queryable, alert: AlertRow, kind: AlertKind): Promise<void>
  /** Sends a test message now (not through the outbox) on every enabled channel, or on `channel`. */
  sendTest(channel?: Channel): Promise<TestResult[]>
  /** Resolves when nothing in the outbox is due (tests). */
  drain(): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Alert notices by email, Slack and webhook, through an outbox that survives restarts. */
    notifications: Notifier
  }
}

export interface NotificationsOptions {
  /** MCPHUB_PUBLIC_URL: messages link to the hub when it is set. */
  publicUrl: string | null
  retry?: Partial<RetryPolicy>
  now: () => number
}

/** The wait before looking at what `enqueue` wrote: its transaction has committed by then, most often. */
const ENQUEUE_WAKE_MS = 50

export default fp<NotificationsOptions>(async (app, { publicUrl, retry, now }) => {
  app.addSchema(WebhookPayload)
  const policy = { ...DEFAULT_RETRY, ...retry }
  const log = app.log.child({ source: 'notifications' })
  const readSettings = async (db?: Queryable) => (await app.settings.read(db)).settings

  const worker = new OutboxWorker({
    db: app.db,
    policy,
    now,
    log,
    deliver: async (row) => {
      await deliver(app.egress, await readSettings(), { channel: row.channel, message: row.payload as unknown as Message[Channel], id: row.id }, new Date(now()))
    }
  })

  async function enqueue (db: Queryable, alert: AlertRow, kind: AlertKind): Promise<void> {
    const channels = enabledChannels(await readSettings(db))
    if (channels.length === 0) return
    const [server] = alert.serverId === null ? [] : await db.select({ name: servers.name }).from(servers).where(eq(servers.id, alert.serverId))
    const message = alertMessage(alert, kind, { serverName: server?.name ?? null, publicUrl })
    await insertNotifications(db, channels.map((channel) => ({ alertId: alert.id, channel, kind, payload: message[channel] as unknown as Record<string, unknown> })))
    worker.wake(ENQUEUE_WAKE_MS)
  }

  async function sendTest (channel?: Channel): Promise<TestResult[]> {
    const settings = await readSettings()
    const enabled = enabledChannels(settings)
    if (channel !== undefined && !enabled.includes(channel)) throw validationFailed('channel', `the ${channel} channel is not enabled`)
    if (enabled.length === 0) throw validationFailed('notifications', 'no channel is enabled: turn on email or Slack, or set a webhook, in /api/config')
    const message = testMessage(publicUrl, new Date(now()))
    return await Promise.all((channel === undefined ? enabled : [channel]).map(async (name) => {
      try {
        await deliver(app.egress, settings, { channel: name, message: message[name], id: `msg_${randomUUID()}` }, new Date(now()))
        return { channel: name, delivered: true, error: null }
      } catch (error) {
        log.warn({ channel: name, error: (error as Error).message }, `test notification not delivered by ${name}`)
        return { channel: name, delivered: false, error: (error as Error).message }
      }
    }))
  }

  app.decorate('notifications', { enqueue, sendTest, drain: () => worker.drain() } satisfies Notifier)
  app.addHook('onReady', async () => {
    worker.start()
  })
  app.addHook('onClose', async () => {
    await worker.stop(policy.closeWaitMs)
  })
}, { name: 'notifications', dependencies: ['db', 'egress', 'settings'] })
