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
  app.addHook('onRequest', async () => {
    if (closing) throw notReady('The hub is shutting down')
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}, { name: 'graceful-close' })
