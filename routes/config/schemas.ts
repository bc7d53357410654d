import { Type } from 'typebox'
import { Envelope, Ref } from '../../lib/schemas.ts'
import { AlertRules, DEFAULT_SETTINGS, MASK, NotificationSettings, SmtpSettings } from '../../settings/schemas.ts'

export const HubConfig = Type.Object({
  smtp: Ref(SmtpSettings),
  notifications: Ref(NotificationSettings),
  alerts: Ref(AlertRules)
}, {
  $id: 'HubConfig',
  additionalProperties: false,
  description: `The hub's settings. Secrets read as \`${MASK}\` when set, null when not. A section no admin has stored shows the defaults with the environment's preset (MCPHUB_SMTP_*, …) on them.`
})

export const UpdateConfig = Type.Object({
  smtp: Type.Optional(Ref(SmtpSettings)),
  notifications: Type.Optional(Ref(NotificationSettings)),
  alerts: Type.Optional(Ref(AlertRules))
}, {
  $id: 'UpdateConfig',
  additionalProperties: false,
  minProperties: 1,
  description: `One or more sections, each replaced whole. A secret sent as \`${MASK}\` keeps its value.`
})

export const ConfigHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({
    pattern: '^(\\*|(W/)?"[0-9]{1,10}")$',
    description: 'The `ETag` of the settings the change was made to (`"3"`): refused with a 409 when they changed since'
  }))
})

/** The response header that carries the settings' version. */
export const EtagHeader = {
  ETag: { type: 'string', pattern: '^"[0-9]+"$', description: 'The settings\' version (`"3"`): send it back as `If-Match`', examples: ['"3"'] }
}

const example = {
  ...DEFAULT_SETTINGS,
  smtp: { ...DEFAULT_SETTINGS.smtp, host: 'smtp.example.com', auth: { user: 'mcphub', pass: MASK }, from: 'mcphub@example.com' },
  notifications: { ...DEFAULT_SETTINGS.notifications, email: true, emailTo: ['ops@example.com'] }
}
export const ConfigEnvelope = Envelope('ConfigEnvelope', Ref(HubConfig), example)

export const SCHEMAS = [SmtpSettings, NotificationSettings, AlertRules, HubConfig, UpdateConfig, ConfigEnvelope]
