import t from 'tap'
import { groupMembers, groups, servers } from '../db/schema.ts'
import { build, createUser, DRIVERS, signIn, type SignedIn } from './helper.ts'
import type { App } from '../app.ts'

async function call (app: App, who: SignedIn | undefined, method: string, url: string, payload?: object) {
  const res = await app.inject({ method: method as 'GET', url, ...(who === undefined ? {} : { headers: who.headers }), ...(payload === undefined ? {} : { payload }) })
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const newGroup = async (body: object) => {
      const res = await call(app, admin, 'POST', '/api/groups', body)
      if (res.status !== 201) throw new Error(`group: ${JSON.stringify(res.body)}`)
      return res.body.data as { id: string, name: string }
    }
    const [fs] = await app.db.insert(servers).values({ name: 'filesystem', key: 'filesystem', command: 'npx' }).returning()

    t.test('create, read by id and by name, update, delete', async (t) => {
      const created = await call(app, admin, 'POST', '/api/groups', {
        name: 'dev-team',
        displayName: '开发团队',
        description: 'Frontend and backend',
        parentGroup: null,
        permissions: { servers: ['read', 'write', 'execute'], tools: ['read', 'execute'] },
        settings: { autoAssign: false, maxMembers: 50, requireApproval: true }
      })
      t.equal(created.status, 201)
      t.same(created.body.data.settings, { autoAssign: false, maxMembers: 50, requireApproval: true })
      const id = created.body.data.id
      t.equal((await call(app, admin, 'GET', `/api/groups/${id}`)).body.data.name, 'dev-team')
      t.equal((await call(app, admin, 'GET', '/api/groups/dev-team')).body.data.id, id)
      t.equal((await call(app, admin, 'POST', '/api/groups', { name: 'dev-team' })).status, 409)
      for (const [body, field] of [
        [{ name: 'Dev Team' }, 'name'],
        [{ name: 'x', permissions: { servers: ['admin'] } }, 'permissions.servers.0'],
        [{ name: 'x', settings: { maxMembers: 0 } }, 'settings.maxMembers'],
        [{ name: 'x', owner: 'me' }, 'owner'],
        [{ name: 'x', parentGroup: 'no-such-group' }, 'parentGroup']
      ] as Array<[object, string]>) {
        const res = await call(app, admin, 'POST', '/api/groups', body)
        t.equal(res.status, 422, JSON.stringify(body))
        t.equal(res.body.error.details.field, field)
      }
      const updated = await call(app, admin, 'PUT', '/api/groups/dev-team', { displayName: 'Developers', settings: { maxMembers: null } })
      t.equal(updated.status, 200)
      t.same(updated.body.data.settings, { autoAssign: false, maxMembers: null, requireApproval: true })
      t.equal(updated.body.data.displayName, 'Developers')
      t.equal((await call(app, admin, 'DELETE', `/api/groups/${id}`)).status, 204)
      t.equal((await call(app, admin, 'GET', `/api/groups/${id}`)).status, 404)
    })

    t.test('hierarchy: cycles refused, depth bounded, parents with sub-groups not deleted', async (t) => {
      await newGroup({ name: 'h-root' })
      await newGroup({ name: 'h-mid', parentGroup: 'h-root' })
      const leaf = await newGroup({ name: 'h-leaf', parentGroup: 'h-mid' })
      t.equal((await call(app, admin, 'GET', `/api/groups/${leaf.id}`)).body.data.parentGroup, 'h-mid')
      const cycle = await call(app, admin, 'PUT', '/api/groups/h-root', { parentGroup: 'h-leaf' })
      t.equal(cycle.status, 422)
      t.equal(cycle.body.error.details.field, 'parentGroup')
      t.equal((await call(app, admin, 'PUT', '/api/groups/h-mid', { parentGroup: 'h-mid' })).status, 422, 'not its own parent')
      t.equal((await call(app, admin, 'GET', '/api/groups/h-root')).body.data.parentGroup, null, 'nothing changed')
      t.equal((await call(app, admin, 'DELETE', '/api/groups/h-mid')).status, 409)
      t.equal((await call(app, admin, 'GET', '/api/groups/h-mid')).status, 200)

      let parent = 'h-leaf'
      for (let depth = 4; depth <= 8; depth++) parent = (await newGroup({ name: `h-d${depth}`, parentGroup: parent })).name
      const tooDeep = await call(app, admin, 'POST', '/api/groups', { name: 'h-d9', parentGroup: parent })
      t.equal(tooDeep.status, 422)
      t.match(tooDeep.body.error.message, /8 levels/)
      const other = await newGroup({ name: 'h-other' })
      await newGroup({ name: 'h-other-child', parentGroup: other.name })
      t.equal((await call(app, admin, 'PUT', '/api/groups/h-other', { parentGroup: 'h-d8' })).status, 422, 'moving a subtree respects the bound too')
      t.equal((await call(app, admin, 'PUT', '/api/groups/h-other', { parentGroup: 'h-root' })).status, 200)
      t.equal((await call(app, admin, 'PUT', '/api/groups/h-other', { parentGroup: null })).status, 200)
    })

    t.test('maxMembers, requireApproval and group admins', async (t) => {
      const group = await newGroup({ name: 'approvals', permissions: { servers: ['read'], tools: ['read'] }, settings: { maxMembers: 3, requireApproval: true } })
      await call(app, admin, 'POST', `/api/groups/${group.id}/servers`, { serverId: fs!.id, permissions: ['read', 'write'] })
      const lead = await createUser(app, admin)
      const alice = await createUser(app, admin)
      const bob = await createUser(app, admin)
      const carol = await createUser(app, admin)

      const byAdmin = await call(app, admin, 'POST', '/api/groups/approvals/members', { userId: lead.userId, role: 'admin' })
      t.equal(byAdmin.status, 201)
      t.equal(byAdmin.body.data.status, 'active', 'hub admins add active members')
      const byLead = await call(app, lead, 'POST', '/api/groups/approvals/members', { userId: alice.userId })
      t.equal(byLead.status, 201)
      t.equal(byLead.body.data.status, 'pending', 'a group admin\'s additions wait for approval')
      t.same((await call(app, alice, 'GET', '/api/auth/verify')).body.data.user.permissions, [], 'pending members have no access')
      t.equal((await call(app, alice, 'GET', '/api/groups/approvals')).status, 404, 'nor see the group')
      t.equal((await call(app, alice, 'POST', `/api/groups/approvals/members/${alice.userId}/approve`)).status, 404, 'and cannot approve themselves')
      t.equal((await call(app, admin, 'POST', `/api/groups/approvals/members/${alice.userId}/approve`)).body.data.status, 'active')
      t.same((await call(app, alice, 'GET', '/api/auth/verify')).body.data.user.permissions, [`server:${fs!.id}:read`, `tools:${fs!.id}:read`], 'approved: access on the next request')

      t.equal((await call(app, lead, 'POST', '/api/groups/approvals/members', { userId: alice.userId })).status, 409, 'already a member')
      t.equal((await call(app, lead, 'POST', '/api/groups/approvals/members', { userId: bob.userId })).status, 201)
      const full = await call(app, lead, 'POST', '/api/groups/approvals/members', { userId: carol.userId })
      t.equal(full.status, 409, 'maxMembers 3 reached')
      t.match(full.body.error.message, /full/)

      t.equal((await call(app, alice, 'POST', '/api/groups/approvals/members', { userId: carol.userId })).status, 403, 'plain members cannot add')
      t.equal((await call(app, lead, 'PUT', '/api/groups/approvals', { settings: { maxMembers: 10 } })).status, 403, 'group admins cannot change settings')
      t.equal((await call(app, lead, 'POST', '/api/groups/approvals/servers', { serverId: fs!.id, permissions: ['read'] })).status, 403, 'nor assign servers')
      t.equal((await call(app, lead, 'DELETE', '/api/groups/approvals')).status, 403)
      t.equal((await call(app, lead, 'PUT', `/api/groups/approvals/members/${bob.userId}`, { role: 'admin' })).body.data.role, 'admin')
      t.equal((await call(app, lead, 'DELETE', `/api/groups/approvals/members/${alice.userId}`)).status, 204)
      t.same((await call(app, alice, 'GET', '/api/auth/verify')).body.data.user.permissions, [], 'removal takes effect on the next request')
      const members = await call(app, lead, 'GET', '/api/groups/approvals/members?sort=joinedAt')
      t.same(members.body.data.items.map((m: { userId: string }) => m.userId).sort(), [lead.userId, bob.userId].sort())
      t.equal((await call(app, lead, 'GET', '/api/groups/approvals/members?status=pending')).body.data.pagination.total, 1, 'bob is pending')
    })

    t.test('requireApproval binds group admins: who added a member does not approve them', async (t) => {
      await newGroup({ name: 'vetted', settings: { requireApproval: true } })
      const [lead, second, newcomer, other] = await Promise.all([createUser(app, admin), createUser(app, admin), createUser(app, admin), createUser(app, admin)])
      for (const person of [lead, second]) await call(app, admin, 'POST', '/api/groups/vetted/members', { userId: person.userId, role: 'admin' })

      t.equal((await call(app, lead, 'POST', '/api/groups/vetted/members', { userId: newcomer.userId })).body.data.status, 'pending')
      const self = await call(app, lead, 'POST', `/api/groups/vetted/members/${newcomer.userId}/approve`)
      t.equal(self.status, 403, 'the group admin who added them may not approve')
      t.equal(self.body.error.code, 'AUTHORIZATION_FAILED')
      t.equal((await call(app, newcomer, 'GET', '/api/groups/vetted')).status, 404, 'still pending: no access')
      t.equal((await call(app, second, 'POST', `/api/groups/vetted/members/${newcomer.userId}/approve`)).body.data.status, 'active', 'another group admin may')
      t.equal((await call(app, newcomer, 'GET', '/api/groups/vetted')).status, 200)

      t.equal((await call(app, lead, 'POST', '/api/groups/vetted/members', { userId: other.userId })).body.data.status, 'pending')
      t.equal((await call(app, admin, 'POST', `/api/groups/vetted/members/${other.userId}/approve`)).body.data.status, 'active', 'and so may a hub admin')
    })

    t.test('a group named with another group\'s id is refused, and never takes that group over', async (t) => {
      const target = await newGroup({ name: 'takeover-target', permissions: { servers: ['read'] } })
      const created = await call(app, admin, 'POST', '/api/groups', { name: target.id })
      t.equal(created.status, 422, 'a name with the shape of an id is refused')
      t.same(created.body.error.details, { field: 'name', reason: 'must not have the shape of an id (uuid)' })
      const other = await newGroup({ name: 'takeover-other' })
      t.equal((await call(app, admin, 'PUT', `/api/groups/${other.id}`, { name: target.id.toUpperCase() })).status, 422, 'also on rename, in any case')
      t.equal((await call(app, admin, 'GET', `/api/groups/${other.id}`)).body.data.name, 'takeover-other', 'a refused rename changes nothing')

      // Such a name stored before the rule (or by hand): a reference with an id's shape still names only that id.
      const [squatter] = await app.db.insert(groups).values({ name: target.id }).returning()
      const intruder = await createUser(app, admin)
      await app.db.insert(groupMembers).values({ groupId: squatter!.id, userId: intruder.userId, role: 'admin' })
      t.equal((await call(app, intruder, 'GET', `/api/groups/${target.id}`)).status, 404, 'membership of the squatter grants nothing on the target')
      t.equal((await call(app, intruder, 'POST', `/api/groups/${target.id}/members`, { userId: intruder.userId })).status, 404)
      t.equal((await call(app, admin, 'GET', `/api/groups/${target.id}`)).body.data.name, 'takeover-target', 'the id resolves to the target')
      t.equal((await call(app, admin, 'GET', `/api/groups/${target.id}/members`)).body.data.pagination.total, 0)
    })

    t.test('concurrent additions never exceed maxMembers', async (t) => {
      const group = await newGroup({ name: 'race', settings: { maxMembers: 5 } })
      const people = await Promise.all(Array.from({ length: 16 }, () => createUser(app, admin)))
      const results = await Promise.all(people.map((person) => call(app, admin, 'POST', `/api/groups/${group.id}/members`, { userId: person.userId })))
      const statuses = results.map((res) => res.status)
      t.equal(statuses.filter((s) => s === 201).length, 5)
      t.equal(statuses.filter((s) => s === 409).length, 11)
      t.equal((await call(app, admin, 'GET', `/api/groups/${group.id}/members`)).body.data.pagination.total, 5)
    })

    t.test('autoAssign, and the users API\'s groups field', async (t) => {
      await newGroup({ name: 'everyone', settings: { autoAssign: true } })
      await newGroup({ name: 'ops' })
      const fresh = await call(app, admin, 'POST', '/api/users', { username: 'auto1', password: 'a-secure-password' })
      t.same(fresh.body.data.groups, ['everyone'], 'new users join autoAssign groups')
      const chosen = await call(app, admin, 'POST', '/api/users', { username: 'auto2', password: 'a-secure-password', groups: ['ops'] })
      t.same(chosen.body.data.groups, ['everyone', 'ops'])
      const moved = await call(app, admin, 'PUT', `/api/users/${chosen.body.data.id}`, { groups: ['ops'] })
      t.same(moved.body.data.groups, ['ops'])
      const bad = await call(app, admin, 'PUT', `/api/users/${chosen.body.data.id}`, { groups: ['ops', 'nope'] })
      t.equal(bad.status, 422)
      t.same((await call(app, admin, 'GET', `/api/users/${chosen.body.data.id}`)).body.data.groups, ['ops'], 'a refused change changes nothing')
      const me = await signIn(app, 'auto2', 'a-secure-password')
      t.equal((await call(app, me, 'PUT', `/api/users/${me.userId}`, { groups: [] })).status, 403, 'users cannot change their own groups')
      await call(app, admin, 'PUT', '/api/groups/everyone', { settings: { autoAssign: false } })
      t.same((await call(app, admin, 'POST', '/api/users', { username: 'auto3', password: 'a-secure-password' })).body.data.groups, [], 'autoAssign off: no longer joined')
    })

    t.test('lists and object routes never reveal what the caller may not read', async (t) => {
      const mine = await newGroup({ name: 'visible' })
      const hidden = await newGroup({ name: 'hidden' })
      const user = await createUser(app, admin)
      await call(app, admin, 'POST', `/api/groups/${mine.id}/members`, { userId: user.userId })
      const list = await call(app, user, 'GET', '/api/groups?limit=100')
      t.same(list.body.data.items.map((g: { name: string }) => g.name), ['visible'])
      t.equal(list.body.data.pagination.total, 1)
      t.equal((await call(app, user, 'GET', '/api/groups?search=hidden')).body.data.pagination.total, 0)
      t.ok((await call(app, admin, 'GET', '/api/groups?limit=100')).body.data.pagination.total > 5, 'admins see all')

      const objectRoutes = app.routeTable.filter((route) => typeof route.access === 'object')
      t.ok(objectRoutes.length >= 10)
      const idOf: Record<string, string[]> = { group: [hidden.id, hidden.name], user: [admin.userId] }
      for (const route of objectRoutes) {
        const rule = route.access as { resource: string, param: string }
        for (const id of idOf[rule.resource] ?? []) {
          const url = route.url
            .replace(`:${rule.param}`, id)
            .replace(/:(\w+)/g, '00000000-0000-4000-8000-000000000000')
          const res = await call(app, user, route.method, url, route.method === 'GET' ? undefined : {})
          t.equal(res.status, 404, `${route.method} ${url}`)
          t.equal(res.body.error.code, 'RESOURCE_NOT_FOUND')
        }
      }
    })
  })
}
