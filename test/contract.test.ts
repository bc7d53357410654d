import t from 'tap'
import { Type } from 'typebox'
import { sql } from 'drizzle-orm'
import { users } from '../db/schema.ts'
import { ok } from '../lib/envelope.ts'
import { ERROR_STATUS, HubError, type ErrorCode } from '../lib/errors.ts'
import { Envelope, errorResponses, Ref } from '../lib/schemas.ts'
import { build, DRIVERS } from './helper.ts'
import type { App } from '../app.ts'

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

// Named, registered in a plugin of their own and referenced by `$ref`, as the API's own bodies
// and envelopes are: validation and serialization go through the registered schemas, with the
// hub's validator (strict bodies, storable strings), not Fastify's default one.
const CreateThing = Type.Object({
  name: Type.String({ minLength: 1 }),
  count: Type.Optional(Type.Integer({ minimum: 0 })),
  nested: Type.Optional(Type.Object({ flag: Type.Boolean() }, { additionalProperties: false }))
}, { $id: 'CreateThing', additionalProperties: false })
const ThingEnvelope = Envelope('ThingEnvelope', Type.Object({ name: Type.String(), count: Type.Integer() }))

/** Fixture routes on the real app that exercise each part of the contract's plumbing. */
async function fixtures (app: App) {
  app.get('/fixture/ok', { config: { access: 'public' } }, async () => ok({ answer: 42 }, 'done'))
  app.get('/fixture/throw/:code', { config: { access: 'public' } }, async (request) => {
    const { code } = request.params as { code: ErrorCode }
    throw new HubError(code, `thrown ${code}`)
  })
  await app.register(async (things) => {
    things.addSchema(CreateThing)
    things.addSchema(ThingEnvelope)
    things.post('/fixture/things', {
      config: { access: 'public' },
      schema: {
        body: Ref(CreateThing),
        response: { 201: Ref(ThingEnvelope, 'The new thing'), ...errorResponses(400, 422) }
      }
    }, async (request, reply) => {
      const body = request.body as { name: string, count?: number }
      reply.code(201)
      return ok({ name: body.name, count: body.count ?? 0, hidden: 'not in the schema' })
    })
  })
  app.post('/fixture/users/:username', { config: { access: 'public' } }, async (request, reply) => {
    const { username } = request.params as { username: string }
    await app.db.insert(users).values({ username, passwordHash: 'x' })
    return reply.code(204).send()
  })
  app.get('/fixture/broken-sql', { config: { access: 'public' } }, async () => {
    await app.db.execute(sql`select secret_column from no_such_table`)
    return ok(null)
  })
  app.get('/fixture/crash', { config: { access: 'public' } }, async () => {
    throw new Error('internal detail: password=hunter2 at /srv/app.ts:12')
  })
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    const app = await build(t, driver, { extend: fixtures })

    t.test('success envelope: success, data, message, timestamp', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/fixture/ok' })
      t.equal(res.statusCode, 200)
      const body = res.json()
      t.same(Object.keys(body).sort(), ['data', 'message', 'success', 'timestamp'])
      t.equal(body.success, true)
      t.same(body.data, { answer: 42 })
      t.equal(body.message, 'done')
      t.match(body.timestamp, ISO)
    })

    t.test('201 with the envelope and the body the schema allows', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/fixture/things', payload: { name: 'a', count: 3 } })
      t.equal(res.statusCode, 201)
      t.same(res.json().data, { name: 'a', count: 3 })
    })

    t.test('every catalogue code renders with its status in the error envelope', async (t) => {
      for (const [code, status] of Object.entries(ERROR_STATUS)) {
        const res = await app.inject({ method: 'GET', url: `/fixture/throw/${code}` })
        t.equal(res.statusCode, status, code)
        const body = res.json()
        t.same(Object.keys(body).sort(), ['error', 'success', 'timestamp'], code)
        t.equal(body.success, false)
        t.equal(body.error.code, code)
        t.match(body.timestamp, ISO)
        if (code === 'RATE_LIMIT_EXCEEDED') t.ok(res.headers['retry-after'], '429 carries Retry-After')
      }
    })

    t.test('malformed JSON is 400 INVALID_REQUEST', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/fixture/things', headers: { 'content-type': 'application/json' }, payload: '{"name": "a",' })
      t.equal(res.statusCode, 400)
      t.equal(res.json().error.code, 'INVALID_REQUEST')
    })

    t.test('a wrong content type is 400 INVALID_REQUEST', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/fixture/things', headers: { 'content-type': 'application/xml' }, payload: '<name>a</name>' })
      t.equal(res.statusCode, 400)
      t.equal(res.json().error.code, 'INVALID_REQUEST')
    })

    t.test('an oversized body is 400 INVALID_REQUEST', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/fixture/things', payload: { name: 'x'.repeat(2 * 1024 * 1024) } })
      t.equal(res.statusCode, 400)
      t.equal(res.json().error.code, 'INVALID_REQUEST')
    })

    t.test('schema violations are 422 VALIDATION_ERROR with details.field and reason', async (t) => {
      const cases: Array<[unknown, string]> = [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: 'a', count: -1 }, 'count'],
        [{ name: 'a', count: '3' }, 'count'],
        [{ name: 'a', isAdmin: true }, 'isAdmin'],
        [{ name: 'a', nested: { flag: true, role: 'admin' } }, 'nested.role'],
        [{ name: 'a', nested: { flag: 'yes' } }, 'nested.flag'],
        [{ name: 'a\u0000b' }, 'name']
      ]
      for (const [payload, field] of cases) {
        const res = await app.inject({ method: 'POST', url: '/fixture/things', payload: payload as object })
        t.equal(res.statusCode, 422, JSON.stringify(payload))
        const { error } = res.json()
        t.equal(error.code, 'VALIDATION_ERROR')
        t.equal(error.details.field, field, JSON.stringify(payload))
        t.type(error.details.reason, 'string')
      }
    })

    t.test('a unique violation is 409 RESOURCE_CONFLICT and changes nothing', async (t) => {
      t.equal((await app.inject({ method: 'POST', url: '/fixture/users/Alice' })).statusCode, 204)
      const res = await app.inject({ method: 'POST', url: '/fixture/users/alice' })
      t.equal(res.statusCode, 409)
      t.equal(res.json().error.code, 'RESOURCE_CONFLICT')
      const rows = await app.db.select().from(users).where(sql`lower(${users.username}) = 'alice'`)
      t.equal(rows.length, 1)
    })

    t.test('204 has no body and no content type', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/fixture/users/bob' })
      t.equal(res.statusCode, 204)
      t.equal(res.body, '')
      t.notOk(res.headers['content-type'])
    })

    t.test('unexpected errors are 500 SERVER_ERROR without internals', async (t) => {
      for (const url of ['/fixture/crash', '/fixture/broken-sql']) {
        const res = await app.inject({ method: 'GET', url })
        t.equal(res.statusCode, 500)
        const body = res.json()
        t.equal(body.error.code, 'SERVER_ERROR')
        t.equal(body.error.message, 'Internal server error')
        t.notMatch(res.body, /hunter2|no_such_table|secret_column|select|at \/|\.ts:/)
      }
    })

    t.test('unknown routes are 404 RESOURCE_NOT_FOUND', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/api/nothing-here?x=1' })
      t.equal(res.statusCode, 404)
      t.equal(res.json().error.code, 'RESOURCE_NOT_FOUND')
    })
  })
}
