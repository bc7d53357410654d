import t from 'tap'
import { Type } from 'typebox'
import { users, type UserRow } from '../db/schema.ts'
import { ok } from '../lib/envelope.ts'
import { listPage, listQuerySchema, type ListQuery, type ListSpec } from '../lib/list.ts'
import { build, DRIVERS } from './helper.ts'
import type { App } from '../app.ts'

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
        ['?unknown=1', 'unknown']
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
