import type { EgressGuard } from '../../lib/egress.ts'
import { DeliveryError } from '../failure.ts'
import type { SlackMessage } from '../message.ts'
import { postJson } from './http.ts'

/** Posts a message to a Slack incoming webhook (its URL is its secret). */
export async function sendSlack (egress: EgressGuard, webhookUrl: string | null, message: SlackMessage): Promise<void> {
  if (webhookUrl === null) throw new DeliveryError('Slack: no incoming-webhook URL is set (notifications.slackWebhookUrl)')
  await postJson(egress, 'Slack', webhookUrl, JSON.stringify(message))
}
