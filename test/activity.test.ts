import { randomBytes, randomUUID } from 'node:crypto'
import type { InjectOptions, Response } from 'light-my-request'
import t, { type Test } from 'tap'
import type { App } from '../app.ts'
import { activity } from '../db/schema.ts'
import type { ActivityEntry } from '../events/activity.ts'
import { totpCode, totpStep } from '../lib/totp.ts'
import { build, createUser, DRIVERS, rememberSecret, signIn, TEST_ADMIN, type SignedIn } from './helper.ts'
import { enrolMfa, wrongCode } from './helpers/auth.ts'
import { listActivity, trail } from './helpers/activity.ts'

// The activity trail: every change made through the API is recorded (who, what, on which
// object, how it ended, from where), published on `user-activity` and listed by
// GET /api/monitoring/activity, and never holds a secret value.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 }
type Tap = { teardown(fn: () => unknown): void }

/** Secret values the tests send or get: none may appear in a stored row or an event (nor in a log line). */
const SECRETS = new Set<string>([TEST_ADMIN.password])
const keep = (value: string) => {
  rememberSecret(value)
  SECRETS.add(value)
  return value
}
const secret = (what: string) => keep(`${what}-${randomBytes(9).toString('base64url')}`)
/** A field name the schema does not know: the 422 names it to the caller (and the log), the trail does not keep it. */
const unknownField = () => {
  const name = `madeUp${randomBytes(6).toString('hex')}`
  SECRETS.add(name)
  return name
}

/** What the table asserts of an entry (the rest, id, time, address, is checked once per row). */
interface Expected {
  outcome?: 'success' | 'failure'
  reason?: string | null
  actor?: { userId: string | null, username: string } | null
  target?: { type: string, id: string | null, name: string | null } | null
  related?: { type: string, id: string | null, name: string | null } | null
  fields?: string[] | null
}

interface Fixtures {
  app: App
  admin: SignedIn
  /** The app's clock: MFA codes need a later step for each use. */
  advance(ms: number): void
  clock(): number
  user(fields?: Record<string, unknown>): Promise<SignedIn & { username: string, password: string }>
  group(body?: Record<string, unknown>): Promise<{ id: string, name: string }>
  server(body?: Record<string, unknown>): Promise<{ id: string, name: string }>
  send(who: SignedIn | null, options: InjectOptions): Promise<Response>
}

interface Row {
  /** What the row shows (the action, and which case of it). */
  name: string
  action: string
  /**
   * Prepares what the request needs; returns the request, as whom (null: anonymous), and what
   * its entry must say (the actor defaults to the caller, `related` to none, `fields` to none).
   * `check` looks at the answer, and completes the expectation with what only it tells.
   */
  run(f: Fixtures, t: Test): Promise<{
    who: SignedIn | null
    request: InjectOptions
    status: number
    expect: Expected
    check?: (res: Response) => Promise<Expected | void> | Expected | void
  }>
}

let counter = 0
const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`
const ref = (type: string, object: { id: string, name: string }) => ({ type, id: object.id, name: object.name })
const userRef = (user: SignedIn & { username: string }) => ({ type: 'user', id: user.userId, name: user.username })
const me = (user: SignedIn & { username: string }) => ({ userId: user.userId, username: user.username })
const adminActor = (f: Fixtures) => ({ userId: f.admin.userId, username: TEST_ADMIN.username })

const ENV_SECRET = secret('env-value')
const PASSWORD = secret('new-password')
const WRONG_PASSWORD = secret('wrong-password')

const ROWS: Row[] = [
  // Sign-in, each way it can fail: the caller's answer does not say which; the trail does.
  {
    name: 'auth.login succeeds',
    action: 'auth.login',
    async run (f, t) {
      const user = await f.user()
      return { who: null, request: { method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: user.password } }, status: 200, expect: { outcome: 'success', reason: null, actor: me(user), target: userRef(user), fields: null } }
    }
  },
  {
    name: 'auth.login fails: unknown user (the name tried is the actor)',
    action: 'auth.login',
    async run (_f, t) {
      const username = unique('nobody')
      return {
        who: null,
        request: { method: 'POST', url: '/api/auth/login', payload: { username, password: WRONG_PASSWORD }, remoteAddress: '192.0.2.1' },
        status: 401,
        expect: { outcome: 'failure', reason: 'unknown-user', actor: { userId: null, username }, target: null },
        check: (res) => { t.equal(res.json().error.message, 'Invalid username or password') }
      }
    }
  },
  {
    name: 'auth.login fails: bad password',
    action: 'auth.login',
    async run (f, t) {
      const user = await f.user()
      return {
        who: null,
        request: { method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: WRONG_PASSWORD }, remoteAddress: '192.0.2.2' },
        status: 401,
        expect: { outcome: 'failure', reason: 'bad-password', actor: me(user), target: userRef(user) },
        check: (res) => { t.equal(res.json().error.message, 'Invalid username or password', 'the same answer as for an unknown user') }
      }
    }
  },
  {
    name: 'auth.login fails: MFA code missing',
    action: 'auth.login',
    async run (f, t) {
      const user = await f.user()
      await enrolMfa(f.app, user, f.clock())
      return { who: null, request: { method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: user.password }, remoteAddress: '192.0.2.3' }, status: 401, expect: { outcome: 'failure', reason: 'mfa-required', actor: me(user), target: userRef(user) } }
    }
  },
  {
    name: 'auth.login fails: MFA code wrong',
    action: 'auth.login',
    async run (f, t) {
      const user = await f.user()
      const mfa = await enrolMfa(f.app, user, f.clock())
      const mfaCode = wrongCode(mfa, f.clock())
      keep(mfa)
      return { who: null, request: { method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: user.password, mfaCode }, remoteAddress: '192.0.2.4' }, status: 401, expect: { outcome: 'failure', reason: 'mfa-invalid', actor: me(user), target: userRef(user) } }
    }
  },
  {
    name: 'auth.login fails: throttled after repeated failures',
    action: 'auth.login',
    async run (f, t) {
      const user = await f.user()
      for (let i = 0; i < 6; i++) await f.send(null, { method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: WRONG_PASSWORD }, remoteAddress: '192.0.2.5' })
      return {
        who: null,
        request: { method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: user.password }, remoteAddress: '192.0.2.5' },
        status: 401,
        // The account is not even looked up while it is blocked.
        expect: { outcome: 'failure', reason: 'throttled', actor: { userId: null, username: user.username }, target: null },
        check: (res) => {
          t.match(res.json().error.message, /Too many failed sign-in attempts/)
        }
      }
    }
  },
  {
    name: 'auth.refresh fails: an unknown token',
    action: 'auth.refresh',
    async run (_f, t) {
      return { who: null, request: { method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: secret('unknown-refresh-token') } }, status: 401, expect: { outcome: 'failure', reason: 'unknown-token', actor: null, target: null } }
    }
  },
  {
    name: 'auth.refresh-reuse: a spent refresh token presented again',
    action: 'auth.refresh-reuse',
    async run (f, t) {
      const user = await f.user()
      const renewed = await f.send(null, { method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: user.refreshToken } })
      keep(renewed.json().data.refreshToken)
      return { who: null, request: { method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: user.refreshToken } }, status: 401, expect: { outcome: 'failure', reason: 'reused', actor: me(user), target: userRef(user) } }
    }
  },
  {
    name: 'auth.logout',
    action: 'auth.logout',
    async run (f, t) {
      const user = await f.user()
      return { who: user, request: { method: 'POST', url: '/api/auth/logout' }, status: 204, expect: { outcome: 'success', actor: me(user), target: userRef(user), fields: null } }
    }
  },
  {
    name: 'auth.password.change (one\'s own)',
    action: 'auth.password.change',
    async run (f, t) {
      const user = await f.user()
      return { who: user, request: { method: 'PUT', url: `/api/users/${user.userId}`, payload: { currentPassword: user.password, password: PASSWORD } }, status: 200, expect: { outcome: 'success', actor: me(user), target: userRef(user), fields: ['currentPassword', 'password'] } }
    }
  },
  {
    name: 'auth.mfa.start',
    action: 'auth.mfa.start',
    async run (f, t) {
      const user = await f.user()
      return { who: user, request: { method: 'POST', url: '/api/auth/mfa/enroll' }, status: 200, expect: { outcome: 'success', actor: me(user), target: userRef(user), fields: null }, check: (res) => { keep(res.json().data.secret) } }
    }
  },
  {
    name: 'auth.mfa.enroll',
    action: 'auth.mfa.enroll',
    async run (f, t) {
      const user = await f.user()
      const mfa = (await f.send(user, { method: 'POST', url: '/api/auth/mfa/enroll' })).json().data.secret as string
      keep(mfa)
      return { who: user, request: { method: 'POST', url: '/api/auth/mfa/confirm', payload: { code: totpCode(mfa, totpStep(f.clock())) } }, status: 200, expect: { outcome: 'success', actor: me(user), target: userRef(user), fields: ['code'] } }
    }
  },
  {
    name: 'auth.mfa.enroll fails: a wrong code',
    action: 'auth.mfa.enroll',
    async run (f, t) {
      const user = await f.user()
      const mfa = (await f.send(user, { method: 'POST', url: '/api/auth/mfa/enroll' })).json().data.secret as string
      keep(mfa)
      return { who: user, request: { method: 'POST', url: '/api/auth/mfa/confirm', payload: { code: wrongCode(mfa, f.clock()) } }, status: 422, expect: { outcome: 'failure', reason: 'VALIDATION_ERROR', actor: me(user), target: userRef(user), fields: ['code'] } }
    }
  },
  {
    name: 'auth.mfa.disable',
    action: 'auth.mfa.disable',
    async run (f, t) {
      const user = await f.user()
      const mfa = await enrolMfa(f.app, user, f.clock())
      keep(mfa)
      // The code used at enrolment is spent: the next one comes a step later.
      f.advance(30_000)
      return { who: user, request: { method: 'POST', url: '/api/auth/mfa/disable', payload: { code: totpCode(mfa, totpStep(f.clock())) } }, status: 200, expect: { outcome: 'success', actor: me(user), target: userRef(user), fields: ['code'] } }
    }
  },
  {
    name: 'auth.mfa.reset',
    action: 'auth.mfa.reset',
    async run (f, t) {
      const user = await f.user()
      await enrolMfa(f.app, user, f.clock())
      return { who: f.admin, request: { method: 'DELETE', url: `/api/auth/mfa/${user.userId}` }, status: 204, expect: { outcome: 'success', actor: adminActor(f), target: userRef(user), fields: null } }
    }
  },
  {
    name: 'auth.api-key.create (the handler names the new key)',
    action: 'auth.api-key.create',
    async run (f, t) {
      const user = await f.user()
      const name = unique('key')
      return {
        who: user,
        request: { method: 'POST', url: '/api/auth/api-keys', payload: { name, readOnly: true } },
        status: 201,
        expect: { outcome: 'success', actor: me(user), fields: ['name', 'readOnly'] },
        check: (res) => {
          keep(res.json().data.key)
          return { target: { type: 'api-key', id: res.json().data.id, name } }
        }
      }
    }
  },
  {
    name: 'auth.api-key.revoke',
    action: 'auth.api-key.revoke',
    async run (f, t) {
      const user = await f.user()
      const name = unique('key')
      const key = (await f.send(user, { method: 'POST', url: '/api/auth/api-keys', payload: { name } })).json().data
      keep(key.key)
      return { who: user, request: { method: 'DELETE', url: `/api/auth/api-keys/${key.id}` }, status: 204, expect: { outcome: 'success', actor: me(user), target: { type: 'api-key', id: key.id, name } } }
    }
  },
  {
    name: 'auth.api-key.revoke fails: another user\'s key (no name is looked up for it)',
    action: 'auth.api-key.revoke',
    async run (f, t) {
      const owner = await f.user()
      const user = await f.user()
      const key = (await f.send(owner, { method: 'POST', url: '/api/auth/api-keys', payload: { name: unique('private-key-name') } })).json().data
      keep(key.key)
      return { who: user, request: { method: 'DELETE', url: `/api/auth/api-keys/${key.id}` }, status: 404, expect: { outcome: 'failure', reason: 'RESOURCE_NOT_FOUND', actor: me(user), target: { type: 'api-key', id: key.id, name: null } } }
    }
  },
  // Users.
  {
    name: 'user.create',
    action: 'user.create',
    async run (f, t) {
      const username = unique('created')
      return {
        who: f.admin,
        request: { method: 'POST', url: '/api/users', payload: { username, password: PASSWORD, email: `${username}@example.com` } },
        status: 201,
        expect: { outcome: 'success', actor: adminActor(f), fields: ['username', 'password', 'email'] },
        check: (res) => ({ target: { type: 'user', id: res.json().data.id, name: username } })
      }
    }
  },
  {
    name: 'user.create fails: a field only the schema refuses (its name is not stored)',
    action: 'user.create',
    async run (f, t) {
      return { who: f.admin, request: { method: 'POST', url: '/api/users', payload: { username: unique('refused'), password: PASSWORD, [unknownField()]: true } }, status: 422, expect: { outcome: 'failure', reason: 'VALIDATION_ERROR', actor: adminActor(f), target: { type: 'user', id: null, name: null }, fields: ['username', 'password'] } }
    }
  },
  {
    name: 'user.update',
    action: 'user.update',
    async run (f, t) {
      const user = await f.user()
      return { who: f.admin, request: { method: 'PUT', url: `/api/users/${user.userId}`, payload: { email: `${user.username}@example.org`, profile: { department: 'Audit' } } }, status: 200, expect: { outcome: 'success', actor: adminActor(f), target: userRef(user), fields: ['email', 'profile'] } }
    }
  },
  {
    name: 'user.update fails: a user editing another (404 before the body is read: no name, no fields)',
    action: 'user.update',
    async run (f, t) {
      const user = await f.user()
      const other = await f.user()
      return { who: user, request: { method: 'PUT', url: `/api/users/${other.userId}`, payload: { email: 'x@example.org' } }, status: 404, expect: { outcome: 'failure', reason: 'RESOURCE_NOT_FOUND', actor: me(user), target: { type: 'user', id: other.userId, name: null } } }
    }
  },
  {
    name: 'user.delete (the name outlives the user)',
    action: 'user.delete',
    async run (f, t) {
      const user = await f.user()
      return { who: f.admin, request: { method: 'DELETE', url: `/api/users/${user.userId}` }, status: 204, expect: { outcome: 'success', actor: adminActor(f), target: userRef(user), fields: null } }
    }
  },
  // Groups, members, assignments.
  {
    name: 'group.create',
    action: 'group.create',
    async run (f, t) {
      const name = unique('team')
      return {
        who: f.admin,
        request: { method: 'POST', url: '/api/groups', payload: { name, description: 'd' } },
        status: 201,
        expect: { outcome: 'success', actor: adminActor(f), fields: ['name', 'description'] },
        check: (res) => ({ target: { type: 'group', id: res.json().data.id, name } })
      }
    }
  },
  {
    name: 'group.update (the group named by its name in the path)',
    action: 'group.update',
    async run (f, t) {
      const group = await f.group()
      return { who: f.admin, request: { method: 'PUT', url: `/api/groups/${group.name}`, payload: { displayName: 'Team' } }, status: 200, expect: { outcome: 'success', actor: adminActor(f), target: ref('group', group), fields: ['displayName'] } }
    }
  },
  {
    name: 'group.delete',
    action: 'group.delete',
    async run (f, t) {
      const group = await f.group()
      return { who: f.admin, request: { method: 'DELETE', url: `/api/groups/${group.id}` }, status: 204, expect: { outcome: 'success', actor: adminActor(f), target: ref('group', group) } }
    }
  },
  {
    name: 'group.member.add',
    action: 'group.member.add',
    async run (f, t) {
      const group = await f.group()
      const user = await f.user()
      return { who: f.admin, request: { method: 'POST', url: `/api/groups/${group.id}/members`, payload: { userId: user.userId, role: 'member' } }, status: 201, expect: { outcome: 'success', actor: adminActor(f), target: ref('group', group), related: userRef(user), fields: ['userId', 'role'] } }
    }
  },
  {
    name: 'group.member.add fails: already a member',
    action: 'group.member.add',
    async run (f, t) {
      const group = await f.group()
      const user = await f.user()
      await f.send(f.admin, { method: 'POST', url: `/api/groups/${group.id}/members`, payload: { userId: user.userId } })
      return { who: f.admin, request: { method: 'POST', url: `/api/groups/${group.id}/members`, payload: { userId: user.userId } }, status: 409, expect: { outcome: 'failure', reason: 'RESOURCE_CONFLICT', target: { type: 'group', id: group.id, name: null }, related: { type: 'user', id: user.userId, name: null }, fields: ['userId'] } }
    }
  },
  {
    name: 'group.member.update',
    action: 'group.member.update',
    async run (f, t) {
      const group = await f.group()
      const user = await f.user()
      await f.send(f.admin, { method: 'POST', url: `/api/groups/${group.id}/members`, payload: { userId: user.userId } })
      return { who: f.admin, request: { method: 'PUT', url: `/api/groups/${group.id}/members/${user.userId}`, payload: { role: 'admin' } }, status: 200, expect: { outcome: 'success', target: ref('group', group), related: userRef(user), fields: ['role'] } }
    }
  },
  {
    name: 'group.member.approve (a member a group admin added)',
    action: 'group.member.approve',
    async run (f, t) {
      const group = await f.group({ settings: { requireApproval: true } })
      const lead = await f.user()
      const user = await f.user()
      await f.send(f.admin, { method: 'POST', url: `/api/groups/${group.id}/members`, payload: { userId: lead.userId, role: 'admin' } })
      const added = await f.send(lead, { method: 'POST', url: `/api/groups/${group.id}/members`, payload: { userId: user.userId } })
      t.equal(added.json().data.status, 'pending')
      return { who: f.admin, request: { method: 'POST', url: `/api/groups/${group.id}/members/${user.userId}/approve` }, status: 200, expect: { outcome: 'success', actor: adminActor(f), target: ref('group', group), related: userRef(user), fields: null } }
    }
  },
  {
    name: 'group.member.remove',
    action: 'group.member.remove',
    async run (f, t) {
      const group = await f.group()
      const user = await f.user()
      await f.send(f.admin, { method: 'POST', url: `/api/groups/${group.id}/members`, payload: { userId: user.userId } })
      return { who: f.admin, request: { method: 'DELETE', url: `/api/groups/${group.id}/members/${user.userId}` }, status: 204, expect: { outcome: 'success', target: ref('group', group), related: userRef(user) } }
    }
  },
  {
    name: 'group.server.assign',
    action: 'group.server.assign',
    async run (f, t) {
      const group = await f.group()
      const server = await f.server()
      return { who: f.admin, request: { method: 'POST', url: `/api/groups/${group.id}/servers`, payload: { serverId: server.id, permissions: ['read'] } }, status: 201, expect: { outcome: 'success', target: ref('group', group), related: ref('server', server), fields: ['serverId', 'permissions'] } }
    }
  },
  {
    name: 'group.server.update',
    action: 'group.server.update',
    async run (f, t) {
      const group = await f.group()
      const server = await f.server()
      await f.send(f.admin, { method: 'POST', url: `/api/groups/${group.id}/servers`, payload: { serverId: server.id, permissions: ['read'] } })
      return { who: f.admin, request: { method: 'PUT', url: `/api/groups/${group.id}/servers/${server.id}`, payload: { permissions: ['read', 'execute'] } }, status: 200, expect: { outcome: 'success', target: ref('group', group), related: ref('server', server), fields: ['permissions'] } }
    }
  },
  {
    name: 'group.server.unassign',
    action: 'group.server.unassign',
    async run (f, t) {
      const group = await f.group()
      const server = await f.server()
      await f.send(f.admin, { method: 'POST', url: `/api/groups/${group.id}/servers`, payload: { serverId: server.id, permissions: ['read'] } })
      return { who: f.admin, request: { method: 'DELETE', url: `/api/groups/${group.id}/servers/${server.id}` }, status: 204, expect: { outcome: 'success', target: ref('group', group), related: ref('server', server) } }
    }
  },
  // Servers.
  {
    name: 'server.create (env sent: its name, never its value)',
    action: 'server.create',
    async run (f, t) {
      const name = unique('created-server')
      return {
        who: f.admin,
        request: { method: 'POST', url: '/api/servers', payload: { name, command: process.execPath, args: [FIXTURE], env: { API_TOKEN: ENV_SECRET }, enabled: false } },
        status: 201,
        expect: { outcome: 'success', actor: adminActor(f), fields: ['name', 'command', 'args', 'env', 'enabled'] },
        check: (res) => ({ target: { type: 'server', id: res.json().data.id, name } })
      }
    }
  },
  {
    name: 'server.import (one entry per server created)',
    action: 'server.import',
    async run (f, t) {
      const name = unique('imported')
      return {
        who: f.admin,
        request: { method: 'POST', url: '/api/servers/import', payload: { mcpServers: { [name]: { command: process.execPath, args: [FIXTURE], env: { API_TOKEN: ENV_SECRET }, disabled: true } } } },
        status: 200,
        expect: { outcome: 'success', actor: adminActor(f), fields: ['mcpServers'] },
        check: async (res) => {
          t.same(res.json().data.created, [name])
          const created = await f.send(f.admin, { method: 'GET', url: `/api/servers?filter[name]=${name}` })
          return { target: { type: 'server', id: created.json().data.items[0].id, name } }
        }
      }
    }
  },
  {
    name: 'server.update',
    action: 'server.update',
    async run (f, t) {
      const server = await f.server()
      return { who: f.admin, request: { method: 'PUT', url: `/api/servers/${server.id}`, payload: { description: 'now documented', env: { API_TOKEN: ENV_SECRET } } }, status: 200, expect: { outcome: 'success', target: ref('server', server), fields: ['description', 'env'] } }
    }
  },
  {
    name: 'server.update fails: a user who may not see the server',
    action: 'server.update',
    async run (f, t) {
      const server = await f.server()
      const user = await f.user()
      return { who: user, request: { method: 'PUT', url: `/api/servers/${server.id}`, payload: { env: { API_TOKEN: ENV_SECRET } } }, status: 404, expect: { outcome: 'failure', reason: 'RESOURCE_NOT_FOUND', actor: me(user), target: { type: 'server', id: server.id, name: null } } }
    }
  },
  {
    name: 'server.delete',
    action: 'server.delete',
    async run (f, t) {
      const server = await f.server()
      return { who: f.admin, request: { method: 'DELETE', url: `/api/servers/${server.id}` }, status: 204, expect: { outcome: 'success', target: ref('server', server), fields: null } }
    }
  },
  {
    name: 'server.start',
    action: 'server.start',
    async run (f, t) {
      const server = await f.server()
      return { who: f.admin, request: { method: 'POST', url: `/api/servers/${server.id}/start` }, status: 200, expect: { outcome: 'success', actor: adminActor(f), target: ref('server', server) }, check: (res) => { t.equal(res.json().data.status, 'running') } }
    }
  },
  {
    name: 'server.stop',
    action: 'server.stop',
    async run (f, t) {
      const server = await f.server()
      await f.send(f.admin, { method: 'POST', url: `/api/servers/${server.id}/start` })
      return { who: f.admin, request: { method: 'POST', url: `/api/servers/${server.id}/stop`, payload: { graceful: false } }, status: 200, expect: { outcome: 'success', target: ref('server', server), fields: ['graceful'] } }
    }
  },
  {
    name: 'server.restart',
    action: 'server.restart',
    async run (f, t) {
      const server = await f.server()
      return { who: f.admin, request: { method: 'POST', url: `/api/servers/${server.id}/restart` }, status: 200, expect: { outcome: 'success', target: ref('server', server) } }
    }
  },
  {
    name: 'server.items.update',
    action: 'server.items.update',
    async run (f, t) {
      const server = await f.server()
      return { who: f.admin, request: { method: 'PUT', url: `/api/servers/${server.id}/tools`, payload: { kind: 'tool', name: 'echo', enabled: false } }, status: 200, expect: { outcome: 'success', target: ref('server', server), fields: ['kind', 'name', 'enabled'] } }
    }
  }
]

/** Every action the docs list, each performed by at least one row. */
const ACTIONS = [
  'auth.login', 'auth.logout', 'auth.refresh', 'auth.refresh-reuse', 'auth.password.change', 'auth.mfa.start', 'auth.mfa.enroll', 'auth.mfa.disable',
  'auth.mfa.reset', 'auth.api-key.create', 'auth.api-key.revoke', 'user.create', 'user.update', 'user.delete', 'group.create', 'group.update',
  'group.delete', 'group.member.add', 'group.member.update', 'group.member.approve', 'group.member.remove', 'group.server.assign',
  'group.server.update', 'group.server.unassign', 'server.create', 'server.import', 'server.update', 'server.delete', 'server.start',
  'server.stop', 'server.restart', 'server.items.update'
]

async function fixtures (t: Tap, driver: 'pglite' | 'pg', options: { config?: Record<string, unknown> } = {}): Promise<Fixtures> {
  let clock = Date.now()
  const app = await build(t, driver, { now: () => clock, supervisorPolicy: POLICY, ...options })
  t.teardown(() => app.supervisor.stopAll(2000))
  const admin = await signIn(app)
  keep(admin.token)
  keep(admin.refreshToken)
  const send = (who: SignedIn | null, options: InjectOptions) => app.inject({ ...options, headers: { ...options.headers, ...who?.headers } })
  return {
    app,
    admin,
    advance: (ms) => { clock += ms },
    clock: () => clock,
    user: async (fields) => {
      const user = await createUser(app, admin, fields)
      for (const value of [user.password, user.token, user.refreshToken]) keep(value)
      return user
    },
    group: async (body = {}) => {
      const res = await send(admin, { method: 'POST', url: '/api/groups', payload: { name: unique('group'), ...body } })
      return res.json().data
    },
    server: async (body = {}) => {
      const res = await send(admin, { method: 'POST', url: '/api/servers', payload: { name: unique('server'), command: process.execPath, args: [FIXTURE], env: { API_TOKEN: ENV_SECRET }, enabled: false, ...body } })
      return res.json().data
    },
    send
  }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: every action is recorded, published, listed, and holds no secret`, async (t) => {
    const f = await fixtures(t, driver)
    const { events, next } = trail(t, f.app)
    const performed = new Set<string>()
    for (const row of ROWS) {
      await t.test(row.name, async (t) => {
        const { who, request, status, expect, check } = await row.run(f, t)
        // The user agent tells this request's entries from those of the row's preparations.
        const agent = `activity-test/${randomUUID()}`
        const res = await f.send(who, { ...request, headers: { ...request.headers, 'user-agent': agent } })
        t.equal(res.statusCode, status, `${row.name}: ${res.body.slice(0, 200)}`)
        const completed: Expected = await check?.(res) ?? {}
        const event = await next(row.name, (entry) => entry.userAgent === agent)
        const expected = {
          action: row.action,
          outcome: 'success',
          reason: null,
          actor: who === null ? null : { userId: who.userId, username: 'username' in who ? who.username : TEST_ADMIN.username },
          related: null,
          fields: null,
          ...expect,
          ...completed
        }
        t.not(expected.target, undefined, 'the row says what the target is')
        t.same(
          { action: event.action, outcome: event.outcome, reason: event.reason, actor: event.actor, target: event.target, related: event.related, fields: event.fields },
          expected,
          'who did what to which object, with which fields, and how it ended')
        t.equal(event.ip, request.remoteAddress ?? '127.0.0.1', 'from the caller\'s address')
        t.equal(event.userAgent, agent, 'with the caller\'s user agent')
        t.ok(Math.abs(Date.parse(event.at) - f.clock()) < 60_000, 'at the app\'s time')

        const listed = await listActivity(f.app, f.admin, `?filter[action]=${row.action}&limit=100`)
        t.equal(listed.status, 200)
        t.same(listed.body.data.items.find((item: ActivityEntry) => item.id === event.id), event, 'listed as published')
        performed.add(row.action)
      })
    }
    t.same([...performed].sort(), [...ACTIONS].sort(), 'every documented action was performed')

    const rows = await f.app.db.select().from(activity)
    const stored = JSON.stringify(rows) + JSON.stringify(events)
    t.ok(SECRETS.size > 20, 'passwords, env values, keys, codes and tokens were sent and received')
    t.notOk([...SECRETS].some((value) => stored.includes(value)), 'no stored row nor event holds a secret value')
    t.notOk(/mcphub_[A-Za-z0-9]{12}_/.test(stored), 'nor an API key')
    t.notOk(/"(code|mfaCode|refreshToken|token)":/.test(stored), 'nor a field value of any kind')
  })
}

for (const driver of DRIVERS) {
  t.test(`${driver}: users see what they did and what was done to their account; admins see everything`, async (t) => {
    const f = await fixtures(t, driver)
    const alice = await f.user()
    const bob = await f.user()
    const group = await f.group()
    await f.send(alice, { method: 'PUT', url: `/api/users/${alice.userId}`, payload: { profile: { department: 'A' } } })
    await f.send(bob, { method: 'PUT', url: `/api/users/${bob.userId}`, payload: { profile: { department: 'B' } } })
    await f.send(f.admin, { method: 'PUT', url: `/api/users/${bob.userId}`, payload: { email: 'bob@example.org' } })
    await f.send(f.admin, { method: 'POST', url: `/api/groups/${group.id}/members`, payload: { userId: alice.userId } })

    const own = await listActivity(f.app, alice, '?limit=100')
    t.equal(own.status, 200)
    const items = own.body.data.items as ActivityEntry[]
    const aboutAlice = (entry: ActivityEntry) => entry.actor?.userId === alice.userId ||
      [entry.target, entry.related].some((object) => object?.type === 'user' && object.id === alice.userId)
    t.ok(items.every(aboutAlice), 'only entries about her')
    t.same(items.map((entry) => entry.action).sort(), ['auth.login', 'group.member.add', 'user.create', 'user.update'], 'her sign-in, her change, her creation and her new membership')
    t.equal(own.body.data.pagination.total, 4, 'counted alike')

    const byHerself = await listActivity(f.app, alice, `?filter[userId]=${alice.userId}`)
    t.same(byHerself.body.data.items.map((entry: ActivityEntry) => entry.action).sort(), ['auth.login', 'user.update'], 'filter[userId]: what she did herself')
    for (const other of [bob.userId, randomUUID()]) {
      const refused = await listActivity(f.app, alice, `?filter[userId]=${other}`)
      t.equal(refused.status, 403, 'another user\'s id: 403, whether the user exists or not')
      t.equal(refused.body.error.code, 'AUTHORIZATION_FAILED')
    }

    const all = await listActivity(f.app, f.admin, '?limit=100')
    t.ok(all.body.data.items.some((entry: ActivityEntry) => entry.actor?.userId === bob.userId), 'admins see Bob\'s actions')
    const bobs = await listActivity(f.app, f.admin, `?filter[userId]=${bob.userId}`)
    t.same(bobs.body.data.items.map((entry: ActivityEntry) => entry.action).sort(), ['auth.login', 'user.update'], 'and filter them by actor')
  })
}

t.test('a route under /api that changes something without recording it stops the app from starting', async (t) => {
  await t.rejects(build(t, 'pglite', {
    extend: (app) => {
      app.post('/api/forgotten', { config: { access: 'admin' } }, async () => 'unaudited')
    }
  }), /records no activity/)
})
