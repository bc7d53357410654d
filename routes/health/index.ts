import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { notReady } from '../../lib/errors.ts'
import { errorResponses, Ref } from '../../lib/schemas.ts'

const Health = Type.Object({
  status: Type.Literal('ok'),
  uptime: Type.Number({ description: 'Seconds since the process started' })
}, { $id: 'Health', examples: [{ status: 'ok', uptime: 42.5 }] })

const Ready = Type.Object({
  status: Type.Literal('ready'),
  database: Type.Enum(['pg', 'pglite'])
}, { $id: 'Readiness', examples: [{ status: 'ready', database: 'pg' }] })

/** Probes for orchestrators: bare JSON (no envelope), no authentication, no rate limit. */
const health: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(Health)
  app.addSchema(Ready)
  app.get('/healthz', {
    config: { access: 'public', rateLimit: false },
    schema: {
      operationId: 'getHealth',
      tags: ['operations'],
      summary: 'Liveness: the process is up',
      response: { 200: Ref(Health, 'The process is up'), ...errorResponses() }
    }
  }, async () => ({ status: 'ok' as const, uptime: process.uptime() }))

  app.get('/readyz', {
    config: { access: 'public', rateLimit: false },
    schema: {
      operationId: 'getReadiness',
      tags: ['operations'],
      summary: 'Readiness: the database answers',
      description: 'Answers 503 while the database is unreachable and recovers by itself when it returns.',
      response: { 200: Ref(Ready, 'The database answers'), ...errorResponses(503) }
    }
  }, async (request) => {
    try {
      await app.database.ping()
    } catch (error) {
      request.log.warn({ err: { message: (error as Error).message } }, 'database unreachable')
      throw notReady('Database unreachable')
    }
    return { status: 'ready' as const, database: app.database.driver }
  })
}

export default health
