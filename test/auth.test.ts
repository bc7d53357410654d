import t from 'tap'
import { eq } from 'drizzle-orm'
import { apiKeys, refreshTokens, sessions, users } from '../db/schema.ts'
import { totpCode, totpStep } from '../lib/totp.ts'
import { build, captureLogs, createUser, DRIVERS, signIn, TEST_ADMIN } from './helper.ts'

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    let clock = Date.parse('2026-03-01T12:00:00Z')
    const logs = captureLogs()
    const app = await build(t, driver, { now: () => clock, logStream: logs.stream, config: { logLevel: 'info' } })
    const admin = await signIn(app)

    t.test('login → verify → refresh → logout', async (t) => {
      const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: TEST_ADMIN.username, password: TEST_ADMIN.password } })
      t.equal(login.statusCode, 200)
      const data = login.json().data
      t.equal(data.expiresIn, 900)
      t.same(data.user.permissions, ['*'], 'admins have every permission')
      t.equal(data.user.role, 'admin')
      t.match(data.token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
      const header = JSON.parse(Buffer.from(data.token.split('.')[0], 'base64url').toString())
      t.equal(header.alg, 'HS256')
      const claims = JSON.parse(Buffer.from(data.token.split('.')[1], 'base64url').toString())
      t.equal(claims.iss, 'mcphub')
      t.equal(claims.aud, 'mcphub-api')
      t.ok(claims.sid, 'bound to a session')

      const bearer = { authorization: `Bearer ${data.token}` }
      const verify = await app.inject({ method: 'GET', url: '/api/auth/verify', headers: bearer })
      t.equal(verify.statusCode, 200)
      t.equal(verify.json().data.user.username, TEST_ADMIN.username)
      t.equal(verify.json().data.method, 'token')
      t.equal(Date.parse(verify.json().data.expiresAt), Math.floor(clock / 1000) * 1000 + 900_000, 'expires 15 minutes after it was issued, by the app\'s clock')

      const refreshed = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: data.refreshToken } })
      t.equal(refreshed.statusCode, 200)
      const next = refreshed.json().data
      t.not(next.refreshToken, data.refreshToken, 'rotated')
      const nextBearer = { authorization: `Bearer ${next.token}` }
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: nextBearer })).statusCode, 200)

      const logout = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: nextBearer })
      t.equal(logout.statusCode, 204)
      t.equal(logout.body, '')
      for (const headers of [bearer, nextBearer]) {
        const after = await app.inject({ method: 'GET', url: '/api/auth/verify', headers })
        t.equal(after.statusCode, 401, 'access tokens of the session stop working at once')
        t.equal(after.json().error.code, 'AUTHENTICATION_FAILED')
      }
      const refreshAfter = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: next.refreshToken } })
      t.equal(refreshAfter.statusCode, 401, 'and so does its refresh token')
    })

    t.test('a spent refresh token presented again revokes the session', async (t) => {
      const first = await signIn(app)
      const rotated = (await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: first.refreshToken } })).json().data
      const reuse = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: first.refreshToken } })
      t.equal(reuse.statusCode, 401)
      t.match(reuse.json().error.message, /revoked/)
      t.equal((await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: rotated.refreshToken } })).statusCode, 401, 'the legitimate holder is signed out too')
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { authorization: `Bearer ${rotated.token}` } })).statusCode, 401)
      const stored = await app.db.select().from(refreshTokens)
      t.ok(stored.every((row) => /^[0-9a-f]{64}$/.test(row.tokenHash)), 'only SHA-256 hashes are stored')
      t.notOk(stored.some((row) => row.tokenHash === first.refreshToken))
    })

    t.test('bad credentials: one 401 body for unknown user and wrong password', async (t) => {
      const unknown = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'nobody-here', password: 'whatever-password' } })
      const wrong = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: TEST_ADMIN.username, password: 'wrong-password' } })
      t.equal(unknown.statusCode, 401)
      t.equal(wrong.statusCode, 401)
      t.same(unknown.json().error, wrong.json().error)
      for (const headers of [{ authorization: 'Bearer not-a-jwt' }, { authorization: `Bearer ${admin.token}x` }, { 'x-api-key': 'mcphub_nope' }, {}]) {
        const res = await app.inject({ method: 'GET', url: '/api/auth/verify', headers })
        t.equal(res.statusCode, 401, JSON.stringify(headers))
        t.equal(res.json().error.code, 'AUTHENTICATION_FAILED')
      }
      const forged = admin.token.split('.')
      const payload = JSON.parse(Buffer.from(forged[1]!, 'base64url').toString())
      const none = [Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url'), Buffer.from(JSON.stringify(payload)).toString('base64url'), ''].join('.')
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { authorization: `Bearer ${none}` } })).statusCode, 401, 'alg none is refused')
    })

    t.test('brute force: growing delays per account, the right password refused meanwhile, reset on success', async (t) => {
      const victim = await createUser(app, admin)
      const attempt = (password: string) => app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: victim.username, password }, remoteAddress: '10.1.1.1' })
      for (let i = 0; i < 5; i++) t.equal((await attempt('wrong-password')).statusCode, 401)
      t.equal((await attempt(victim.password)).statusCode, 200, 'five failures are free')
      for (let i = 0; i < 6; i++) await attempt('wrong-password')
      const blocked = await attempt(victim.password)
      t.equal(blocked.statusCode, 401, 'the right password is refused while the delay runs')
      t.match(blocked.json().error.message, /Too many/)
      const firstDelay = Number(blocked.headers['retry-after'])
      t.ok(firstDelay > 0 && firstDelay <= 15 * 60, `Retry-After ${firstDelay}s`)
      clock += firstDelay * 1000 + 1
      t.equal((await attempt('wrong-password')).statusCode, 401)
      const longer = Number((await attempt(victim.password)).headers['retry-after'])
      t.ok(longer > firstDelay, `the delay grows (${firstDelay}s → ${longer}s)`)
      clock += longer * 1000 + 1
      t.equal((await attempt(victim.password)).statusCode, 200, 'allowed again once the delay has passed')
      t.equal((await attempt('wrong-password')).statusCode, 401)
      t.equal((await attempt(victim.password)).statusCode, 200, 'a success reset the count')
    })

    t.test('MFA: enrol, login with and without the code, replay refused, disable, admin reset', async (t) => {
      const user = await createUser(app, admin)
      t.same((await app.inject({ method: 'GET', url: '/api/auth/mfa', headers: user.headers })).json().data, { enabled: false, pending: false })
      const enrol = await app.inject({ method: 'POST', url: '/api/auth/mfa/enroll', headers: user.headers })
      t.equal(enrol.statusCode, 200)
      const { secret, otpauthUrl } = enrol.json().data
      t.match(otpauthUrl, new RegExp(`^otpauth://totp/MCPHub%3A${user.username}\\?secret=${secret}`))
      const [row] = await app.db.select().from(users).where(eq(users.id, user.userId))
      t.notOk(JSON.stringify(row).includes(secret), 'the secret is stored encrypted')

      const bad = await app.inject({ method: 'POST', url: '/api/auth/mfa/confirm', headers: user.headers, payload: { code: totpCode(secret, totpStep(clock) + 5) } })
      t.equal(bad.statusCode, 422)
      const confirmCode = totpCode(secret, totpStep(clock))
      t.equal((await app.inject({ method: 'POST', url: '/api/auth/mfa/confirm', headers: user.headers, payload: { code: confirmCode } })).statusCode, 200)
      t.same((await app.inject({ method: 'GET', url: '/api/auth/mfa', headers: user.headers })).json().data, { enabled: true, pending: false })

      const login = (mfaCode?: string) => app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: user.password, ...(mfaCode === undefined ? {} : { mfaCode }) } })
      const without = await login()
      t.equal(without.statusCode, 401)
      t.equal(without.json().error.code, 'AUTHENTICATION_FAILED')
      t.equal((await login('000000')).statusCode, 401, 'a wrong code')
      t.equal((await login(confirmCode)).statusCode, 401, 'the enrolment code cannot be replayed')
      clock += 30_000
      const code = totpCode(secret, totpStep(clock))
      t.equal((await login(code)).statusCode, 200, 'the current code works')
      t.equal((await login(code)).statusCode, 401, 'once')
      clock += 30_000
      t.equal((await login(totpCode(secret, totpStep(clock) - 1))).statusCode, 401, 'an older step after a newer one is refused')

      const disableBad = await app.inject({ method: 'POST', url: '/api/auth/mfa/disable', headers: user.headers, payload: { code: '123456' } })
      t.equal(disableBad.statusCode, 401)
      const reset = await app.inject({ method: 'DELETE', url: `/api/auth/mfa/${user.userId}`, headers: user.headers })
      t.equal(reset.statusCode, 403, 'only admins reset MFA')
      t.equal((await app.inject({ method: 'DELETE', url: `/api/auth/mfa/${user.userId}`, headers: admin.headers })).statusCode, 204)
      t.equal((await login()).statusCode, 200, 'after a reset the password alone works')

      await app.inject({ method: 'POST', url: '/api/auth/mfa/enroll', headers: user.headers })
      const again = (await app.inject({ method: 'POST', url: '/api/auth/mfa/enroll', headers: user.headers })).json().data.secret
      clock += 30_000
      await app.inject({ method: 'POST', url: '/api/auth/mfa/confirm', headers: user.headers, payload: { code: totpCode(again, totpStep(clock)) } })
      clock += 30_000
      t.equal((await app.inject({ method: 'POST', url: '/api/auth/mfa/disable', headers: user.headers, payload: { code: totpCode(again, totpStep(clock)) } })).statusCode, 200)
      t.same((await app.inject({ method: 'GET', url: '/api/auth/mfa', headers: user.headers })).json().data, { enabled: false, pending: false })
    })

    t.test('API keys: create (shown once), use, list, read-only, revoke; only a hash stored', async (t) => {
      const user = await createUser(app, admin)
      const created = await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: user.headers, payload: { name: 'ci' } })
      t.equal(created.statusCode, 201)
      const { key, id, prefix } = created.json().data
      t.match(key, /^mcphub_[A-Za-z0-9]{12}_[\w-]{43}$/)
      const [row] = await app.db.select().from(apiKeys).where(eq(apiKeys.id, id))
      t.equal(row?.prefix, prefix)
      t.notOk(JSON.stringify(row).includes(key.slice(-43)), 'the secret part is not stored')
      t.match(row?.secretHash, /^[0-9a-f]{64}$/)

      const verify = await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': key } })
      t.equal(verify.statusCode, 200)
      t.equal(verify.json().data.user.id, user.userId, 'acts as its owner')
      t.equal(verify.json().data.method, 'apiKey')
      t.equal((await app.inject({ method: 'GET', url: '/api/users', headers: { 'x-api-key': key } })).statusCode, 403, 'with the owner\'s permissions only')
      const tampered = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': tampered } })).statusCode, 401)

      const list = await app.inject({ method: 'GET', url: '/api/auth/api-keys', headers: user.headers })
      t.same(list.json().data.map((k: { id: string }) => k.id), [id])
      t.notOk(list.body.includes(key), 'lists never show the key')
      let lastUsedAt: string | null = null
      for (let i = 0; i < 40 && lastUsedAt === null; i++) {
        lastUsedAt = (await app.inject({ method: 'GET', url: '/api/auth/api-keys', headers: user.headers })).json().data[0].lastUsedAt
        if (lastUsedAt === null) await new Promise((resolve) => setTimeout(resolve, 25))
      }
      t.equal(lastUsedAt, new Date(clock).toISOString(), 'last use is recorded (in the background)')
      const adminList = await app.inject({ method: 'GET', url: `/api/auth/api-keys?userId=${user.userId}`, headers: admin.headers })
      t.same(adminList.json().data.map((k: { id: string }) => k.id), [id], 'admins see anyone\'s keys')

      const readOnly = (await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: user.headers, payload: { name: 'ro', readOnly: true } })).json().data
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': readOnly.key } })).statusCode, 200)
      const write = await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: { 'x-api-key': readOnly.key }, payload: { name: 'escalate' } })
      t.equal(write.statusCode, 403, 'read-only keys cannot write')

      const other = await createUser(app, admin)
      t.equal((await app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${id}`, headers: other.headers })).statusCode, 404, 'someone else\'s key is not found')
      t.equal((await app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${id}`, headers: user.headers })).statusCode, 204)
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': key } })).statusCode, 401, 'revoked keys stop working')
      t.equal((await app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${readOnly.id}`, headers: admin.headers })).statusCode, 204, 'admins revoke anyone\'s key')

      const expired = (await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: user.headers, payload: { name: 'short', expiresAt: new Date(clock + 60_000).toISOString() } })).json().data
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': expired.key } })).statusCode, 200)
      clock += 120_000
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': expired.key } })).statusCode, 401, 'expired keys stop working')
    })

    t.test('users: CRUD, uniqueness ignoring case, self-service limits', async (t) => {
      const create = (payload: object) => app.inject({ method: 'POST', url: '/api/users', headers: admin.headers, payload })
      const res = await create({ username: 'Zhang', email: 'Zhang@Example.com', password: 'a-secure-password', role: 'user', groups: [], profile: { firstName: '张', lastName: '三', department: '开发部' } })
      t.equal(res.statusCode, 201)
      const created = res.json().data
      t.same(created.profile, { firstName: '张', lastName: '三', department: '开发部' })
      t.notOk('password' in created || 'passwordHash' in created)
      t.equal((await create({ username: 'zhang', password: 'a-secure-password' })).statusCode, 409)
      const dupEmail = await create({ username: 'other', email: 'zhang@example.COM', password: 'a-secure-password' })
      t.equal(dupEmail.statusCode, 409)
      t.equal(dupEmail.json().error.details.field, 'email')
      for (const [payload, field] of [
        [{ username: 'x', password: 'short' }, 'password'],
        [{ username: 'bad name', password: 'a-secure-password' }, 'username'],
        [{ username: 'y', password: 'a-secure-password', email: 'not-an-email' }, 'email'],
        [{ username: 'y', password: 'a-secure-password', role: 'root' }, 'role'],
        [{ username: 'y', password: 'a-secure-password', isAdmin: true }, 'isAdmin'],
        [{ username: 'y', password: 'a-secure-password', groups: ['no-such-group'] }, 'groups']
      ] as Array<[object, string]>) {
        const bad = await create(payload)
        t.equal(bad.statusCode, 422, JSON.stringify(payload))
        t.equal(bad.json().error.details.field, field)
      }

      const list = await app.inject({ method: 'GET', url: '/api/users?search=zhang&sort=username', headers: admin.headers })
      t.equal(list.json().data.pagination.total, 1)
      t.equal((await app.inject({ method: 'GET', url: '/api/users?sort=passwordHash', headers: admin.headers })).statusCode, 422)

      const me = await signIn(app, 'zhang', 'a-secure-password')
      const mine = await app.inject({ method: 'GET', url: `/api/users/${created.id}`, headers: me.headers })
      t.equal(mine.statusCode, 200)
      t.equal((await app.inject({ method: 'GET', url: `/api/users/${admin.userId}`, headers: me.headers })).statusCode, 404, 'other users are invisible')
      t.equal((await app.inject({ method: 'PUT', url: `/api/users/${admin.userId}`, headers: me.headers, payload: { profile: {} } })).statusCode, 404)
      t.equal((await app.inject({ method: 'GET', url: '/api/users', headers: me.headers })).statusCode, 403)
      t.equal((await app.inject({ method: 'PUT', url: `/api/users/${created.id}`, headers: me.headers, payload: { role: 'admin' } })).statusCode, 403, 'no self-promotion')
      const profile = await app.inject({ method: 'PUT', url: `/api/users/${created.id}`, headers: me.headers, payload: { profile: { department: 'Platform' } } })
      t.equal(profile.statusCode, 200)
      t.same(profile.json().data.profile, { department: 'Platform' })

      const other = await signIn(app, 'zhang', 'a-secure-password')
      const noOld = await app.inject({ method: 'PUT', url: `/api/users/${created.id}`, headers: me.headers, payload: { password: 'a-newer-password' } })
      t.equal(noOld.statusCode, 422)
      t.equal(noOld.json().error.details.field, 'currentPassword')
      const changed = await app.inject({ method: 'PUT', url: `/api/users/${created.id}`, headers: me.headers, payload: { password: 'a-newer-password', currentPassword: 'a-secure-password' } })
      t.equal(changed.statusCode, 200)
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: me.headers })).statusCode, 200, 'this session goes on')
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: other.headers })).statusCode, 401, 'the other sessions end')
      await signIn(app, 'zhang', 'a-newer-password')

      const key = (await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: me.headers, payload: { name: 'k' } })).json().data.key
      t.equal((await app.inject({ method: 'DELETE', url: `/api/users/${created.id}`, headers: admin.headers })).statusCode, 204)
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: me.headers })).statusCode, 401, 'a deleted user\'s sessions end')
      t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': key } })).statusCode, 401, 'and keys are revoked')
      t.same(await app.db.select().from(sessions).where(eq(sessions.userId, created.id)), [])
      t.equal((await app.inject({ method: 'GET', url: `/api/users/${created.id}`, headers: admin.headers })).statusCode, 404)
    })

    t.test('the last admin can be neither deleted nor demoted', async (t) => {
      const self = await app.inject({ method: 'DELETE', url: `/api/users/${admin.userId}`, headers: admin.headers })
      t.equal(self.statusCode, 409)
      const demote = await app.inject({ method: 'PUT', url: `/api/users/${admin.userId}`, headers: admin.headers, payload: { role: 'user' } })
      t.equal(demote.statusCode, 409)
      const second = await createUser(app, admin, { role: 'admin' })
      const both = await Promise.all([
        app.inject({ method: 'PUT', url: `/api/users/${admin.userId}`, headers: admin.headers, payload: { role: 'user' } }),
        app.inject({ method: 'PUT', url: `/api/users/${second.userId}`, headers: admin.headers, payload: { role: 'user' } })
      ])
      t.same(both.map((res) => res.statusCode).sort(), [200, 409], 'concurrent demotions leave one admin')
      const admins = await app.db.select().from(users).where(eq(users.role, 'admin'))
      t.equal(admins.length, 1)
      const remaining = admins[0]!.id === admin.userId ? admin : second
      const other = remaining === admin ? second : admin
      await app.inject({ method: 'PUT', url: `/api/users/${other.userId}`, headers: remaining.headers, payload: { role: 'admin' } })
    })

    t.test('a non-admin is refused on every admin route (walking the route table)', async (t) => {
      const user = await createUser(app, admin)
      const adminRoutes = app.routeTable.filter((route) => route.access === 'admin')
      t.ok(adminRoutes.length >= 3)
      for (const route of adminRoutes) {
        const url = route.url.replace(/:(\w+)/g, '00000000-0000-4000-8000-000000000000')
        const res = await app.inject({ method: route.method as 'GET', url, headers: user.headers, payload: route.method === 'GET' ? undefined : {} })
        t.equal(res.statusCode, 403, `${route.method} ${route.url}`)
        t.equal(res.json().error.code, 'AUTHORIZATION_FAILED')
        const anonymous = await app.inject({ method: route.method as 'GET', url })
        t.equal(anonymous.statusCode, 401, `${route.method} ${route.url} anonymous`)
      }
      const protectedRoutes = app.routeTable.filter((route) => route.access !== undefined && route.access !== 'public')
      for (const route of protectedRoutes) {
        const url = route.url.replace(/:(\w+)/g, '00000000-0000-4000-8000-000000000000')
        t.equal((await app.inject({ method: route.method as 'GET', url })).statusCode, 401, `${route.method} ${route.url} needs credentials`)
      }
    })

    t.test('no password, token, key or TOTP secret in any log line', async (t) => {
      const all = logs.lines.join('\n')
      t.ok(logs.lines.length > 10)
      t.notOk(all.includes(TEST_ADMIN.password))
      t.notOk(all.includes(admin.token))
      t.notOk(all.includes(admin.refreshToken))
      t.notOk(/mcphub_[A-Za-z0-9]{12}_/.test(all), 'no API key')
      t.notOk(/password-of-|a-secure-password|a-newer-password/.test(all), 'no user password')
      t.notOk(/otpauth:|secret=/.test(all), 'no TOTP secret')
    })
  })
}
