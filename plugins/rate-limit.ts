import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { RateLimits } from '../lib/config.ts'
import { rateLimited } from '../lib/errors.ts'
import { WindowCounter } from '../lib/window-counter.ts'

export interface RateLimitOptions {
  limits: RateLimits
}

const WINDOW_MS = 60_000

/**
 * The budget key of an anonymous caller: the IPv4 address, or the /64 of an IPv6 address (one
 * customer's allocation), so that rotating addresses inside it gains nothing.
 */
export function addressKey (ip: string): string {
  if (!ip.includes(':') || ip.startsWith('::ffff:')) return ip.replace(/^::ffff:/, '')
  const [head = '', tail = ''] = ip.toLowerCase().split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left
  return groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':') + '::/64'
}

/**
 * Per-minute request budgets by tier: per IP for anonymous callers (an invalid token counts as
 * anonymous), per user for users and admins. `0` turns a tier off. Every limited response
 * carries X-RateLimit-Limit/-Remaining/-Reset, the reset as epoch seconds as the contract says.
 */
export default fp<RateLimitOptions>(async (app, { limits }) => {
  const limitFor = (request: FastifyRequest): number => {
    const principal = request.principal
    if (principal === null) return limits.anonymous
    return principal.role === 'admin' ? limits.admin : limits.user
  }

  // In Redis when configured (several hubs share one budget), failing fast to memory while Redis is down.
  const counter = new WindowCounter({ redis: app.sharedRedis, now: Date.now, name: 'rate-limit' })
  class Store {
    #scope = ''

    incr (key: string, done: (error: Error | null, result?: { current: number, ttl: number }) => void, timeWindow: number): void {
      counter.increment(this.#scope + key, timeWindow).then(({ count, resetInMs }) => done(null, { current: count, ttl: resetInMs }), done)
    }

    /** A route with limits of its own counts apart. */
    child (routeOptions: object): Store {
      const { routeInfo } = routeOptions as { routeInfo?: { method?: unknown, url?: unknown } }
      const route = routeInfo?.url === undefined ? '' : `${String(routeInfo.method)}${String(routeInfo.url)}:`
      const store = new Store()
      store.#scope = this.#scope + route
      return store
    }
  }

  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    timeWindow: WINDOW_MS,
    max: (request) => limitFor(request),
    allowList: (request) => limitFor(request) === 0,
    keyGenerator: (request) => request.principal === null ? `ip:${addressKey(request.ip)}` : `user:${request.principal.userId}`,
    store: Store,
    skipOnError: true,
    errorResponseBuilder: () => rateLimited()
  })

  // The plugin reports seconds until the window resets; the contract's header is an epoch time.
  app.addHook('onSend', (_request, reply, payload, done) => {
    const reset = reply.getHeader('x-ratelimit-reset')
    if (reset !== undefined) reply.header('x-ratelimit-reset', Math.ceil(Date.now() / 1000) + Number(reset))
    done(null, payload)
  })
}, { name: 'rate-limit', dependencies: ['auth', 'redis'] })
