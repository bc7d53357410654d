import fp from 'fastify-plugin'
import { SharedRedis } from '../lib/redis.ts'

export interface RedisOptions {
  /** Undefined: every counter stays in this process. */
  url: string | undefined
  keyPrefix: string
  now: () => number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Redis shared by several hubs (rate limits, sign-in throttling), if configured. */
    sharedRedis: SharedRedis | undefined
  }
}

export default fp<RedisOptions>(async (app, { url, keyPrefix, now }) => {
  const redis = url === undefined
    ? undefined
    : new SharedRedis({
      url,
      keyPrefix,
      now,
      onError: (error) => app.log.warn({ err: { message: error.message } }, 'redis unreachable; counting in memory meanwhile')
    })
  await redis?.connected()
  app.decorate('sharedRedis', redis)
  app.addHook('onClose', async () => {
    await redis?.close()
  })
}, { name: 'redis' })
