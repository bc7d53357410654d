import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import type { App } from '../app.ts'
import { totpCode, totpStep } from '../lib/totp.ts'
import { build, createUser, DRIVERS, signIn, TEST_ADMIN } from './helper.ts'
import { createApiKey, enrolMfa, verifyWith, wrongCode } from './helpers/auth.ts'

/** The Redis the CI provides; the Redis tests are skipped without it. */
const REDIS_URL = process.env.REDIS_URL

for (const driver of DRIVERS) {
  // One hub for the two tests on the real clock, one for the two on a clock of their own: each
  // test acts on a user of its own (building a hub is seconds of CPU).
  t.test(`${driver}: on the real clock`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)

    t.test('an API key cannot act on its owner\'s account security', async (t) => {
      const user = await createUser(app, admin)
      const { key } = await createApiKey(app, user)
      const byKey = { 'x-api-key': key }
      const adminKey = { 'x-api-key': (await createApiKey(app, admin)).key }

      const refused: Array<[string, { method: 'POST' | 'PUT' | 'DELETE', url: string, headers: Record<string, string>, payload?: object }]> = [
        ['MFA enrolment', { method: 'POST', url: '/api/auth/mfa/enroll', headers: byKey }],
        ['MFA confirmation', { method: 'POST', url: '/api/auth/mfa/confirm', headers: byKey, payload: { code: '123456' } }],
        ['turning MFA off', { method: 'POST', url: '/api/auth/mfa/disable', headers: byKey, payload: { code: '123456' } }],
        ['a new API key', { method: 'POST', url: '/api/auth/api-keys', headers: byKey, payload: { name: 'successor' } }],
        ['a password change', { method: 'PUT', url: `/api/users/${user.userId}`, headers: byKey, payload: { currentPassword: user.password, password: 'a-password-set-by-a-key' } }],
        ['an admin key resetting MFA', { method: 'DELETE', url: `/api/auth/mfa/${user.userId}`, headers: adminKey }],
        ['an admin key setting a password', { method: 'PUT', url: `/api/users/${user.userId}`, headers: adminKey, payload: { password: 'a-password-set-by-a-key' } }]
      ]
      for (const [what, request] of refused) {
        const res = await app.inject(request)
        t.equal(res.statusCode, 403, `${what}: 403`)
        t.equal(res.json().error.code, 'AUTHORIZATION_FAILED')
        t.match(res.json().error.message, /signed-in session/, `${what}: the message says what is needed`)
      }
      t.same((await app.inject({ method: 'GET', url: '/api/auth/mfa', headers: user.headers })).json().data, { enabled: false, pending: false }, 'no enrolment was started')
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/api-keys', headers: user.headers })).json().data.length, 1, 'no key was created')
      await signIn(app, user.username, user.password)
      t.equal((await verifyWith(app, byKey)).statusCode, 200, 'the key itself still works')
    })

    t.test('a new password revokes the user\'s API keys, unless asked to keep them', async (t) => {
      const user = await createUser(app, admin)
      const change = (payload: object) => app.inject({ method: 'PUT', url: `/api/users/${user.userId}`, headers: user.headers, payload })

      const kept = await createApiKey(app, user)
      t.equal((await change({ currentPassword: user.password, password: 'second-password', keepApiKeys: true })).statusCode, 200)
      t.equal((await verifyWith(app, { 'x-api-key': kept.key })).statusCode, 200, 'keepApiKeys: the key still works')

      const lonely = await change({ keepApiKeys: true })
      t.equal(lonely.statusCode, 422, 'keepApiKeys without a password is refused')
      t.equal(lonely.json().error.details.field, 'keepApiKeys')

      t.equal((await change({ currentPassword: 'second-password', password: 'third-password' })).statusCode, 200)
      t.equal((await verifyWith(app, { 'x-api-key': kept.key })).statusCode, 401, 'by default the key is revoked')
      const [listed] = (await app.inject({ method: 'GET', url: '/api/auth/api-keys', headers: user.headers })).json().data
      t.ok(listed.revokedAt, 'and listed as revoked')

      const next = await createApiKey(app, user)
      t.equal((await app.inject({ method: 'PUT', url: `/api/users/${user.userId}`, headers: admin.headers, payload: { password: 'set-by-the-admin' } })).statusCode, 200)
      t.equal((await verifyWith(app, { 'x-api-key': next.key })).statusCode, 401, 'an admin setting the password revokes them too')
    })
  })

  t.test(`${driver}: on a clock of the tests' own`, async (t) => {
    let clock = Date.parse('2026-03-01T12:00:00Z')
    const app = await build(t, driver, { now: () => clock })

    t.test('an API key\'s expiry must be in the future', async (t) => {
      const user = await signIn(app)
      for (const expiresAt of [new Date(clock - 1000).toISOString(), new Date(clock).toISOString()]) {
        const res = await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: user.headers, payload: { name: 'past', expiresAt } })
        t.equal(res.statusCode, 422, `${expiresAt}: 422`)
        t.equal(res.json().error.code, 'VALIDATION_ERROR')
        t.equal(res.json().error.details.field, 'expiresAt')
      }
      t.same((await app.inject({ method: 'GET', url: '/api/auth/api-keys', headers: user.headers })).json().data, [], 'nothing was created')
      t.equal((await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: user.headers, payload: { name: 'soon', expiresAt: new Date(clock + 1000).toISOString() } })).statusCode, 201)
    })

    t.test('wrong MFA codes count like failed sign-ins', async (t) => {
      const admin = await signIn(app)
      const user = await createUser(app, admin)
      const secret = await enrolMfa(app, user, clock)
      clock += 30_000
      const disable = (code: string) => app.inject({ method: 'POST', url: '/api/auth/mfa/disable', headers: user.headers, payload: { code } })

      for (let i = 1; i <= 6; i++) {
        const res = await disable(wrongCode(secret, clock))
        t.equal(res.statusCode, 401, `wrong code ${i}: 401`)
        t.notMatch(res.json().error.message, /Too many/, `wrong code ${i}: a plain refusal`)
      }
      const blocked = await disable(totpCode(secret, totpStep(clock)))
      t.equal(blocked.statusCode, 401, 'then even the right code is refused')
      t.match(blocked.json().error.message, /Too many/)
      const delay = Number(blocked.headers['retry-after'])
      t.ok(delay > 0 && delay <= 15 * 60, `with Retry-After (${delay} s)`)
      const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: user.password, mfaCode: totpCode(secret, totpStep(clock)) } })
      t.equal(login.statusCode, 401, 'and the account\'s sign-in waits as well')
      t.match(login.json().error.message, /Too many/)
      t.same((await app.inject({ method: 'GET', url: '/api/auth/mfa', headers: user.headers })).json().data, { enabled: true, pending: false }, 'MFA is still on')

      clock += delay * 1000 + 30_000
      t.equal((await disable(totpCode(secret, totpStep(clock)))).statusCode, 200, 'after the delay the right code works')
    })
  })
}

t.test('with Redis, failed sign-ins on one hub block the account on another', { skip: REDIS_URL === undefined ? 'REDIS_URL is not set' : false }, async (t) => {
  const keyPrefix = `mcphub-test-${process.pid}-${randomBytes(4).toString('hex')}:`
  const redis = new Redis(REDIS_URL!, { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    const keys = await redis.keys(`${keyPrefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  const config = { redisUrl: REDIS_URL!, redisKeyPrefix: keyPrefix }
  const hubA = await build(t, 'pglite', { config })
  const hubB = await build(t, 'pglite', { config })
  const login = (hub: App, password: string) => hub.inject({ method: 'POST', url: '/api/auth/login', payload: { username: TEST_ADMIN.username, password } })

  for (let i = 1; i <= 6; i++) t.equal((await login(hubA, 'wrong-password')).statusCode, 401, `hub A, wrong password ${i}`)
  const blocked = await login(hubB, TEST_ADMIN.password)
  t.equal(blocked.statusCode, 401, 'hub B refuses the right password')
  t.match(blocked.json().error.message, /Too many/)
  t.ok(Number(blocked.headers['retry-after']) > 0, 'with Retry-After')
  t.ok(await redis.exists(`${keyPrefix}throttle:account:${TEST_ADMIN.username}`), 'the count lives in Redis under the run\'s prefix')
})
