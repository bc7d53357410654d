import { Type, type Static } from 'typebox'
import type { AlertRow } from '../db/schema.ts'
import { Nullable, Timestamp } from '../lib/schemas.ts'

export const CHANNELS = ['email', 'slack', 'webhook'] as const
export type Channel = typeof CHANNELS[number]
export type AlertKind = 'firing' | 'resolved'

const AlertData = Type.Object({
  id: Type.String({ format: 'uuid', description: 'The alert; the same in its `firing` and `resolved` notices' }),
  fingerprint: Type.String({ description: 'The condition it is about (rule and subject, e.g. `serverError:<serverId>`)' }),
  rule: Type.String({ description: 'The rule that fired (`serverError`, `signInFailures`…)' }),
  severity: Type.Enum(['info', 'warning', 'critical']),
  state: Type.Enum(['firing', 'resolved']),
  summary: Type.String({ description: 'What happened, in one line' }),
  details: Type.Record(Type.String(), Type.Unknown(), { description: 'The figures behind it (restarts counted, error rate, threshold…)' }),
  server: Nullable(Type.Object({ id: Type.String({ format: 'uuid' }), name: Nullable(Type.String()) }, { description: 'The server it is about, when it is about one' })),
  firedAt: Timestamp,
  resolvedAt: Nullable(Timestamp),
  url: Nullable(Type.String({ description: 'The hub (MCPHUB_PUBLIC_URL), when it is set' }))
}, { additionalProperties: false })

const TestData = Type.Object({
  message: Type.String(),
  url: Nullable(Type.String({ description: 'The hub (MCPHUB_PUBLIC_URL), when it is set' }))
}, { additionalProperties: false })

/**
 * What the webhook channel POSTs, signed per Standard Webhooks (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`): receivers verify it with any Standard Webhooks
 * library and the `webhookSecret`. `webhook-id` is the same on every retry of one notification.
 */
export const WebhookPayload = Type.Object({
  type: Type.Enum(['alert.firing', 'alert.resolved', 'test'], { description: 'An alert fired, an alert was resolved, or an admin sent a test' }),
  timestamp: Type.String({ format: 'date-time', description: 'When it happened' }),
  data: Type.Union([AlertData, TestData])
}, {
  $id: 'WebhookPayload',
  additionalProperties: false,
  description: 'The JSON body of a webhook notification',
  examples: [{
    type: 'alert.firing',
    timestamp: '2026-01-01T12:00:00.000Z',
    data: {
      id: '0b6f2f4e-2f5c-4d0e-9a39-5d1f6c1f0a42',
      fingerprint: 'serverError:9a7b3c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d',
      rule: 'serverError',
      severity: 'critical',
      state: 'firing',
      summary: 'filesystem restarted 5 times in 10 minutes',
      details: { restarts: 5, withinMinutes: 10 },
      server: { id: '9a7b3c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d', name: 'filesystem' },
      firedAt: '2026-01-01T12:00:00.000Z',
      resolvedAt: null,
      url: 'https://hub.example.com'
    }
  }]
})

export type WebhookBody = Static<typeof WebhookPayload>

export interface EmailMessage {
  subject: string
  text: string
}

/** A Slack incoming-webhook message: `text` for notifications, `blocks` for the channel. */
export interface SlackMessage {
  text: string
  blocks: Array<Record<string, unknown>>
}

/** One notice rendered for every channel. */
export interface Message {
  email: EmailMessage
  slack: SlackMessage
  webhook: WebhookBody
}

export interface AlertContext {
  /** The name of the server the alert is about, if any and it still exists. */
  serverName: string | null
  /** MCPHUB_PUBLIC_URL, if set. */
  publicUrl: string | null
}

const SEVERITY_MARK = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' }

/** An alert's notice (it fired, or it was resolved), for every channel. */
export function alertMessage (alert: AlertRow, kind: AlertKind, context: AlertContext): Message {
  const server = alert.serverId === null ? null : { id: alert.serverId, name: context.serverName }
  const about = server === null ? '' : ` on ${server.name ?? server.id}`
  const headline = kind === 'firing'
    ? `[${alert.severity.toUpperCase()}] ${alert.summary}`
    : `[RESOLVED] ${alert.summary}`
  const lines = [
    kind === 'firing' ? `An alert fired${about}: ${alert.summary}` : `Resolved${about}: ${alert.summary}`,
    '',
    `Severity: ${alert.severity}`,
    `Rule: ${alert.rule}`,
    ...(server === null ? [] : [`Server: ${server.name ?? '(deleted)'} (${server.id})`]),
    `Fired at: ${alert.firedAt.toISOString()}`,
    ...(kind === 'resolved' && alert.resolvedAt !== null ? [`Resolved at: ${alert.resolvedAt.toISOString()}`] : []),
    ...Object.entries(alert.details).map(([name, value]) => `${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`),
    ...(context.publicUrl === null ? [] : ['', `Open the hub: ${context.publicUrl}`])
  ]
  const mark = kind === 'firing' ? SEVERITY_MARK[alert.severity] : ':white_check_mark:'
  const facts = [
    `*Severity:* ${alert.severity}`,
    `*Rule:* ${alert.rule}`,
    ...(server === null ? [] : [`*Server:* ${escapeSlack(server.name ?? server.id)}`]),
    `*Fired:* ${alert.firedAt.toISOString()}`
  ]
  return {
    email: { subject: `MCPHub: ${headline}`, text: lines.join('\n') + '\n' },
    slack: {
      text: `${mark} ${escapeSlack(headline)}${escapeSlack(about)}`,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `${mark} *${escapeSlack(kind === 'firing' ? 'Alert' : 'Resolved')}:* ${escapeSlack(alert.summary)}` } },
        { type: 'section', fields: facts.map((text) => ({ type: 'mrkdwn', text })) },
        ...(context.publicUrl === null ? [] : [{ type: 'section', text: { type: 'mrkdwn', text: `<${context.publicUrl}|Open the hub>` } }])
      ]
    },
    webhook: {
      type: kind === 'firing' ? 'alert.firing' : 'alert.resolved',
      timestamp: (kind === 'firing' ? alert.firedAt : alert.resolvedAt ?? alert.updatedAt).toISOString(),
      data: {
        id: alert.id,
        fingerprint: alert.fingerprint,
        rule: alert.rule,
        severity: alert.severity,
        state: kind,
        summary: alert.summary,
        details: alert.details,
        server,
        firedAt: alert.firedAt.toISOString(),
        resolvedAt: alert.resolvedAt?.toISOString() ?? null,
        url: context.publicUrl
      }
    }
  }
}

const TEST_TEXT = 'This is a test notification from MCPHub: this channel works.'

/** The message `POST /api/config/notifications/test` sends. */
export function testMessage (publicUrl: string | null, at: Date): Message {
  const link = publicUrl === null ? '' : `\n\nOpen the hub: ${publicUrl}`
  return {
    email: { subject: 'MCPHub: test notification', text: `${TEST_TEXT}${link}\n` },
    slack: {
      text: `:white_check_mark: ${TEST_TEXT}`,
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `:white_check_mark: ${TEST_TEXT}${publicUrl === null ? '' : ` <${publicUrl}|Open the hub>`}` } }]
    },
    webhook: { type: 'test', timestamp: at.toISOString(), data: { message: TEST_TEXT, url: publicUrl } }
  }
}

/** Slack's mrkdwn control characters, escaped as its documentation asks. */
function escapeSlack (text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}
