import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ok } from '../../lib/envelope.ts'
import { errorResponses, Ref } from '../../lib/schemas.ts'
import { listHubLogs } from '../../logs/store.ts'
import * as schemas from './schemas.ts'

/** `GET /api/monitoring/logs`: the hub's own log, and servers' lines, for admins. */
const logRoutes: FastifyPluginAsyncTypebox = async (app) => {
  for (const schema of schemas.LOG_SCHEMAS) app.addSchema(schema)

  app.get('/logs', {
    config: { access: 'admin' },
    schema: {
      operationId: 'listHubLogs',
      tags: ['monitoring'],
      summary: 'The hub\'s own log, newest first (admins)',
      description: 'Entries at or above the store level (`MCPHUB_LOG_STORE_LEVEL`, else `LOG_LEVEL`), redacted as on stdout, kept `MCPHUB_LOG_RETENTION_DAYS` days and at most 100,000 of them; Fastify\'s per-request access lines are not stored. Without `source`, the hub\'s own entries of every source; with `source=server:<key>`, that server\'s captured lines. Paged with a cursor: pass the previous page\'s `nextCursor` as `cursor`.',
      querystring: schemas.HubLogQuery,
      response: { 200: Ref(schemas.HubLogPage, 'A page of log entries'), ...errorResponses(403, 404, 422) }
    }
  }, async (request) => {
    // What was just logged is listed too.
    await app.hubLog.flush()
    if (request.query.source?.startsWith('server:') === true) await app.flushServerLogs()
    return ok(await listHubLogs(app.db, request.query))
  })
}

export default logRoutes
