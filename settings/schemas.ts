import { Type, type Static } from 'typebox'

/** What a stored secret is shown as; sent back, it keeps the stored value. */
export const MASK = '********'

const Secret = (description: string) => Type.Union([Type.String({ maxLength: 2048 }), Type.Null()], { description: `${description}. Write-only: read back as \`${MASK}\`; \`${MASK}\` sent back keeps the stored value` })
const Switch = (description: string) => Type.Boolean({ description })
const Minutes = (description: string, maximum = 1440) => Type.Integer({ minimum: 1, maximum, description })

export const SmtpSettings = Type.Object({
  host: Type.Union([Type.String({ minLength: 1, maxLength: 253 }), Type.Null()], { description: 'The SMTP server; null: no email' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, description: '587 for STARTTLS, 465 for TLS' }),
  secure: Type.Boolean({ description: 'true: TLS from the first byte (port 465); false: STARTTLS when the server offers it, required unless the server is allowed by MCPHUB_EGRESS_ALLOW' }),
  auth: Type.Object({
    user: Type.Union([Type.String({ maxLength: 320 }), Type.Null()]),
    pass: Secret('The SMTP password')
  }, { additionalProperties: false }),
  from: Type.Union([Type.String({ maxLength: 320, format: 'email' }), Type.Null()], { description: 'The sender address; the SMTP user when null' })
}, { additionalProperties: false, $id: 'SmtpSettings' })

export const NotificationSettings = Type.Object({
  email: Switch('Send alerts by email (needs `smtp.host` and `emailTo`)'),
  emailTo: Type.Array(Type.String({ format: 'email', maxLength: 320 }), { maxItems: 50, description: 'Who gets the emails' }),
  slack: Switch('Send alerts to Slack (needs `slackWebhookUrl`)'),
  slackWebhookUrl: Secret('A Slack incoming-webhook URL (https)'),
  webhook: Type.Union([Type.String({ maxLength: 2048, pattern: '^https?://' }), Type.Null()], { description: 'The URL alerts are POSTed to, signed per Standard Webhooks; null: no webhook' }),
  webhookSecret: Secret('The webhook signing secret (`whsec_` and base64, as Standard Webhooks libraries expect); one is generated when a webhook is set without one')
}, { additionalProperties: false, $id: 'NotificationSettings' })

export const AlertRules = Type.Object({
  repeatIntervalMinutes: Minutes('A firing alert is notified again at most this often'),
  serverError: Type.Object({
    enabled: Switch('A server gave up (`error`) or is crash-looping'),
    restarts: Type.Integer({ minimum: 1, maximum: 1000, description: 'Crash-looping: this many restarts…' }),
    withinMinutes: Minutes('…within this many minutes')
  }, { additionalProperties: false }),
  serverStopped: Type.Object({
    enabled: Switch('A running server exited and nobody asked it to stop')
  }, { additionalProperties: false }),
  toolErrorRate: Type.Object({
    enabled: Switch('Tool calls of a server fail too often over 5 minutes'),
    percent: Type.Number({ minimum: 0, maximum: 100, description: 'Error rate over which it fires' }),
    minCalls: Type.Integer({ minimum: 1, maximum: 100000, description: 'Fewer calls in the 5 minutes never fire' })
  }, { additionalProperties: false }),
  toolLatency: Type.Object({
    enabled: Switch('Tool calls of a server are slow over 5 minutes'),
    p95Ms: Type.Integer({ minimum: 1, maximum: 3600000, description: 'p95 call time over which it fires' })
  }, { additionalProperties: false }),
  signInFailures: Type.Object({
    enabled: Switch('Someone may be guessing passwords'),
    perMinute: Type.Integer({ minimum: 1, maximum: 100000, description: 'Failed sign-ins in one minute, hub-wide' }),
    perAccountPerMinute: Type.Integer({ minimum: 1, maximum: 100000, description: 'Failed sign-ins in one minute for one account' })
  }, { additionalProperties: false }),
  refreshTokenReuse: Type.Object({
    enabled: Switch('A spent refresh token was used again (its session family is revoked)')
  }, { additionalProperties: false }),
  databaseUnreachable: Type.Object({
    enabled: Switch('The database does not answer')
  }, { additionalProperties: false })
}, { additionalProperties: false, $id: 'AlertRules' })

export const HubSettings = Type.Object({
  smtp: SmtpSettings,
  notifications: NotificationSettings,
  alerts: AlertRules
}, { additionalProperties: false, $id: 'HubSettings' })

export type Settings = Static<typeof HubSettings>
export type Smtp = Static<typeof SmtpSettings>
export type Notifications = Static<typeof NotificationSettings>
export type Rules = Static<typeof AlertRules>

/** What a hub starts with before an admin or the environment (MCPHUB_SMTP_*, …) says otherwise. */
export const DEFAULT_SETTINGS: Settings = {
  smtp: { host: null, port: 587, secure: false, auth: { user: null, pass: null }, from: null },
  notifications: { email: false, emailTo: [], slack: false, slackWebhookUrl: null, webhook: null, webhookSecret: null },
  alerts: {
    repeatIntervalMinutes: 60,
    serverError: { enabled: true, restarts: 5, withinMinutes: 10 },
    serverStopped: { enabled: true },
    toolErrorRate: { enabled: true, percent: 20, minCalls: 20 },
    toolLatency: { enabled: true, p95Ms: 10000 },
    signInFailures: { enabled: true, perMinute: 30, perAccountPerMinute: 10 },
    refreshTokenReuse: { enabled: true },
    databaseUnreachable: { enabled: true }
  }
}

/** The secrets among the settings, as paths: sealed at rest, masked in answers, kept when the mask comes back. */
export const SECRET_PATHS = [['smtp', 'auth', 'pass'], ['notifications', 'slackWebhookUrl'], ['notifications', 'webhookSecret']] as const
