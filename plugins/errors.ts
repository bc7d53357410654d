import fp from 'fastify-plugin'
import { UNIQUE_FIELDS } from '../db/schema.ts'
import { AUTHENTICATE_CHALLENGE, notFound, toHubError } from '../lib/errors.ts'
import { failure } from '../lib/envelope.ts'

/** Renders every error, and every unknown route, in the contract's envelope. */
export default fp(async (app) => {
  app.setErrorHandler((thrown, request, reply) => {
    const error = toHubError(thrown, UNIQUE_FIELDS)
    if (error.statusCode >= 500) {
      request.log.error({ err: thrown }, 'request failed')
    } else {
      request.log.info({ code: error.code, reason: error.message }, 'request refused')
    }
    if (error.code === 'AUTHENTICATION_FAILED') reply.header('www-authenticate', AUTHENTICATE_CHALLENGE)
    if (error.code === 'RATE_LIMIT_EXCEEDED' && reply.getHeader('retry-after') === undefined) {
      reply.header('retry-after', 60)
    }
    return reply.code(error.statusCode).type('application/json; charset=utf-8').send(failure(error))
  })

  // Unknown routes are rate limited like the rest, so probing them is not free.
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, (request, reply) => {
    return reply.code(404).send(failure(notFound(`Route ${request.method} ${request.url.split('?')[0]}`)))
  })
}, { name: 'errors', dependencies: ['rate-limit'] })
