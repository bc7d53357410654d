import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import type { App } from '../app.ts'
import { build, createUser, signIn, TEST_ADMIN } from './helper.ts'

/** A subtest, as tap hands it to `t.test` callbacks. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const WINDOW_SECONDS = 60

/** The Redis the CI provides; the Redis tests are skipped without it. */
const REDIS_URL = process.env.REDIS_URL
/** The rate-limit counters' keys under this run's prefix (the test config's redisKeyPrefix). */
const NAMESPACE = `mcphub-test-${process.pid}:rate-limit:`

function header (res: LightMyRequestResponse, name: string): string | undefined {
  const value = res.headers[name]
  return value === undefined ? undefined : String(value)
}

/**
 * The rate-limit headers of a response under the limit: the tier's limit, what is left, and the
 * reset as epoch seconds a little in the future (not a delta of seconds).
 */
function assertBudget (t: Test, res: LightMyRequestResponse, limit: number, remaining: number, what: string): number {
  t.equal(header(res, 'x-ratelimit-limit'), String(limit), `${what}: x-ratelimit-limit`)
  t.equal(header(res, 'x-ratelimit-remaining'), String(remaining), `${what}: x-ratelimit-remaining`)
  return assertResetEpoch(t, res, what)
}

function assertResetEpoch (t: Test, res: LightMyRequestResponse, what: string): number {
  const raw = header(res, 'x-ratelimit-reset')
  t.match(raw, /^\d+$/, `${what}: x-ratelimit-reset is an integer`)
  const reset = Number(raw)
  const now = Math.ceil(Date.now() / 1000)
  t.ok(reset > now, `${what}: x-ratelimit-reset ${reset} is in the future of ${now} (epoch seconds, not a delta)`)
  t.ok(reset <= now + WINDOW_SECONDS + 1, `${what}: x-ratelimit-reset ${reset} is within one window of ${now}`)
  return reset
}

/** 429 in the error envelope, with Retry-After (seconds) and the exhausted budget's headers. */
function assertTooMany (t: Test, res: LightMyRequestResponse, limit: number, what: string): void {
  t.equal(res.statusCode, 429, `${what}: 429`)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['error', 'success', 'timestamp'], `${what}: error envelope`)
  t.equal(body.success, false, `${what}: success false`)
  t.equal(body.error.code, 'RATE_LIMIT_EXCEEDED', `${what}: code`)
  t.type(body.error.message, 'string', `${what}: message`)
  t.ok(body.error.message.length > 0, `${what}: message not empty`)
  t.match(body.timestamp, ISO, `${what}: timestamp`)
  const retryAfter = header(res, 'retry-after')
  t.match(retryAfter, /^\d+$/, `${what}: retry-after is whole seconds`)
  t.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= WINDOW_SECONDS, `${what}: retry-after ${retryAfter} within the window`)
  assertBudget(t, res, limit, 0, what)
}

function assertUnlimited (t: Test, res: LightMyRequestResponse, what: string): void {
  for (const name of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after']) {
    t.equal(res.headers[name], undefined, `${what}: no ${name}`)
  }
}

const verify = (app: App, remoteAddress: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url: '/api/auth/verify', remoteAddress, headers })

let anonymousOnly: Promise<App> | undefined

/** A hub limiting anonymous callers to 3, the other tiers off: shared by the tests that need just that, each calling from addresses of its own. */
const anonymousOnlyHub = () => (anonymousOnly ??= build(t, 'pglite', { config: { rateLimits: { anonymous: 3, user: 0, admin: 0, mcp: 0 } } }))

t.test('anonymous tier: per IP, exact headers, then 429 in the envelope with Retry-After', async (t) => {
  const app = await anonymousOnlyHub()
  const ip = '10.0.0.1'

  const resets: number[] = []
  for (let i = 1; i <= 3; i++) {
    const res = await verify(app, ip)
    t.equal(res.statusCode, 401, `request ${i}: anonymous /verify is refused, yet counted`)
    t.equal(res.json().error.code, 'AUTHENTICATION_FAILED')
    resets.push(assertBudget(t, res, 3, 3 - i, `request ${i}`))
  }
  t.ok(Math.max(...resets) - Math.min(...resets) <= 1, 'the reset stays put within one window')

  const over = await verify(app, ip)
  assertTooMany(t, over, 3, 'request 4')
  t.ok(Number(header(over, 'x-ratelimit-reset')) - Math.max(...resets) <= 1, 'the 429 names the same reset')

  const login = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: TEST_ADMIN })
  assertTooMany(t, login, 3, 'login from the exhausted IP')

  const other = await verify(app, '10.0.0.2')
  t.equal(other.statusCode, 401, 'another IP has its own budget')
  assertBudget(t, other, 3, 2, 'another IP')
})

t.test('user and admin tiers: their own limits, keyed per user, not per IP', async (t) => {
  const limits = { anonymous: 3, user: 4, admin: 6, mcp: 0 }
  const app = await build(t, 'pglite', { config: { rateLimits: limits } })
  // Three anonymous logins from 127.0.0.1 (the admin's and the two users'): the IP's whole budget.
  const admin = await signIn(app)
  const alice = await createUser(app, admin)
  const bob = await createUser(app, admin)

  t.test('127.0.0.1 is out of anonymous budget after the three logins', async (t) => {
    assertTooMany(t, await app.inject({ method: 'GET', url: '/api/auth/verify' }), limits.anonymous, 'anonymous from 127.0.0.1')
  })

  t.test('each user gets the full user budget, from the same IP', async (t) => {
    for (const user of [alice, bob]) {
      for (let i = 1; i <= limits.user; i++) {
        const res = await app.inject({ method: 'GET', url: '/api/auth/verify', headers: user.headers })
        t.equal(res.statusCode, 200, `${user.username} request ${i}`)
        assertBudget(t, res, limits.user, limits.user - i, `${user.username} request ${i}`)
      }
      assertTooMany(t, await app.inject({ method: 'GET', url: '/api/auth/verify', headers: user.headers }), limits.user, `${user.username} over`)
    }
  })

  t.test('the admin has the admin budget, untouched by the users', async (t) => {
    // The admin has spent 2 requests creating the users.
    const spent = 2
    for (let i = spent + 1; i <= limits.admin; i++) {
      const res = await app.inject({ method: 'GET', url: '/api/users', headers: admin.headers })
      t.equal(res.statusCode, 200, `admin request ${i}`)
      assertBudget(t, res, limits.admin, limits.admin - i, `admin request ${i}`)
    }
    assertTooMany(t, await app.inject({ method: 'GET', url: '/api/users', headers: admin.headers }), limits.admin, 'admin over')
    // The admin's own /verify shares the admin's budget: per principal, not per route.
    assertTooMany(t, await app.inject({ method: 'GET', url: '/api/auth/verify', headers: admin.headers }), limits.admin, 'admin /verify over')
  })
})

t.test('an invalid credential counts as anonymous, on the IP budget', async (t) => {
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 3, user: 50, admin: 50, mcp: 0 } } })
  const admin = await signIn(app)
  const ip = '10.0.0.3'
  const tampered = admin.token.slice(0, -2) + (admin.token.endsWith('AA') ? 'BB' : 'AA')

  const cases: Array<[string, Record<string, string>]> = [
    ['a garbage bearer token', { authorization: 'Bearer not-a-jwt' }],
    ['a tampered bearer token', { authorization: `Bearer ${tampered}` }],
    ['an unknown API key', { 'x-api-key': 'mcp_nope_0123456789abcdef' }]
  ]
  for (const [i, [what, headers]] of cases.entries()) {
    const res = await verify(app, ip, headers)
    t.equal(res.statusCode, 401, `${what}: 401`)
    assertBudget(t, res, 3, 2 - i, `${what}: anonymous limit and the IP's remaining`)
  }
  assertTooMany(t, await verify(app, ip), 3, 'no credential from the same IP')
  assertTooMany(t, await verify(app, ip, { authorization: 'Bearer not-a-jwt' }), 3, 'invalid token from the same IP')

  const valid = await verify(app, ip, admin.headers)
  t.equal(valid.statusCode, 200, 'a valid token from the same IP is not on the IP budget')
  assertBudget(t, valid, 50, 49, 'valid admin token')
})

t.test('a tier set to 0 is unlimited and carries no rate-limit headers', async (t) => {
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 0, user: 3, admin: 0, mcp: 0 } } })
  const admin = await signIn(app)
  const user = await createUser(app, admin)

  for (let i = 1; i <= 20; i++) {
    const res = await verify(app, '10.0.0.4')
    t.equal(res.statusCode, 401, `anonymous request ${i} is never 429`)
    assertUnlimited(t, res, `anonymous request ${i}`)
  }
  for (let i = 1; i <= 20; i++) {
    const res = await app.inject({ method: 'GET', url: '/api/users', headers: admin.headers })
    t.equal(res.statusCode, 200, `admin request ${i} is never 429`)
    assertUnlimited(t, res, `admin request ${i}`)
  }
  const notFound = await app.inject({ method: 'GET', url: '/api/no/such/route', remoteAddress: '10.0.0.4' })
  t.equal(notFound.statusCode, 404)
  assertUnlimited(t, notFound, 'anonymous 404')

  // The user tier stays limited while the others are off.
  for (let i = 1; i <= 3; i++) {
    const res = await verify(app, '10.0.0.4', user.headers)
    t.equal(res.statusCode, 200)
    assertBudget(t, res, 3, 3 - i, `user request ${i}`)
  }
  assertTooMany(t, await verify(app, '10.0.0.4', user.headers), 3, 'user over')
})

t.test('unknown routes (404) are limited and carry the headers', async (t) => {
  const app = await anonymousOnlyHub()
  const ip = '10.0.0.5'
  const requests = [
    { method: 'GET' as const, url: '/api/no/such/route' },
    { method: 'POST' as const, url: '/api/nope' },
    { method: 'DELETE' as const, url: '/api/users' }
  ]
  for (const [i, request] of requests.entries()) {
    const res = await app.inject({ ...request, remoteAddress: ip })
    t.equal(res.statusCode, 404, `${request.method} ${request.url}: 404`)
    t.equal(res.json().error.code, 'RESOURCE_NOT_FOUND')
    assertBudget(t, res, 3, 2 - i, `${request.method} ${request.url}`)
  }
  assertTooMany(t, await app.inject({ method: 'GET', url: '/api/no/such/route', remoteAddress: ip }), 3, '404 over the limit')
  assertTooMany(t, await verify(app, ip), 3, '404s spend the same budget as real routes')
})

t.test('probes are exempt: orchestrators polling /healthz and /readyz never get 429', async (t) => {
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 1, user: 0, admin: 0, mcp: 0 } } })
  const ip = '10.0.0.6'
  for (let i = 0; i < 5; i++) {
    for (const url of ['/healthz', '/readyz']) {
      const res = await app.inject({ method: 'GET', url, remoteAddress: ip })
      t.equal(res.statusCode, 200, `${url} #${i + 1}`)
      t.notOk(res.headers['x-ratelimit-limit'], `${url} carries no budget`)
    }
  }
  assertBudget(t, await app.inject({ method: 'GET', url: '/api/auth/verify', remoteAddress: ip }), 1, 0, 'the API budget is untouched by probes')
})

t.test('IPv6 callers share one budget per /64, so rotating addresses does not help', async (t) => {
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 2, user: 0, admin: 0, mcp: 0 } } })
  assertBudget(t, await app.inject({ method: 'GET', url: '/api/auth/verify', remoteAddress: '2001:db8:1:2::1' }), 2, 1, 'first address')
  assertBudget(t, await app.inject({ method: 'GET', url: '/api/auth/verify', remoteAddress: '2001:db8:1:2:ffff::9' }), 2, 0, 'another address, same /64')
  assertTooMany(t, await app.inject({ method: 'GET', url: '/api/auth/verify', remoteAddress: '2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd' }), 2, 'third address, same /64')
  assertBudget(t, await app.inject({ method: 'GET', url: '/api/auth/verify', remoteAddress: '2001:db8:1:3::1' }), 2, 1, 'another /64 has its own budget')
})

async function clearRateLimitKeys (redis: Redis): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${NAMESPACE}*`, 'COUNT', 500)
    if (keys.length > 0) await redis.del(...keys)
    cursor = next
  } while (cursor !== '0')
}

t.test('redis store', { skip: REDIS_URL === undefined ? 'REDIS_URL is not set' : false }, async (t) => {
  const redisUrl = REDIS_URL as string
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    await clearRateLimitKeys(redis)
    await redis.quit()
  })
  // A process with this pid may have left counters under the same prefix.
  await clearRateLimitKeys(redis)

  t.test('two hubs on one Redis share one budget', async (t) => {
    const config = { rateLimits: { anonymous: 3, user: 0, admin: 0, mcp: 0 }, redisUrl }
    const hubA = await build(t, 'pglite', { config })
    const hubB = await build(t, 'pglite', { config })
    const ip = '10.0.1.1'

    const a1 = await verify(hubA, ip)
    assertBudget(t, a1, 3, 2, 'hub A, request 1')
    const a2 = await verify(hubA, ip)
    assertBudget(t, a2, 3, 1, 'hub A, request 2')
    const b1 = await verify(hubB, ip)
    t.equal(b1.statusCode, 401)
    assertBudget(t, b1, 3, 0, 'hub B, request 3 overall')
    assertTooMany(t, await verify(hubB, ip), 3, 'hub B, request 4 overall')
    assertTooMany(t, await verify(hubA, ip), 3, 'hub A, request 5 overall')

    t.equal(await redis.get(`${NAMESPACE}ip:${ip}`), '5', 'the counter lives in Redis under the IP key')
    const ttl = await redis.pttl(`${NAMESPACE}ip:${ip}`)
    t.ok(ttl > 0 && ttl <= WINDOW_SECONDS * 1000, `the counter expires with the window (${ttl} ms)`)
  })

  t.test('the Redis store produces the headers, per IP and per user', async (t) => {
    const limits = { anonymous: 2, user: 3, admin: 0, mcp: 0 }
    const app = await build(t, 'pglite', { config: { rateLimits: limits, redisUrl } })
    const ip = '10.0.1.2'

    for (let i = 1; i <= limits.anonymous; i++) {
      assertBudget(t, await verify(app, ip), limits.anonymous, limits.anonymous - i, `anonymous request ${i}`)
    }
    assertTooMany(t, await verify(app, ip), limits.anonymous, 'anonymous over')
    assertTooMany(t, await verify(app, ip, { authorization: 'Bearer not-a-jwt' }), limits.anonymous, 'invalid token over')

    const admin = await signIn(app)
    const user = await createUser(app, admin)
    for (let i = 1; i <= limits.user; i++) {
      const res = await verify(app, ip, user.headers)
      t.equal(res.statusCode, 200)
      assertBudget(t, res, limits.user, limits.user - i, `user request ${i}`)
    }
    assertTooMany(t, await verify(app, ip, user.headers), limits.user, 'user over')
    t.equal(await redis.get(`${NAMESPACE}user:${user.userId}`), '4', 'the user counter lives in Redis under the user key')
    assertUnlimited(t, await app.inject({ method: 'GET', url: '/api/users', headers: admin.headers }), 'admin tier off')
  })
})

/** A TCP server that accepts connections and never answers: a black-holed Redis. */
async function blackHole (t: Test): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as AddressInfo).port
}

/** A proxy to Redis that can go silent: it keeps the connections open and stops passing replies. */
async function silencingProxy (t: Test, target: URL): Promise<{ port: number, silence: () => void }> {
  let silent = false
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => socket.destroy())
    }
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => {
      if (!silent) client.write(chunk)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as AddressInfo).port, silence: () => { silent = true } }
}

/** Sends `count` anonymous requests one after another; returns their statuses and how long they took. */
async function timedRequests (app: App, ip: string, count: number): Promise<{ statuses: number[], ms: number }> {
  const started = performance.now()
  const statuses: number[] = []
  for (let i = 0; i < count; i++) statuses.push((await verify(app, ip)).statusCode)
  return { statuses, ms: performance.now() - started }
}

t.test('a Redis that accepts connections and never answers neither slows requests nor lifts the limits', async (t) => {
  const port = await blackHole(t)
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 3, user: 0, admin: 0, mcp: 0 }, redisUrl: `redis://127.0.0.1:${port}` } })
  const { statuses, ms } = await timedRequests(app, '10.0.2.1', 20)
  t.same(statuses, [401, 401, 401, ...Array(17).fill(429)], 'counted in memory meanwhile: three allowed, then 429')
  // Before, each request waited for the 2 s connection timeout: 20 requests took 40 s or more.
  t.ok(ms < 2000, `20 requests in ${Math.round(ms)} ms, less than one connection timeout`)
})

t.test('a Redis that goes silent after connecting costs at most one short timeout, then is left alone', { skip: REDIS_URL === undefined ? 'REDIS_URL is not set' : false }, async (t) => {
  const proxy = await silencingProxy(t, new URL(REDIS_URL!))
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 3, user: 0, admin: 0, mcp: 0 }, redisUrl: `redis://127.0.0.1:${proxy.port}`, redisKeyPrefix: `mcphub-test-${process.pid}-silent:` } })
  t.equal(app.sharedRedis?.client.status, 'ready', 'connected through the proxy')
  t.same((await timedRequests(app, '10.0.2.2', 1)).statuses, [401], 'counted in Redis while it answers')

  proxy.silence()
  const { statuses, ms } = await timedRequests(app, '10.0.2.2', 20)
  t.same(statuses, [401, 401, 401, ...Array(17).fill(429)], 'counted in memory once Redis stops answering: the limit still holds')
  t.ok(ms < 2000, `20 requests in ${Math.round(ms)} ms: one command timeout, then Redis is skipped`)
  t.equal(app.sharedRedis?.available, false, 'Redis is left alone for a while')
})
