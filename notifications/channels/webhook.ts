import { createHmac } from 'node:crypto'
import type { EgressGuard } from '../../lib/egress.ts'
import { DeliveryError } from '../failure.ts'
import type { WebhookBody } from '../message.ts'
import { postJson } from './http.ts'

const SECRET_PREFIX = 'whsec_'

/**
 * The Standard Webhooks signature of one delivery: `v1,` and the base64 HMAC-SHA256 of
 * `<id>.<timestamp>.<body>`, keyed with the base64-decoded secret after `whsec_`.
 */
export function signature (secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

export interface WebhookTarget {
  url: string | null
  secret: string | null
}

/**
 * POSTs `payload` to the webhook, signed per Standard Webhooks. `id` is the delivery's id, the
 * same on every retry, so a receiver can drop duplicates.
 */
export async function sendWebhook (egress: EgressGuard, target: WebhookTarget, id: string, payload: WebhookBody, now: Date): Promise<void> {
  if (target.url === null) throw new DeliveryError('webhook: no URL is set (notifications.webhook)')
  if (target.secret === null) throw new DeliveryError('webhook: no signing secret is set (notifications.webhookSecret)')
  const body = JSON.stringify(payload)
  const timestamp = Math.floor(now.getTime() / 1000)
  await postJson(egress, 'webhook', target.url, body, {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature(target.secret, id, timestamp, body)
  })
}
