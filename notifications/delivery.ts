import type { EgressGuard } from '../lib/egress.ts'
import type { Settings } from '../settings/schemas.ts'
import { sendEmail } from './channels/email.ts'
import { sendSlack } from './channels/slack.ts'
import { sendWebhook } from './channels/webhook.ts'
import { DeliveryError } from './failure.ts'
import { CHANNELS, type Channel, type Message } from './message.ts'

/** The channels the settings turn on: email and Slack by their switch, the webhook by its URL. */
export function enabledChannels (settings: Settings): Channel[] {
  const { notifications } = settings
  return CHANNELS.filter((channel) => channel === 'webhook' ? notifications.webhook !== null : notifications[channel])
}

export interface Delivery<C extends Channel = Channel> {
  channel: C
  /** The message as rendered for this channel. */
  message: Message[C]
  /** Stable across retries: the webhook's `webhook-id`. */
  id: string
}

/**
 * Sends one rendered message on one channel, to where the current settings say (addresses,
 * URLs and secrets are read at send time). A failure is a DeliveryError in plain words, with
 * any secret of the settings blotted out in case a server echoed one.
 */
export async function deliver (egress: EgressGuard, settings: Settings, delivery: Delivery, now: Date): Promise<void> {
  const { notifications, smtp } = settings
  try {
    if (!enabledChannels(settings).includes(delivery.channel)) throw new DeliveryError(`the ${delivery.channel} channel is turned off`, { permanent: true })
    switch (delivery.channel) {
      case 'email':
        return await sendEmail(egress, smtp, notifications.emailTo, delivery.message as Message['email'])
      case 'slack':
        return await sendSlack(egress, notifications.slackWebhookUrl, delivery.message as Message['slack'])
      case 'webhook':
        return await sendWebhook(egress, { url: notifications.webhook, secret: notifications.webhookSecret }, delivery.id, delivery.message as Message['webhook'], now)
    }
  } catch (error) {
    const failure = error instanceof DeliveryError ? error : new DeliveryError(`${delivery.channel}: unexpected error: ${(error as Error).message}`)
    const secrets = [smtp.auth.pass, notifications.slackWebhookUrl, notifications.webhookSecret].filter((secret): secret is string => secret !== null && secret.length >= 4)
    if (!secrets.some((secret) => failure.message.includes(secret))) throw failure
    throw new DeliveryError(secrets.reduce((text, secret) => text.replaceAll(secret, '[secret]'), failure.message), { permanent: failure.permanent })
  }
}
