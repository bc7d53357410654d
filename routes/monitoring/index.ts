import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { listActivity } from '../../events/activity.ts'
import { ok } from '../../lib/envelope.ts'
import { errorResponses, Ref } from '../../lib/schemas.ts'
import { principalOf } from '../../plugins/access.ts'
import alerts from './alerts.ts'
import logs from './logs.ts'
import metrics from './metrics.ts'
import * as schemas from './schemas.ts'
import status from './status.ts'

const monitoring: FastifyPluginAsyncTypebox = async (app) => {
  for (const schema of schemas.SCHEMAS) app.addSchema(schema)
  await app.register(status)
  await app.register(metrics)

  app.get('/activity', {
    config: { access: 'user' },
    schema: {
      operationId: 'listActivity',
      tags: ['monitoring'],
      summary: 'The activity trail (audit log), newest first: admins see everything, users their own',
      description: 'Users see what they did and what was done to their account; `filter[userId]` with another user\'s id gets them 403.',
      querystring: schemas.ActivityQuery,
      response: { 200: Ref(schemas.ActivityPage, 'A page of activity entries'), ...errorResponses(403, 422) }
    }
  }, async (request) => {
    // What was just done is listed too.
    await app.activity.flush()
    return ok(await listActivity(app.db, principalOf(request), request.query))
  })

  await app.register(logs)
  await app.register(alerts)
}

export default monitoring
