import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { DatabaseHandle } from '../db/client.ts'
import { build, createUser, DRIVERS, signIn, testDatabase } from './helper.ts'
import { createApiKey, verifyWith } from './helpers/auth.ts'

const MINUTE = 60_000

/** The database, counting the queries the app starts through it. */
function countingQueries (handle: DatabaseHandle): { database: DatabaseHandle, queries: () => number } {
  let queries = 0
  const starts = new Set(['select', 'selectDistinct', 'insert', 'update', 'delete', 'execute', 'transaction'])
  const db = new Proxy(handle.db, {
    get (target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown
      if (typeof value !== 'function' || !starts.has(String(property))) return value
      return (...args: unknown[]) => {
        queries++
        return (value as (...args: unknown[]) => unknown).apply(target, args)
      }
    }
  })
  return { database: { ...handle, db }, queries: () => queries }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: an access token works for 15 minutes after it was issued, then never again`, async (t) => {
    let clock = Date.parse('2026-03-01T12:00:00Z')
    const app = await build(t, driver, { now: () => clock })
    const admin = await signIn(app)
    const verify = () => verifyWith(app, admin.headers)

    const fresh = await verify()
    t.equal(fresh.statusCode, 200)
    t.equal(fresh.json().data.expiresAt, new Date(clock + 15 * MINUTE).toISOString(), '/verify names an expiry 15 minutes out')

    clock += 15 * MINUTE - 1000
    t.equal((await verify()).statusCode, 200, 'still valid a second before its 15 minutes end')
    clock += 2000
    const expired = await verify()
    t.equal(expired.statusCode, 401, 'refused a second after its 15 minutes, although it was just used')
    t.equal(expired.json().error.code, 'AUTHENTICATION_FAILED')
    clock += 20 * MINUTE
    t.equal((await verify()).statusCode, 401, 'and 20 minutes later')
  })

  t.test(`${driver}: one password limit, 1024 characters, at creation, change and sign-in`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const create = (username: string, password: string) => app.inject({ method: 'POST', url: '/api/users', headers: admin.headers, payload: { username, password } })

    for (const [name, password] of [['accents', 'é'.repeat(600)], ['emoji', '😀'.repeat(1024)], ['ascii', 'a'.repeat(1024)]]) {
      t.equal((await create(name!, password!)).statusCode, 201, `${name}: ${[...password!].length} characters, ${Buffer.byteLength(password!)} bytes, accepted`)
      const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: name, password } })
      t.equal(login.statusCode, 200, `${name}: and signs in`)
    }
    const tooLong = await create('toolong', 'é'.repeat(1025))
    t.equal(tooLong.statusCode, 422, '1025 characters are refused at creation')
    t.equal(tooLong.json().error.details.field, 'password')
    const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'accents', password: 'é'.repeat(1025) } })
    t.equal(login.statusCode, 422, 'and at sign-in')

    const user = await signIn(app, 'accents', 'é'.repeat(600))
    const change = await app.inject({ method: 'PUT', url: `/api/users/${user.userId}`, headers: user.headers, payload: { currentPassword: 'é'.repeat(600), password: 'ü'.repeat(1024) } })
    t.equal(change.statusCode, 200, 'a change to 1024 two-byte characters is accepted')
    await signIn(app, 'accents', 'ü'.repeat(1024))
  })

  t.test(`${driver}: credentials of two different users in one request are refused, and nothing is done`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const alice = await createUser(app, admin)
    const bob = await createUser(app, admin)
    const aliceKey = await createApiKey(app, alice)

    const mixed = await app.inject({ method: 'PUT', url: `/api/users/${alice.userId}`, headers: { 'x-api-key': aliceKey.key, ...bob.headers }, payload: { profile: { department: 'changed' } } })
    t.equal(mixed.statusCode, 400)
    t.equal(mixed.json().error.code, 'INVALID_REQUEST')
    t.match(mixed.json().error.message, /different users/)
    t.same((await app.inject({ method: 'GET', url: `/api/users/${alice.userId}`, headers: alice.headers })).json().data.profile, {}, 'the profile is unchanged')

    const same = await verifyWith(app, { 'x-api-key': aliceKey.key, ...alice.headers })
    t.equal(same.statusCode, 200, 'a key and a token of the same user are fine')
    t.equal(same.json().data.user.id, alice.userId)
  })

  t.test(`${driver}: an address over its budget of failed credentials gets 429 before any key is looked up`, async (t) => {
    const counted = countingQueries(await testDatabase(t, driver))
    const app = await build(t, driver, { database: counted.database, config: { rateLimits: { anonymous: 5, user: 0, admin: 0, mcp: 0 } } })
    const admin = await signIn(app)
    const user = await createUser(app, admin)
    const { key } = await createApiKey(app, user)
    const attacker = '10.9.9.9'
    const randomKey = () => `mcphub_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').slice(0, 12)}_${randomBytes(32).toString('base64url').slice(0, 43)}`

    const start = counted.queries()
    for (let i = 1; i <= 5; i++) t.equal((await verifyWith(app, { 'x-api-key': randomKey() }, attacker)).statusCode, 401, `guess ${i}: looked up and refused`)
    // What the hub logged so far is stored now: its refusals by the rate limiter are not stored at all.
    await app.hubLog.flush()
    const before = counted.queries()
    t.ok(before - start >= 5, `the first five guesses were looked up (${before - start} queries)`)
    const statuses = new Set<number>()
    for (let i = 0; i < 100; i++) {
      const res = await verifyWith(app, { 'x-api-key': randomKey() }, attacker)
      statuses.add(res.statusCode)
      if (i === 0) {
        t.equal(res.json().error.code, 'RATE_LIMIT_EXCEEDED')
        t.ok(Number(res.headers['retry-after']) >= 1, 'with Retry-After')
      }
    }
    t.same([...statuses], [429], '100 more guesses: all 429')
    t.equal(counted.queries() - before, 0, 'without a single database query')

    t.equal((await verifyWith(app, user.headers, attacker)).statusCode, 200, 'a signed-in user behind the same address still works')
    t.equal((await verifyWith(app, { 'x-api-key': key }, '10.9.9.10')).statusCode, 200, 'and the key works from any other address')
  })
}
