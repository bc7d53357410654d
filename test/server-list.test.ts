import { eq } from 'drizzle-orm'
import t from 'tap'
import { servers, sessions } from '../db/schema.ts'
import { build, createUser, DRIVERS, signIn, type SignedIn } from './helper.ts'
import type { App } from '../app.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 }

interface Item { name: string, status: string }
interface Page { items: Item[], pagination: { page: number, limit: number, total: number, pages: number, hasNext: boolean, hasPrev: boolean } }

async function list (app: App, who: SignedIn, query: string): Promise<Page> {
  const res = await app.inject({ method: 'GET', url: `/api/servers${query}`, headers: who.headers })
  if (res.statusCode !== 200) throw new Error(`list ${query}: ${res.statusCode} ${res.body}`)
  return res.json().data
}

/** Every page of a query, `limit` at a time. */
async function allPages (app: App, who: SignedIn, query: string, limit: number): Promise<{ names: string[], totals: number[] }> {
  const names: string[] = []
  const totals: number[] = []
  for (let page = 1; ; page++) {
    const { items, pagination } = await list(app, who, `${query}&limit=${limit}&page=${page}`)
    names.push(...items.map((item) => item.name))
    totals.push(pagination.total)
    if (!pagination.hasNext) return { names, totals }
  }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: live status is filtered in SQL, across pages, with exact totals`, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: POLICY })
    const admin = await signIn(app)
    const ids: string[] = []
    for (const name of ['st-a', 'st-b', 'st-c', 'st-d', 'st-e', 'st-f', 'st-g']) {
      const res = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name, command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, enabled: false } })
      ids.push(res.json().data.id)
    }
    // Running: b and e; d ran and was stopped (known to the supervisor, stopped); the others never ran.
    for (const index of [1, 3, 4]) {
      const res = await app.inject({ method: 'POST', url: `/api/servers/${ids[index]}/start`, headers: admin.headers })
      t.equal(res.json().data.status, 'running')
    }
    await app.inject({ method: 'POST', url: `/api/servers/${ids[3]}/stop`, headers: admin.headers, payload: { graceful: false } })

    const everything = (await list(app, admin, '?search=st-&limit=100')).items
    const expected = (status: string) => everything.filter((item) => item.status === status).map((item) => item.name)
    t.same(expected('running'), ['st-b', 'st-e'])
    t.same(expected('stopped'), ['st-a', 'st-c', 'st-d', 'st-f', 'st-g'])

    for (const limit of [1, 2, 3]) {
      for (const status of ['running', 'stopped']) {
        const { names, totals } = await allPages(app, admin, `?search=st-&status=${status}`, limit)
        t.same(names, expected(status), `${status}, ${limit} a page`)
        t.ok(totals.every((total) => total === expected(status).length), `${status}, ${limit} a page: the total on every page`)
      }
    }
    const secondPage = await list(app, admin, '?search=st-&status=stopped&limit=3&page=2&order=desc')
    t.same(secondPage.items.map((item) => item.name), ['st-c', 'st-a'])
    t.same(secondPage.pagination, { page: 2, limit: 3, total: 5, pages: 2, hasNext: false, hasPrev: true })
    const pastTheEnd = await list(app, admin, '?search=st-&status=running&limit=2&page=3')
    t.same(pastTheEnd.items, [])
    t.same(pastTheEnd.pagination, { page: 3, limit: 2, total: 2, pages: 1, hasNext: false, hasPrev: true }, 'a page past the end still counts')
    t.equal((await list(app, admin, '?search=st-&filter[status]=running&limit=1')).pagination.total, 2)
    t.equal((await list(app, admin, '?search=st-&status=running&filter[status]=stopped')).pagination.total, 0, 'two different statuses: none has both')
    t.equal((await list(app, admin, '?search=st-&status=starting')).pagination.total, 0, 'a state no server is in')

    // A reader sees only what it may read, in that state.
    const reader = await createUser(app, admin)
    const group = (await app.inject({ method: 'POST', url: '/api/groups', headers: admin.headers, payload: { name: 'status-readers', permissions: { servers: ['read'] } } })).json().data
    t.equal((await app.inject({ method: 'POST', url: `/api/groups/${group.id}/members`, headers: admin.headers, payload: { userId: reader.userId } })).statusCode, 201)
    for (const index of [0, 1]) {
      t.equal((await app.inject({ method: 'POST', url: `/api/groups/${group.id}/servers`, headers: admin.headers, payload: { serverId: ids[index], permissions: ['read'] } })).statusCode, 201)
    }
    t.same((await list(app, reader, '?status=running')).items.map((item) => item.name), ['st-b'])
    t.same((await list(app, reader, '?status=stopped')).items.map((item) => item.name), ['st-a'])
    t.same((await list(app, reader, '?status=stopped&group=status-readers')).pagination.total, 1)

    for (const id of ids) await app.inject({ method: 'POST', url: `/api/servers/${id}/stop`, headers: admin.headers, payload: { graceful: false } })
    t.equal((await list(app, admin, '?search=st-&status=running')).pagination.total, 0)
    t.equal((await list(app, admin, '?search=st-&status=stopped')).pagination.total, 7)
  })

  t.test(`${driver}: 10,000 servers page correctly`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const name = (i: number) => `bulk-${String(i).padStart(5, '0')}`
    for (let i = 0; i < 10_000; i += 1000) {
      await app.db.insert(servers).values(Array.from({ length: 1000 }, (_, j) => ({ name: name(i + j), key: `bulk_${i + j}`, command: 'node', enabled: false, description: (i + j) % 10 === 7 ? 'seventh' : null })))
    }
    const first = await list(app, admin, '?limit=20')
    t.same(first.items.map((item) => item.name), Array.from({ length: 20 }, (_, i) => name(i)))
    t.same(first.pagination, { page: 1, limit: 20, total: 10_000, pages: 500, hasNext: true, hasPrev: false })
    const middle = await list(app, admin, '?limit=100&page=37')
    t.same(middle.items.map((item) => item.name), Array.from({ length: 100 }, (_, i) => name(3600 + i)))
    const last = await list(app, admin, '?limit=20&page=500&order=desc')
    t.same(last.items.map((item) => item.name), Array.from({ length: 20 }, (_, i) => name(19 - i)))
    t.same(last.pagination, { page: 500, limit: 20, total: 10_000, pages: 500, hasNext: false, hasPrev: true })
    const past = await list(app, admin, '?limit=20&page=501')
    t.same(past.items, [])
    t.equal(past.pagination.total, 10_000)
    const partial = await list(app, admin, '?limit=30&page=334')
    t.same(partial.items.map((item) => item.name), Array.from({ length: 10 }, (_, i) => name(9990 + i)))
    t.same(partial.pagination, { page: 334, limit: 30, total: 10_000, pages: 334, hasNext: false, hasPrev: true })
    const searched = await list(app, admin, '?search=seventh&limit=7&page=2')
    t.same(searched.items.map((item) => item.name), Array.from({ length: 7 }, (_, i) => name(77 + i * 10)))
    t.equal(searched.pagination.total, 1000)
    t.equal((await list(app, admin, '?status=stopped&limit=1')).pagination.total, 10_000)
    t.equal((await list(app, admin, '?status=running&limit=1')).pagination.total, 0)
  })

  t.test(`${driver}: verified sessions are cached, and still refused within a second once revoked`, async (t) => {
    let clock = Date.now()
    const app = await build(t, driver, { now: () => clock })
    const admin = await signIn(app)
    const get = async (who: SignedIn, url = '/api/servers') => (await app.inject({ method: 'GET', url, headers: who.headers })).statusCode

    // Logout: refused at once.
    const session = await signIn(app)
    t.equal(await get(session), 200)
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/logout', headers: session.headers })).statusCode, 204)
    t.equal(await get(session), 401, 'logged out: refused at once')

    // A role change through the API: seen at once.
    const user = await createUser(app, admin)
    t.equal(await get(user, '/api/users'), 403)
    t.equal((await app.inject({ method: 'PUT', url: `/api/users/${user.userId}`, headers: admin.headers, payload: { role: 'admin' } })).statusCode, 200)
    t.equal(await get(user, '/api/users'), 200, 'promoted: allowed at once')
    t.equal((await app.inject({ method: 'PUT', url: `/api/users/${user.userId}`, headers: admin.headers, payload: { role: 'user' } })).statusCode, 200)
    t.equal(await get(user, '/api/users'), 403, 'demoted: refused at once')

    // Revoked behind the hub's back (another hub sharing the database): refused within a second.
    const other = await signIn(app)
    t.equal(await get(other), 200)
    await app.db.update(sessions).set({ revokedAt: new Date(clock) }).where(eq(sessions.userId, other.userId))
    clock += 1000
    t.equal(await get(other), 401, 'revoked elsewhere: refused a second later')
    t.equal(await get(admin), 401, 'the same user\'s other sessions were revoked too')

    // A cached token still expires on time, and a tampered one never passes.
    const fresh = await signIn(app)
    t.equal(await get(fresh), 200)
    const [header, payload, signature] = fresh.token.split('.')
    const tampered = `${header}.${payload}.${signature!.slice(0, -2)}${signature!.endsWith('AA') ? 'BB' : 'AA'}`
    t.equal(await get({ ...fresh, headers: { authorization: `Bearer ${tampered}` } }), 401, 'a tampered signature')
    const { exp } = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { exp: number }
    clock = exp * 1000 - 1
    t.equal(await get(fresh), 200)
    clock = exp * 1000
    t.equal(await get(fresh), 401, 'expired: refused on time, cached or not')
  })
}

for (const driver of DRIVERS) {
  t.test(`${driver}: a page is reused until the servers change, or a second passes`, async (t) => {
    let clock = Date.now()
    const app = await build(t, driver, { now: () => clock })
    const admin = await signIn(app)
    const create = async (name: string) => (await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name, command: 'true', enabled: false } })).json().data.id as string
    const page = async () => await list(app, admin, '?search=reused-&limit=1')
    const first = await create('reused-a')
    await create('reused-b')
    t.equal((await page()).pagination.total, 2)
    t.match((await list(app, admin, '?search=reused-&limit=1&page=2')).items, [{ name: 'reused-b' }], 'each page is its own')
    t.match((await list(app, admin, '?search=reused-&limit=1&order=desc')).items, [{ name: 'reused-b' }], 'each order is its own')
    t.equal((await list(app, admin, '?search=reused-b&limit=1')).pagination.total, 1, 'each search is its own')

    // Through the API: seen at once.
    await create('reused-c')
    t.equal((await page()).pagination.total, 3, 'a server created is counted at once')
    t.equal((await app.inject({ method: 'PUT', url: `/api/servers/${first}`, headers: admin.headers, payload: { description: 'changed' } })).statusCode, 200)
    t.match((await page()).items, [{ name: 'reused-a', description: 'changed' }], 'a server changed is listed changed at once')
    t.equal((await app.inject({ method: 'DELETE', url: `/api/servers/${first}`, headers: admin.headers })).statusCode, 204)
    t.match(await page(), { items: [{ name: 'reused-b' }], pagination: { total: 2 } }, 'a server deleted is gone at once')

    // Behind the hub's back (another hub sharing the database): seen within a second.
    await app.db.insert(servers).values({ name: 'reused-0', key: 'reused-0', command: 'true', enabled: false })
    clock += 1000
    t.match(await page(), { items: [{ name: 'reused-0' }], pagination: { total: 3 } }, 'a server created elsewhere is listed a second later')
  })
}
