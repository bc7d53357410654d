import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ok } from '../../lib/envelope.ts'
import { Envelope, errorResponses, Nullable, OPTIONAL_BODY, Ref } from '../../lib/schemas.ts'
import { CHANNELS } from '../../notifications/message.ts'

const ChannelName = (description: string) => Type.Enum(CHANNELS, { description })

export const NotificationTestBody = Type.Object({
  channel: Type.Optional(ChannelName('Only this channel (it must be enabled); every enabled channel when left out'))
}, { $id: 'NotificationTestBody', additionalProperties: false })

export const NotificationTestResult = Type.Object({
  channel: ChannelName('The channel tried'),
  delivered: Type.Boolean({ description: 'The receiver accepted the message' }),
  error: Nullable(Type.String({ description: 'Why not, in plain words (refused address, DNS, TLS, authentication failed, HTTP status); null when delivered' }))
}, { $id: 'NotificationTestResult', additionalProperties: false })

export const NotificationTestEnvelope = Envelope('NotificationTestEnvelope', Type.Array(Ref(NotificationTestResult)), [
  { channel: 'email', delivered: true, error: null },
  { channel: 'slack', delivered: false, error: 'Slack: hooks.slack.com answered HTTP 404' }
])

/** `POST /api/config/notifications/test`: a test message on the enabled channels, now, each outcome reported. */
const notificationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  for (const schema of [NotificationTestBody, NotificationTestResult, NotificationTestEnvelope]) app.addSchema(schema)

  app.post('/notifications/test', {
    config: { access: 'admin', activity: { action: 'config.notifications.test' } },
    schema: {
      operationId: 'testNotifications',
      tags: ['config'],
      summary: 'Send a test notification on every enabled channel (or one), now, and report each outcome',
      description: 'Sent directly, not through the outbox: the answer says per channel whether the receiver accepted it, or why not. 422 when no channel (or not the one named) is enabled. Webhook bodies follow the `WebhookPayload` schema.',
      body: Type.Optional(Ref(NotificationTestBody)),
      [OPTIONAL_BODY]: true,
      response: { 200: Ref(NotificationTestEnvelope, 'One result per channel tried'), ...errorResponses(400, 401, 403, 422) }
    }
  }, async (request) => {
    return ok(await app.notifications.sendTest(request.body?.channel))
  })
}

export default notificationRoutes
