import fp from 'fastify-plugin'

/**
 * Once the hub is closing, responses to requests still in flight ask the client to close its
 * keep-alive connection, so shutdown waits for those requests and not for idle sockets.
 */
export default fp(async (app) => {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}, { name: 'graceful-close' })
