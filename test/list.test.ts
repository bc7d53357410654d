import t from 'tap'
import { Type } from 'typebox'
import { users, type UserRow } from '../db/schema.ts'
import { ok } from '../lib/envelope.ts'
import { listPage, listQuerySchema, type ListQuery, type ListSpec } from '../lib/list.ts'
import { build, createUser, DRIVERS, signIn } from './helper.ts'
import type { App } from '../app.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

const spec: ListSpec = {
  table: users,
  sort: { username: users.username, createdAt: users.createdAt },
  filters: { role: users.role },
  search: [users.username, users.email],
  status: users.role,
  createdAt: users.createdAt,
  id: users.id
}

function fixtures (app: App) {
  app.get('/fixture/users', { config: { access: 'public' }, schema: { querystring: listQuerySchema(spec) } }, async (request) => {
    const page = await listPage<UserRow>(app.db, spec, request.query as ListQuery)
    return ok({ items: page.items.map((row) => row.username), pagination: page.pagination })
  })
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    const app = await build(t, driver, { extend: fixtures })
    // The first admin exists already; add 24 users, 4 of them admins, with spread-out creation times.
    const base = Date.parse('2026-01-01T00:00:00Z')
    await app.db.insert(users).values(Array.from({ length: 24 }, (_, i) => ({
      username: `user${String(i).padStart(2, '0')}`,
      email: i % 2 === 0 ? `even${i}@example.com` : `odd_${i}@example.org`,
      passwordHash: 'x',
      role: i < 4 ? 'admin' as const : 'user' as const,
      createdAt: new Date(base + i * 86_400_000)
    })))
    const list = async (query: string) => {
      const res = await app.inject({ method: 'GET', url: `/fixture/users${query}` })
      return { status: res.statusCode, body: res.json() }
    }

    t.test('defaults: page 1, limit 20, sorted by the first sort field', async (t) => {
      const { status, body } = await list('')
      t.equal(status, 200)
      t.equal(body.data.items.length, 20)
      t.equal(body.data.items[0], 'admin')
      t.same(body.data.pagination, { page: 1, limit: 20, total: 25, pages: 2, hasNext: true, hasPrev: false })
    })

    t.test('later pages, descending order', async (t) => {
      const { body } = await list('?page=2&limit=10&sort=username&order=desc')
      t.same(body.data.items, ['user13', 'user12', 'user11', 'user10', 'user09', 'user08', 'user07', 'user06', 'user05', 'user04'])
      t.same(body.data.pagination, { page: 2, limit: 10, total: 25, pages: 3, hasNext: true, hasPrev: true })
      const last = await list('?page=3&limit=10&sort=username&order=desc')
      t.same(last.body.data.pagination, { page: 3, limit: 10, total: 25, pages: 3, hasNext: false, hasPrev: true })
      t.equal(last.body.data.items.length, 5)
    })

    t.test('a page past the end is empty, not an error', async (t) => {
      const { status, body } = await list('?page=9')
      t.equal(status, 200)
      t.same(body.data.items, [])
      t.equal(body.data.pagination.hasNext, false)
    })

    t.test('search is case-insensitive and treats % and _ literally', async (t) => {
      t.equal((await list('?search=EXAMPLE.ORG')).body.data.pagination.total, 12)
      t.same((await list('?search=odd_1')).body.data.items, ['user01', 'user11', 'user13', 'user15', 'user17', 'user19'])
      t.equal((await list('?search=r_1')).body.data.pagination.total, 0, '_ is not a wildcard')
      t.equal((await list('?search=%25')).body.data.pagination.total, 0)
    })

    t.test('filter[field], status, and created_after/created_before', async (t) => {
      t.equal((await list('?filter[role]=admin')).body.data.pagination.total, 5)
      t.equal((await list('?status=user')).body.data.pagination.total, 20)
      const window = await list('?created_after=2026-01-03T00:00:00Z&created_before=2026-01-06T00:00:00Z&sort=createdAt')
      t.same(window.body.data.items, ['user02', 'user03', 'user04'])
      t.equal((await list('?filter[role]=admin&search=user0')).body.data.pagination.total, 4)
    })

    t.test('filter[status] is status; created_after/created_before take a plain date', async (t) => {
      t.equal((await list('?filter[status]=admin')).body.data.pagination.total, 5)
      t.equal((await list('?filter[status]=admin&status=user')).body.data.pagination.total, 0, 'both must hold')
      const window = await list('?created_after=2026-01-03&created_before=2026-01-06&sort=createdAt')
      t.equal(window.status, 200)
      t.same(window.body.data.items, ['user02', 'user03', 'user04'])
      t.equal((await list('?created_after=2026-01-03T00:00:00%2B01:00&created_before=2026-01-03T00:00:01Z')).body.data.items.length, 1, 'offsets count')
    })

    t.test('bad list parameters are 422 with the field named', async (t) => {
      const cases: Array<[string, string]> = [
        ['?sort=password_hash', 'sort'],
        ['?filter[password_hash]=x', 'filter[password_hash]'],
        ['?limit=101', 'limit'],
        ['?limit=0', 'limit'],
        ['?page=0', 'page'],
        ['?page=abc', 'page'],
        ['?order=sideways', 'order'],
        ['?created_after=yesterday', 'created_after'],
        ['?unknown=1', 'unknown'],
        // Values the schema used to let through to the database (500s).
        ['?page=1e20', 'page'],
        ['?page=1000001', 'page'],
        ['?created_after=2016-12-31T23:59:60Z', 'created_after'],
        ['?created_before=0000-01-01T00:00:00Z', 'created_before'],
        ['?created_after=0000-01-01', 'created_after'],
        ['?created_after=0001-01-01T00:00:00%2B01:00', 'created_after'],
        ['?created_after=2024-02-30', 'created_after'],
        ['?search=a%00b', 'search'],
        ['?filter[role]=a%00b', 'filter[role]'],
        ['?filter[role]=superuser', 'filter[role]'],
        ['?filter[status]=superuser', 'filter[status]']
      ]
      for (const [query, field] of cases) {
        const { status, body } = await list(query)
        t.equal(status, 422, query)
        t.equal(body.error.code, 'VALIDATION_ERROR', query)
        t.equal(body.error.details.field, field, query)
      }
    })

    t.test('the query schema is strict and documented', async (t) => {
      const schema = listQuerySchema(spec, { group: Type.Optional(Type.String()) }) as unknown as { additionalProperties: boolean, properties: Record<string, unknown> }
      t.equal(schema.additionalProperties, false)
      t.ok(schema.properties['filter[role]'])
      t.ok(schema.properties.group)
    })
  })
}

for (const driver of DRIVERS) {
  t.test(`${driver}: the API's lists`, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
    const admin = await signIn(app)
    const get = async (url: string) => {
      const res = await app.inject({ method: 'GET', url, headers: admin.headers })
      return { status: res.statusCode, body: res.json() }
    }
    const server = async (name: string) => {
      const res = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name, command: process.execPath, args: [FIXTURE], enabled: false } })
      t.equal(res.statusCode, 201)
      return res.json().data.id as string
    }

    t.test('the seed\'s example: search, filter[status] (live state) and a plain created_after', async (t) => {
      const running = await server('python-runner')
      await server('python-idle')
      await server('node-runner')
      const started = await app.inject({ method: 'POST', url: `/api/servers/${running}/start`, headers: admin.headers })
      t.equal(started.json().data.status, 'running')
      const res = await get('/api/servers?search=python&filter[status]=running&created_after=2024-01-01')
      t.equal(res.status, 200)
      t.same(res.body.data.items.map((item: { name: string }) => item.name), ['python-runner'])
      t.equal(res.body.data.pagination.total, 1)
      t.same((await get('/api/servers?search=python&status=stopped')).body.data.items.map((item: { name: string }) => item.name), ['python-idle'])
      t.equal((await get('/api/servers?search=python&created_after=2999-01-01')).body.data.pagination.total, 0)
      t.equal((await get('/api/servers?filter[status]=sleeping')).body.error.details.field, 'filter[status]')
    })

    t.test('filters are typed after their column: a bad boolean or uuid is a 422, a good one filters', async (t) => {
      await server('typed-off')
      t.same((await get('/api/servers?filter[enabled]=false&filter[name]=typed-off')).body.data.items.map((item: { name: string }) => item.name), ['typed-off'])
      t.equal((await get('/api/servers?filter[enabled]=true&filter[name]=typed-off')).body.data.pagination.total, 0)
      const cases: Array<[string, string]> = [['/api/servers?filter[enabled]=maybe', 'filter[enabled]'], ['/api/groups?filter[parentId]=not-a-uuid', 'filter[parentId]']]
      for (const [url, field] of cases) {
        const res = await get(url)
        t.equal(res.status, 422, url)
        t.equal(res.body.error.details.field, field, url)
      }
      const parent = await app.inject({ method: 'POST', url: '/api/groups', headers: admin.headers, payload: { name: 'typed-parent' } })
      const parentId = parent.json().data.id as string
      await app.inject({ method: 'POST', url: '/api/groups', headers: admin.headers, payload: { name: 'typed-child', parentGroup: 'typed-parent' } })
      t.same((await get(`/api/groups?filter[parentId]=${parentId}`)).body.data.items.map((item: { name: string }) => item.name), ['typed-child'])
    })

    t.test('members filter on their status', async (t) => {
      const group = (await app.inject({ method: 'POST', url: '/api/groups', headers: admin.headers, payload: { name: 'status-members' } })).json().data.id as string
      const user = await createUser(app, admin)
      t.equal((await app.inject({ method: 'POST', url: `/api/groups/${group}/members`, headers: admin.headers, payload: { userId: user.userId } })).statusCode, 201)
      t.equal((await get(`/api/groups/${group}/members?filter[status]=active`)).body.data.pagination.total, 1)
      t.equal((await get(`/api/groups/${group}/members?status=pending`)).body.data.pagination.total, 0)
      t.equal((await get(`/api/groups/${group}/members?filter[status]=gone`)).status, 422)
    })
  })
}
