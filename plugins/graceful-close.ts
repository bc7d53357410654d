import fp from 'fastify-plugin'
import { notReady } from '../lib/errors.ts'

/**
 * Once the hub is closing, new requests get 503 in the contract's envelope (before any
 * credential is looked up), and responses to requests still in flight ask the client to close
 * its keep-alive connection, so shutdown waits for those requests and not for idle sockets.
 */
export default fp(async (app) => {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  // Callback hooks: they run on every request, and a promise each would cost more than the check.
  app.addHook('onRequest', (_request, _reply, done) => {
    done(closing ? notReady('The hub is shutting down') : undefined)
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'graceful-close' })
