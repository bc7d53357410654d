import t from 'tap'
import { groupMembers, groups, groupServers, servers, users, type ServerAction, type ToolAction } from '../db/schema.ts'
import {
  approvalVerdict, authorize, computeGrants, effectiveGrants, MAX_GROUP_DEPTH, permissionsOf, permissionStrings, readableServerIds, withAncestors,
  type Assignment, type GroupNode, type Grants, type Principal
} from '../access/index.ts'
import { DRIVERS, testDatabase } from './helper.ts'

type S = ServerAction[]
type T = ToolAction[]

/**
 * One scenario of the access model. Group, server and user names are local to the row (the test
 * prefixes them with the row's index); a group's parent must be listed before it. `expect` lists
 * every server the user holds a grant on, as [server actions, tool actions]; any other server
 * of the row must have no grant at all.
 */
interface Row {
  name: string
  groups: Record<string, { parent?: string, servers: S, tools?: T }>
  assign?: Array<[group: string, server: string, permissions: S]>
  member?: Array<[group: string, status: 'active' | 'pending', role?: 'member' | 'admin']>
  /** Servers that exist without being assigned anywhere (`s` always exists). */
  servers?: string[]
  hubAdmin?: boolean
  expect: Record<string, [S, T]>
}

const RWX: S = ['read', 'write', 'execute']
const TOOLS: T = ['read', 'execute']
const ACTIONS = ['read', 'write', 'execute', 'tools:read', 'tools:execute']

const rows: Row[] = [
  { name: 'one group with full permissions gets everything', groups: { g: { servers: RWX, tools: TOOLS } }, assign: [['g', 's', RWX]], member: [['g', 'active']], expect: { s: [RWX, TOOLS] } },
  { name: 'intersection: the assignment grants write, the group lacks it', groups: { g: { servers: ['read', 'execute'] } }, assign: [['g', 's', ['read', 'write']]], member: [['g', 'active']], expect: { s: [['read'], []] } },
  { name: 'group permissions broader than the assignment', groups: { g: { servers: RWX, tools: TOOLS } }, assign: [['g', 's', ['read']]], member: [['g', 'active']], expect: { s: [['read'], TOOLS] } },
  {
    name: 'union across two groups giving different actions',
    groups: { a: { servers: RWX }, b: { servers: ['read', 'execute'] } },
    assign: [['a', 's', ['read', 'write']], ['b', 's', ['execute']]],
    member: [['a', 'active'], ['b', 'active']],
    expect: { s: [RWX, []] }
  },
  { name: 'a pending membership gives nothing', groups: { g: { servers: RWX, tools: TOOLS } }, assign: [['g', 's', RWX]], member: [['g', 'pending']], expect: {} },
  {
    name: 'pending in one group, active in another: only the active one counts',
    groups: { a: { servers: RWX, tools: TOOLS }, b: { servers: ['read'] } },
    assign: [['a', 's', RWX], ['b', 's', ['read']]],
    member: [['a', 'pending'], ['b', 'active']],
    expect: { s: [['read'], []] }
  },
  {
    name: 'a member of a child gets the parent\'s assignment, with the parent\'s permissions',
    groups: { p: { servers: RWX, tools: ['read'] }, c: { parent: 'p', servers: [] } },
    assign: [['p', 's', ['read', 'execute']]],
    member: [['c', 'active']],
    expect: { s: [['read', 'execute'], ['read']] }
  },
  {
    name: 'grandparent inheritance over three levels',
    groups: { r: { servers: RWX }, m: { parent: 'r', servers: [] }, l: { parent: 'm', servers: [] } },
    assign: [['r', 's', ['read', 'write']]],
    member: [['l', 'active']],
    expect: { s: [['read', 'write'], []] }
  },
  {
    name: 'a member of the parent does not inherit the child\'s assignments',
    groups: { p: { servers: RWX }, c: { parent: 'p', servers: RWX, tools: TOOLS } },
    assign: [['c', 's', RWX]],
    member: [['p', 'active']],
    expect: {}
  },
  {
    name: 'sibling groups do not share',
    groups: { p: { servers: [] }, a: { parent: 'p', servers: RWX, tools: TOOLS }, b: { parent: 'p', servers: RWX } },
    assign: [['a', 's', RWX]],
    member: [['b', 'active']],
    expect: {}
  },
  {
    name: 'member of a middle group: its own and the root\'s assignments, not the leaf\'s',
    groups: { r: { servers: RWX }, m: { parent: 'r', servers: RWX }, l: { parent: 'm', servers: RWX, tools: TOOLS } },
    assign: [['r', 's', ['read']], ['m', 's', ['write']], ['l', 's', ['execute']]],
    member: [['m', 'active']],
    expect: { s: [['read', 'write'], []] }
  },
  {
    name: 'an assignment at both parent and child: the union',
    groups: { p: { servers: ['read', 'execute'], tools: ['read'] }, c: { parent: 'p', servers: ['read'] } },
    assign: [['p', 's', ['execute']], ['c', 's', ['read']]],
    member: [['c', 'active']],
    expect: { s: [['read', 'execute'], ['read']] }
  },
  {
    name: 'pending in the child whose parent holds the assignment: nothing',
    groups: { p: { servers: RWX }, c: { parent: 'p', servers: RWX } },
    assign: [['p', 's', RWX]],
    member: [['c', 'pending']],
    expect: {}
  },
  {
    name: 'active in the child, pending in the parent: the parent still counts as an ancestor',
    groups: { p: { servers: RWX }, c: { parent: 'p', servers: [] } },
    assign: [['p', 's', ['read', 'write']]],
    member: [['p', 'pending'], ['c', 'active']],
    expect: { s: [['read', 'write'], []] }
  },
  { name: 'tools without read on the server: nothing, the server stays hidden', groups: { g: { servers: ['write'], tools: TOOLS } }, assign: [['g', 's', RWX]], member: [['g', 'active']], expect: {} },
  { name: 'a group lacking read: write and execute count for nothing on an invisible server', groups: { g: { servers: ['write', 'execute'], tools: TOOLS } }, assign: [['g', 's', RWX]], member: [['g', 'active']], expect: {} },
  {
    name: 'tools from a write-only assignment apply when read comes from another group',
    groups: { a: { servers: RWX, tools: TOOLS }, b: { servers: ['read'] } },
    assign: [['a', 's', ['write']], ['b', 's', ['read']]],
    member: [['a', 'active'], ['b', 'active']],
    expect: { s: [['read', 'write'], TOOLS] }
  },
  { name: 'tools execute without tools read', groups: { g: { servers: ['read'], tools: ['execute'] } }, assign: [['g', 's', ['read']]], member: [['g', 'active']], expect: { s: [['read'], ['execute']] } },
  {
    name: 'tool permissions add up across groups',
    groups: { a: { servers: ['read'], tools: ['read'] }, b: { servers: ['read'], tools: ['execute'] } },
    assign: [['a', 's', ['read']], ['b', 's', ['read']]],
    member: [['a', 'active'], ['b', 'active']],
    expect: { s: [['read'], TOOLS] }
  },
  { name: 'empty assignment permissions give nothing', groups: { g: { servers: RWX, tools: TOOLS } }, assign: [['g', 's', []]], member: [['g', 'active']], expect: {} },
  { name: 'a group with empty servers permissions gives nothing', groups: { g: { servers: [], tools: TOOLS } }, assign: [['g', 's', RWX]], member: [['g', 'active']], expect: {} },
  {
    name: 'two servers are isolated: a grant on one does not leak to the other',
    groups: { g: { servers: RWX, tools: TOOLS }, h: { servers: RWX, tools: TOOLS } },
    assign: [['g', 's', RWX], ['h', 'other', RWX]],
    member: [['g', 'active']],
    servers: ['spare'],
    expect: { s: [RWX, TOOLS] }
  },
  {
    name: 'tools follow the assignment: a group\'s tools only on the servers assigned to it',
    groups: { g: { servers: RWX, tools: TOOLS }, h: { servers: ['read'] } },
    assign: [['g', 's', ['read']], ['h', 'other', ['read']]],
    member: [['g', 'active'], ['h', 'active']],
    expect: { s: [['read'], TOOLS], other: [['read'], []] }
  },
  { name: 'a user in no group', groups: { g: { servers: RWX, tools: TOOLS } }, assign: [['g', 's', RWX]], expect: {} },
  { name: 'the group-admin membership role grants nothing extra', groups: { g: { servers: ['read'] } }, assign: [['g', 's', RWX]], member: [['g', 'active', 'admin']], expect: { s: [['read'], []] } },
  { name: 'an assignment to a group the user is not in', groups: { a: { servers: RWX }, b: { servers: RWX, tools: TOOLS } }, assign: [['b', 's', RWX]], member: [['a', 'active']], expect: {} },
  { name: 'a hub admin is allowed everything (grants still as computed)', groups: { g: { servers: ['read'] } }, assign: [['g', 's', ['read']]], member: [['g', 'active']], hubAdmin: true, expect: { s: [['read'], []] } },
  { name: 'a hub admin in no group is allowed everything', groups: {}, hubAdmin: true, expect: {} }
]

/** A verdict as the contract states it. */
function expectedVerdict (row: Row, grant: [S, T] | undefined, action: string): 'allow' | 'forbid' | 'hide' {
  if (row.hubAdmin === true) return 'allow'
  if (grant === undefined || !grant[0].includes('read')) return 'hide'
  const allowed = action.startsWith('tools:') ? (grant[1] as string[]).includes(action.slice(6)) : (grant[0] as string[]).includes(action)
  return allowed ? 'allow' : 'forbid'
}

/** Grants as plain, sorted data, for comparison. */
function plain (grants: Grants): Record<string, [string[], string[]]> {
  return Object.fromEntries([...grants].map(([id, grant]) => [id, [[...grant.server].sort(), [...grant.tools].sort()]]))
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    const handle = await testDatabase(t, driver)
    t.teardown(() => handle.close())
    await handle.migrate() // the app migrates at start-up; without an app, we do (a no-op on PGlite's template clone)
    const db = handle.db

    t.ok(rows.length >= 24, 'at least 24 scenarios')
    for (const [index, row] of rows.entries()) {
      t.test(`${index + 1}. ${row.name}`, async (t) => {
        const name = (local: string) => `case${index + 1}-${local}`
        const [user] = await db.insert(users).values({ username: name('user'), passwordHash: 'x', role: row.hubAdmin === true ? 'admin' : 'user' }).returning()
        const principal: Principal = { userId: user!.id, username: user!.username, role: user!.role, readOnly: false }

        const groupIds = new Map<string, string>()
        const nodes: GroupNode[] = []
        for (const [local, spec] of Object.entries(row.groups)) {
          const parentId = spec.parent === undefined ? null : groupIds.get(spec.parent)!
          const permissions = { servers: spec.servers, tools: spec.tools ?? [] }
          const [group] = await db.insert(groups).values({ name: name(local), parentId, permissions }).returning()
          groupIds.set(local, group!.id)
          nodes.push({ id: group!.id, parentId, permissions })
        }

        const serverKeys = [...new Set(['s', ...(row.servers ?? []), ...(row.assign ?? []).map(([, server]) => server), ...Object.keys(row.expect)])]
        const serverIds = new Map<string, string>()
        for (const local of serverKeys) {
          const [server] = await db.insert(servers).values({ name: name(local), key: name(local).toLowerCase().replace(/[^a-z0-9-]/g, '-'), command: 'true' }).returning()
          serverIds.set(local, server!.id)
        }

        const assignments: Assignment[] = (row.assign ?? []).map(([group, server, permissions]) => ({ groupId: groupIds.get(group)!, serverId: serverIds.get(server)!, permissions }))
        if (assignments.length > 0) await db.insert(groupServers).values(assignments)
        for (const [group, status, role = 'member'] of row.member ?? []) {
          await db.insert(groupMembers).values({ groupId: groupIds.get(group)!, userId: user!.id, status, role })
        }

        const expected = Object.fromEntries(Object.entries(row.expect).map(([local, [server, tools]]) => [serverIds.get(local)!, [[...server].sort(), [...tools].sort()]]))
        const grants = await effectiveGrants(db, user!.id)
        t.same(plain(grants), expected, 'effectiveGrants (database path)')
        for (const local of serverKeys) {
          if (row.expect[local] === undefined) t.equal(grants.get(serverIds.get(local)!), undefined, `no grant on ${local}`)
        }

        const active = (row.member ?? []).filter(([, status]) => status === 'active').map(([group]) => groupIds.get(group)!)
        t.same(plain(computeGrants(active, nodes, assignments)), expected, 'computeGrants (pure) agrees')

        for (const local of serverKeys) {
          for (const action of ACTIONS) {
            const verdict = await authorize(db, principal, 'server', serverIds.get(local)!, action)
            t.equal(verdict, expectedVerdict(row, row.expect[local], action), `${action} on ${local}`)
          }
        }

        const readable = Object.entries(row.expect).filter(([, [server]]) => server.includes('read')).map(([local]) => serverIds.get(local)!).sort()
        t.same((await readableServerIds(db, principal))?.sort(), row.hubAdmin === true ? undefined : readable, 'readableServerIds: exactly the readable servers')

        const strings = Object.entries(row.expect).flatMap(([local, [server, tools]]) => [
          ...server.map((action) => `server:${serverIds.get(local)}:${action}`),
          ...tools.map((action) => `tools:${serverIds.get(local)}:${action}`)
        ]).sort()
        t.same(permissionStrings(grants), strings, 'permissionStrings')
        t.same(await permissionsOf(db, principal), row.hubAdmin === true ? ['*'] : strings, 'permissionsOf')
      })
    }
  })
}

t.test('permissionStrings: server:<id>:<action> and tools:<id>:<action>, sorted', async (t) => {
  const nodes: GroupNode[] = [{ id: 'g', parentId: null, permissions: { servers: RWX, tools: TOOLS } }]
  const grants = computeGrants(['g'], nodes, [{ groupId: 'g', serverId: 's2', permissions: ['read'] }, { groupId: 'g', serverId: 's1', permissions: RWX }])
  t.same(permissionStrings(grants), [
    'server:s1:execute', 'server:s1:read', 'server:s1:write', 'server:s2:read',
    'tools:s1:execute', 'tools:s1:read', 'tools:s2:execute', 'tools:s2:read'
  ])
  t.same(permissionStrings(new Map()), [])
})

t.test('withAncestors stays bounded on a corrupt tree', async (t) => {
  const tree = (pairs: Array<[string, string | null]>) => new Map(pairs.map(([id, parentId]) => [id, { id, parentId, permissions: { servers: RWX, tools: [] } }]))
  const chain = tree(Array.from({ length: 20 }, (_, i) => [`g${i}`, i === 0 ? null : `g${i - 1}`]))
  const deep = withAncestors('g19', chain)
  t.ok(deep.length <= MAX_GROUP_DEPTH + 1, 'a chain longer than MAX_GROUP_DEPTH is cut')
  t.same(deep, Array.from({ length: deep.length }, (_, i) => `g${19 - i}`), 'nearest first')
  t.same(withAncestors('g2', chain), ['g2', 'g1', 'g0'], 'a short chain is complete')
  t.same(withAncestors('a', tree([['a', 'b'], ['b', 'a']])), ['a', 'b'], 'a cycle a→b→a terminates')
  t.same(withAncestors('a', tree([['a', 'a']])), ['a'], 'a self-loop terminates')
  t.same(withAncestors('a', tree([['a', 'missing']])), ['a', 'missing'], 'a dangling parent ends the chain')
  const cyclic = [...tree([['a', 'b'], ['b', 'a']]).values()]
  t.same(plain(computeGrants(['a'], cyclic, [{ groupId: 'b', serverId: 's', permissions: ['read'] }])), { s: [['read'], []] }, 'computeGrants terminates on a cycle')
})

/** The group policy, as the contract states it: [membership, action, verdict]. */
const GROUP_ROWS: Array<[membership: 'none' | 'pending' | 'member' | 'group admin' | 'hub admin', action: 'read' | 'manage' | 'write', verdict: 'allow' | 'forbid' | 'hide']> = [
  ['none', 'read', 'hide'], ['none', 'manage', 'hide'], ['none', 'write', 'hide'],
  ['pending', 'read', 'hide'], ['pending', 'manage', 'hide'], ['pending', 'write', 'hide'],
  ['member', 'read', 'allow'], ['member', 'manage', 'forbid'], ['member', 'write', 'forbid'],
  ['group admin', 'read', 'allow'], ['group admin', 'manage', 'allow'], ['group admin', 'write', 'forbid'],
  ['hub admin', 'read', 'allow'], ['hub admin', 'manage', 'allow'], ['hub admin', 'write', 'allow']
]

for (const driver of DRIVERS) {
  t.test(`${driver}: group verdicts, by id or by name, never through a confusable name`, async (t) => {
    const handle = await testDatabase(t, driver)
    t.teardown(() => handle.close())
    await handle.migrate()
    const db = handle.db
    const [group] = await db.insert(groups).values({ name: 'verdicts' }).returning()
    // A name with the shape of the group's id (refused by the API, possible in old data): it never stands for the group.
    const [squatter] = await db.insert(groups).values({ name: group!.id }).returning()
    for (const [index, [membership, action, verdict]] of GROUP_ROWS.entries()) {
      const [user] = await db.insert(users).values({ username: `group-verdict-${index}`, passwordHash: 'x', role: membership === 'hub admin' ? 'admin' : 'user' }).returning()
      const principal: Principal = { userId: user!.id, username: user!.username, role: user!.role, readOnly: false }
      if (membership === 'pending' || membership === 'member' || membership === 'group admin') {
        await db.insert(groupMembers).values({ groupId: group!.id, userId: user!.id, status: membership === 'pending' ? 'pending' : 'active', role: membership === 'group admin' ? 'admin' : 'member' })
      }
      await db.insert(groupMembers).values({ groupId: squatter!.id, userId: user!.id, role: 'admin' })
      t.equal(await authorize(db, principal, 'group', group!.id, action), verdict, `${membership}: ${action} by id`)
      t.equal(await authorize(db, principal, 'group', 'verdicts', action), verdict, `${membership}: ${action} by name`)
    }
  })
}

t.test('approvals: never by the one who added the member, unless a hub admin', async (t) => {
  const principal = (userId: string, role: 'admin' | 'user'): Principal => ({ userId, username: userId, role, readOnly: false })
  t.equal(approvalVerdict(principal('lead', 'user'), 'lead'), 'forbid', 'the adder')
  t.equal(approvalVerdict(principal('second', 'user'), 'lead'), 'allow', 'another group admin')
  t.equal(approvalVerdict(principal('root', 'admin'), 'root'), 'allow', 'a hub admin who added them')
  t.equal(approvalVerdict(principal('second', 'user'), null), 'allow', 'added by the hub itself, or by a user since deleted')
})
