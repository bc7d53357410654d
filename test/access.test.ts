import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { App } from '../app.ts'
import { servers } from '../db/schema.ts'
import { build, createUser, DRIVERS, signIn, type SignedIn } from './helper.ts'

async function call (app: App, who: SignedIn | undefined, method: string, url: string, payload?: object) {
  const res = await app.inject({ method: method as 'GET', url, ...(who === undefined ? {} : { headers: who.headers }), ...(payload === undefined ? {} : { payload }) })
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    t.test('a foreign group in the servers list filter answers exactly like a group that does not exist', async (t) => {
      const app = await build(t, driver)
      const admin = await signIn(app)
      const [shared, other] = await app.db.insert(servers).values([
        { name: 'shared', key: 'shared', command: 'true', enabled: false },
        { name: 'other', key: 'other', command: 'true', enabled: false }
      ]).returning()
      const mine = (await call(app, admin, 'POST', '/api/groups', { name: 'mine', permissions: { servers: ['read'] } })).body.data
      const foreign = (await call(app, admin, 'POST', '/api/groups', { name: 'foreign', permissions: { servers: ['read'] } })).body.data
      await call(app, admin, 'POST', `/api/groups/${mine.id}/servers`, { serverId: shared!.id, permissions: ['read'] })
      await call(app, admin, 'POST', `/api/groups/${foreign.id}/servers`, { serverId: shared!.id, permissions: ['read'] })
      await call(app, admin, 'POST', `/api/groups/${foreign.id}/servers`, { serverId: other!.id, permissions: ['read'] })
      const user = await createUser(app, admin)
      await call(app, admin, 'POST', `/api/groups/${mine.id}/members`, { userId: user.userId })

      const names = (res: { body: { data: { items: Array<{ name: string }> } } }) => res.body.data.items.map((server) => server.name)
      t.same(names(await call(app, user, 'GET', '/api/servers?group=mine')), ['shared'], 'a group the caller is in filters')
      t.same(names(await call(app, admin, 'GET', '/api/servers?group=foreign')), ['other', 'shared'], 'admins filter by any group')

      const missing = await call(app, user, 'GET', '/api/servers?group=no-such-group')
      const missingId = await call(app, user, 'GET', `/api/servers?group=${randomUUID()}`)
      for (const ref of [foreign.name, foreign.id]) {
        const res = await call(app, user, 'GET', `/api/servers?group=${ref}`)
        t.equal(res.status, missing.status, `${ref}: same status`)
        t.same(res.body.data, missing.body.data, `${ref}: same page as a group that does not exist`)
        t.same(res.body.data, missingId.body.data)
      }
      t.same(names(missing), [])
    })
  })
}
