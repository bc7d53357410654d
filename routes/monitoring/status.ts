import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ok } from '../../lib/envelope.ts'
import { errorResponses, Ref } from '../../lib/schemas.ts'
import { monitoringStatus } from '../../metrics/status.ts'
import { principalOf } from '../../plugins/access.ts'
import * as schemas from './schemas.ts'

const status: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/status', {
    config: { access: 'user' },
    schema: {
      operationId: 'getMonitoringStatus',
      tags: ['monitoring'],
      summary: 'The hub\'s process, its servers by state and the last minutes\' performance',
      description: 'Admins: every server, and the hub\'s HTTP requests; users: the servers they may read, and the tool calls of those servers.',
      response: { 200: Ref(schemas.MonitoringStatusEnvelope, 'The hub\'s status'), ...errorResponses() }
    }
  }, async (request) => {
    return ok(await monitoringStatus(app.db, app.metrics, principalOf(request), {
      now: app.metricHistory.now(),
      stateOf: (id) => app.supervisor.get(id)?.state
    }))
  })
}

export default status
