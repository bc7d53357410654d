import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { UNIQUE_FIELDS } from '../db/schema.ts'
import { AUTHENTICATE_CHALLENGE, headersTooLarge, invalidRequest, notFound, requestTimedOut, toHubError } from '../lib/errors.ts'
import { failure } from '../lib/envelope.ts'

/** Errors of the router, before any route or hook runs (a URL that cannot be decoded, a path parameter too long). */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const hubError = toHubError(error)
  request.log.info({ code: error.code }, 'request refused: ' + hubError.message)
  reply.code(hubError.statusCode).type('application/json; charset=utf-8').send(failure(hubError))
}

/**
 * Errors on a connection before Fastify has a request (a request not received in time, headers
 * too large, bad HTTP): written straight to the socket, still in the contract's envelope.
 */
export function clientErrorHandler (this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const hubError = error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? requestTimedOut()
    : error.code === 'HPE_HEADER_OVERFLOW' ? headersTooLarge() : invalidRequest('Malformed HTTP request')
  // Debug, not info: a flood of broken connections must not flood the log.
  this.log.debug({ code: error.code }, 'connection refused: ' + hubError.message)
  if (socket.writable) {
    const body = JSON.stringify(failure(hubError))
    socket.write(`HTTP/1.1 ${hubError.statusCode} ${STATUS_CODES[hubError.statusCode]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
  socket.destroy()
}

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
