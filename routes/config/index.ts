import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { ok } from '../../lib/envelope.ts'
import { errorResponses, Ref } from '../../lib/schemas.ts'
import { principalOf } from '../../plugins/access.ts'
import { maskSecrets, type StoredSettings } from '../../settings/store.ts'
import * as schemas from './schemas.ts'

/** The version an `If-Match` names (`"3"`, `W/"3"`); undefined for `*` or none. */
function versionOf (ifMatch: string | undefined): number | undefined {
  const digits = ifMatch?.match(/"([0-9]+)"/)?.[1]
  return digits === undefined ? undefined : Number(digits)
}

const config: FastifyPluginAsyncTypebox = async (app) => {
  for (const schema of schemas.SCHEMAS) app.addSchema(schema)

  const answer = (reply: FastifyReply, { settings, version }: StoredSettings) => {
    reply.header('etag', `"${version}"`)
    return ok(maskSecrets(settings))
  }

  app.get('', {
    config: { access: 'admin' },
    schema: {
      operationId: 'getConfig',
      tags: ['config'],
      summary: 'The hub\'s settings: SMTP, notification channels, alert rules (secrets masked)',
      description: 'The `ETag` header is the settings\' version: send it back as `If-Match` with a change.',
      response: { 200: { ...Ref(schemas.ConfigEnvelope, 'The settings in effect, secrets masked'), headers: schemas.EtagHeader } }
    }
  }, async (_request, reply) => answer(reply, await app.settings.read()))

  app.put('', {
    config: { access: 'admin', activity: { action: 'config.update' } },
    schema: {
      operationId: 'updateConfig',
      tags: ['config'],
      summary: 'Replace one or more sections of the settings',
      description: 'Each section sent replaces the stored one whole; `********` sent for a secret keeps it. With `If-Match`, refused with a 409 when the settings changed since that version. Email needs `smtp.host` and `emailTo`, Slack needs `slackWebhookUrl`; a webhook without a secret gets a new one. The activity entry lists the fields that changed, never their values.',
      headers: schemas.ConfigHeaders,
      body: Ref(schemas.UpdateConfig),
      response: { 200: { ...Ref(schemas.ConfigEnvelope, 'The settings now in effect, secrets masked, with the new `ETag`'), headers: schemas.EtagHeader }, ...errorResponses(400, 409, 422) }
    }
  }, async (request, reply) => {
    const by = principalOf(request).userId
    const updated = await app.settings.update(request.body, { ifVersion: versionOf(request.headers['if-match']), by })
    app.activity.fields(request, updated.changed)
    request.log.info({ changed: updated.changed, version: updated.version, by }, 'settings updated')
    return answer(reply, updated)
  })
}

export default config
